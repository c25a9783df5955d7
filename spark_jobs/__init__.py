"""spark_jobs stage."""
