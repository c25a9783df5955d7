{#-
  dbt-sqlite's incremental upsert, with one change: a composite unique_key ('major, age') is not
  wrapped in parentheses inside the sub-select. dbt-sqlite writes `select (major, age) from ...`,
  which SQLite refuses ("sub-select returns 1 columns - expected 2"). The project's macro of the
  same name takes precedence over the adapter's.
-#}
{% macro sqlite_incremental_upsert(tmp_relation, target_relation, unique_key=none, statement_name="main") %}
    {%- set dest_columns = adapter.get_columns_in_relation(target_relation) -%}
    {%- set dest_cols_csv = dest_columns | map(attribute='quoted') | join(', ') -%}

    {%- if unique_key is not none -%}
      {% call statement('sqlite_incremental_upsert') -%}
    delete
    from {{ target_relation }}
    where ({{ unique_key }}) in (
        select {{ unique_key }}
        from {{ tmp_relation }}
    );
      {%- endcall %}
    {%- endif %}

    insert into {{ target_relation }} ({{ dest_cols_csv }})
       select {{ dest_cols_csv }}
       from {{ tmp_relation }}
    ;
{%- endmacro %}
