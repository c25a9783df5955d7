"""The normalizer's classify() over a staging file read as the job reads it, on any Spark session.

Importable by a child interpreter (a classic session cannot start in a process that opened a
Spark Connect one), so it lives outside the test modules.
"""
from __future__ import annotations

from pathlib import Path

from spark_jobs import increments as inc
from spark_jobs import normalize as nz
from spark_jobs import staging as stg
from studentflow.core import config
from studentflow.core import reference


def classify_staged(spark, staged: Path, scratch: Path):
    """classify() over a staging file read as the job reads it, rows in line order."""
    s = config.load(env={})
    ref = reference.load_reference(s.majors_file, s.major_aliases_file)
    chunks = inc.materialize(inc.plan((staged,), {}, full_refresh=True), scratch)
    lines = stg.read_staging(spark, chunks).lines
    rows = nz.classify(lines, ref, age_min=s.age_min, age_max=s.age_max, run_id="sessions").rows
    return rows.sort_by([("source_file", "ascending"), ("line_number", "ascending")])
