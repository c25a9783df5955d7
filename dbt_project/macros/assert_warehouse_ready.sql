{#
  on-run-start guard. dbt-sqlite opens the warehouse with sqlite3.connect, which silently creates
  an EMPTY file when the path is wrong (a relative STUDENTFLOW_WAREHOUSE resolved against another
  directory, or the Spark stage has not run yet). Fail early with a message that says what to do
  instead of a bare "no such table" halfway through the build.
#}
{% macro assert_warehouse_ready() %}
  {% if execute %}
    {% set found = run_query(
        "select count(*) from sqlite_master where type = 'table' and name = 'clean_students'"
    ).columns[0].values()[0] %}
    {% if found == 0 %}
      {% set path = run_query("select file from pragma_database_list where name = 'main'").columns[0].values()[0] %}
      {{ exceptions.raise_compiler_error(
          "the warehouse " ~ path
          ~ " has no clean_students table: run `studentflow normalize` (or `make run`) first, or point "
          ~ "STUDENTFLOW_WAREHOUSE at the warehouse (a relative path is relative to the repository root)"
      ) }}
    {% endif %}
  {% endif %}
{% endmacro %}
