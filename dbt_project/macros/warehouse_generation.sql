{#-
  Which generation of clean_students the warehouse holds: the pipeline_runs rowid of the last
  full refresh (0 before any). Between two full refreshes clean_students only grows (an increment
  appends its rows; a full refresh empties the table first and records a run with mode
  'full_refresh' in the same transaction), so rows counted under one generation stay counted.
-#}
{% macro warehouse_generation() -%}
    (select coalesce(max(rowid), 0)
     from {{ source('warehouse', 'pipeline_runs') }}
     where mode = 'full_refresh')
{%- endmacro %}

{#-
  int_major_age_counts' pre-hook: forget the counts made under another generation (the build then
  counts every row again). A table built before the counts were incremental gets the two columns
  first; its rows, without a generation, are forgotten too.
-#}
{% macro forget_counts_of_another_generation() -%}
    {%- if is_incremental() -%}
        {%- set columns = counts_columns() -%}
        {%- for column in ['counted_through', 'generation'] if column not in columns -%}
            {%- do run_query('alter table ' ~ this ~ ' add column ' ~ column ~ ' integer') -%}
        {%- endfor -%}
        delete from {{ this }} where generation is not {{ warehouse_generation() }}
    {%- endif -%}
{%- endmacro %}

{#-
  True when int_major_age_counts holds counts of the current generation, so a build reads only
  the rows past them. Only a choice of query plan (the rows past the counts: a rowid range; every
  row: the covering (major, age) index, ten times faster than the range over all of them): the
  counts' SQL reads the watermark again when it runs, after the pre-hook.
-#}
{% macro counts_are_current() -%}
    {%- if not (execute and is_incremental()) -%}
        {{ return(false) }}
    {%- endif -%}
    {%- if 'generation' not in counts_columns() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set current = run_query('select count(*) from ' ~ this ~ ' where generation = ' ~ warehouse_generation()) -%}
    {{ return(current.columns[0].values()[0] > 0) }}
{%- endmacro %}

{#- The column names of the model being built (int_major_age_counts as it stands in the warehouse). -#}
{% macro counts_columns() -%}
    {{ return(adapter.get_columns_in_relation(this) | map(attribute='name') | list) }}
{%- endmacro %}
