{#
  Generic test: every non-null value of column_name lies in [min_value, max_value] (inclusive).
  Either bound may be omitted. Usage (dbt 1.11 puts generic test arguments under `arguments:`):
    data_tests:
      - between:
          arguments:
            min_value: "{{ var('age_min') }}"
            max_value: "{{ var('age_max') }}"
#}
{% test between(model, column_name, min_value=none, max_value=none) %}

select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
  and (
    1 = 0
    {% if min_value is not none %} or {{ column_name }} < {{ min_value }} {% endif %}
    {% if max_value is not none %} or {{ column_name }} > {{ max_value }} {% endif %}
  )

{% endtest %}
