"""The pipeline's staged-line count and Spark's lines_read come from one lister and agree.

Staging holds what the Connect sink writes plus what tools leave beside it (a hidden temp file,
a `_`-prefixed marker) and a half-written last line: the core's lister and counter
(studentflow.core.staging), which `run` uses for its balance, and Spark's read of the same
folder must see the same lines.
"""
from __future__ import annotations

import json

import pytest

from spark_jobs.job import run_normalize
from studentflow.core.staging import count_lines, staging_files

pytestmark = pytest.mark.slow


def _event(i: int) -> str:
    return json.dumps({"event_id": f"6f1c2a4e-8b1d-4c3e-9f00-{i:012d}", "student_id": f"s{i}", "first_name": "Alice",
                       "last_name": "Dupont", "age": 22, "major": "Informatique",
                       "emitted_at": "2026-11-27T10:00:00Z", "schema_version": 1})


def test_pipeline_count_equals_sparks_lines_read(settings, spark):
    staging = settings.staging_dir
    staging.mkdir(parents=True, exist_ok=True)
    (staging / "students.raw.txt").write_text("".join(_event(i) + "\n" for i in range(40)) + "hello kafka\n\n",
                                              encoding="utf-8")
    # a second file whose last line is still being written by the sink
    (staging / "students.raw.2.txt").write_text(_event(100) + "\n" + _event(101)[:30], encoding="utf-8")
    (staging / ".students.raw.txt.tmp").write_text(_event(200) + "\n", encoding="utf-8")   # a tool's temp file
    (staging / "_SUCCESS").write_text("marker\n", encoding="utf-8")                          # a marker

    files = staging_files(staging)
    assert [p.name for p in files] == ["students.raw.2.txt", "students.raw.txt"]
    counted = count_lines(files)
    assert counted == 43

    res = run_normalize(settings, spark=spark, progress=lambda _m: None)
    assert res.lines_read == counted
    assert res.lines_read == res.clean + res.quarantined + res.duplicates_removed + res.headers
