{#
  Source freshness on SQLite. dbt's default collect_freshness hands back max(loaded_at_field) as
  the text SQLite stores (ISO-8601 strings here), and dbt refuses text where it expects a
  timestamp ("Expected a timestamp value ..."). This override parses both values with Python's
  datetime.fromisoformat (a trailing Z is read as UTC; a value without offset is UTC).
#}
{% macro sqlite__collect_freshness(source, loaded_at_field, filter) %}
  {% call statement('collect_freshness', fetch_result=True, auto_begin=False) -%}
    select
      max({{ loaded_at_field }}) as max_loaded_at,
      strftime('%Y-%m-%dT%H:%M:%S', 'now') as snapshotted_at
    from {{ source }}
    {% if filter %}
    where {{ filter }}
    {% endif %}
  {%- endcall %}
  {% set result = load_result('collect_freshness') %}
  {% set parsed = [] %}
  {% for value in result.table[0] %}
    {% do parsed.append(none if value is none else modules.datetime.datetime.fromisoformat(value | replace('Z', '+00:00'))) %}
  {% endfor %}
  {{ return(namespace(response=result.response, table=[parsed])) }}
{% endmacro %}
