{#
  Generic test: every non-null value is stored as an integer. SQLite is dynamically typed, so an
  INTEGER column can still hold text such as 'vingt' or a real such as 21.5.
#}
{% test is_integer_valued(model, column_name) %}

select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
  and typeof({{ column_name }}) <> 'integer'

{% endtest %}
