"""The transform stage: dbt run in-process on the warehouse (runner), its results as JUnit
(junit) and the `studentflow transform` command (cli)."""
