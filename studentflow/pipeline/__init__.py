"""`studentflow run` and `run --follow`: the pipeline as steps, composed by each mode.

produce -> Kafka topic -> Connect file sink -> staging file(s) -> Spark normalize ->
clean_students + quarantine_students -> dbt marts -> Great Expectations gate -> report.

Staging is the landing zone and accumulates across runs (like a data lake folder); normalize
reads it in increments (per-file watermarks), deduplicated by event_id against the warehouse.
Each run checks two balances: this run's acknowledged events all reached staging (extra lines
are the sink's at-least-once duplicates), and every line normalized is clean, quarantined, a
removed duplicate or a CSV header.

* step.py: the step interface and the run context the steps share; ingest.py (stack, produce,
  sink, normalize) and derive.py (transform, validate, report): the steps;
* run.py: `run` (:class:`Pipeline`); follow.py: `run --follow`; quality_worker.py: the
  gate/report process of `run --follow`, running the validate and report steps per increment;
* warm.py: the warm engines (Spark session, background normalizer, dbt in-process);
  balance.py: why acknowledged events did not reach staging.
"""
from studentflow.pipeline.run import Pipeline
from studentflow.pipeline.summary import RunOptions, RunSummary, StageTime, staged_lines

__all__ = ["Pipeline", "RunOptions", "RunSummary", "StageTime", "staged_lines"]
