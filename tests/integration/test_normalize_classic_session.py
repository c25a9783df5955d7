"""The transform on a classic (in-process) session gives the rows it gives on Spark Connect.

normalize.py builds its Column expressions on every call and holds nothing tied to one kind of
session, so a pure-transform test may still run it on a classic session. The corpus goes through
the real read edge (staging file, chunks) and holds every kind of the producer's table, the
hostile ones included (but the 10 MB line). A classic SparkContext cannot start in a process that
opened a Connect session, so the classic side runs in a child process.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from studentflow.core import config
from producer import generate
from tests.support.classify import classify_staged

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PER_KIND = 3
_CHILD = """
import sys
from pathlib import Path
import pyarrow as pa
from pyspark.sql import SparkSession
from pyspark.sql.utils import is_remote
from tests.support.classify import classify_staged
staged, scratch, out = (Path(a) for a in sys.argv[1:4])
spark = (SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false")
         .config("spark.sql.session.timeZone", "UTC").getOrCreate())
try:
    assert not is_remote()
    rows = classify_staged(spark, staged, scratch)
finally:
    spark.stop()
with pa.OSFile(str(out), "wb") as fh, pa.ipc.new_file(fh, rows.schema) as w:
    w.write_table(rows)
"""


def _corpus(path: Path) -> list[str]:
    """PER_KIND messages of every kind, written as staged lines; their kinds. No huge_line: its
    10 MB cost a cold classic JVM 7 s and take the json_loose path wide_json already takes."""
    s = config.load(env={})
    g = generate.Generator(seed=11, age_min=s.age_min, age_max=s.age_max)
    kinds, values = [], []
    for kind in ["valid", *(k for k in generate.ALL_EXPECTED if k != "huge_line")]:
        for _ in range(PER_KIND):
            value = g.message(kind)[2]
            kinds.append(kind)
            values.append(value if isinstance(value, bytes) else value.encode("utf-8"))
    assert not any(b"\n" in v for v in values)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(v + b"\n" for v in values))
    # a line whose event id comes from its text is a duplicate when the same text came before
    seen: set[bytes] = set()
    for i, (kind, value) in enumerate(zip(kinds, values)):
        if kind in ("csv_like", "age_key_value", "missing_event_id") and value in seen:
            kinds[i] = "duplicate"
        seen.add(value)
    return kinds


def test_classic_and_connect_sessions_give_the_same_rows(spark, tmp_path):
    import pyarrow as pa

    staged = tmp_path / "staging" / "students.raw.txt"
    kinds = _corpus(staged)
    env = {k: v for k, v in os.environ.items()
           if k not in ("SPARK_CONNECT_MODE_ENABLED", "SPARK_REMOTE", "SPARK_LOCAL_REMOTE", "SPARK_API_MODE")}
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    out = tmp_path / "classic.arrow"
    child = subprocess.run([sys.executable, "-c", _CHILD, str(staged), str(tmp_path / "classic-scratch"), str(out)],
                           cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert child.returncode == 0, child.stderr[-3000:]
    with pa.OSFile(str(out), "rb") as fh:
        classic = pa.ipc.open_file(fh).read_all()

    connect = classify_staged(spark, staged, tmp_path / "connect-scratch")
    assert classic.schema.equals(connect.schema), (classic.schema, connect.schema)
    assert classic.num_rows == connect.num_rows == len(kinds)
    differ = [(a["line_number"], kinds[a["line_number"] - 1]) for a, b in
              zip(classic.to_pylist(), connect.to_pylist()) if a != b]
    assert not differ, f"rows that differ between the sessions (line, kind): {differ}"

    wrong = Counter()
    for r in connect.select(["line_number", "verdict", "rule", "reason"]).to_pylist():
        kind = kinds[r["line_number"] - 1]
        actual = (r["verdict"], None if r["verdict"] == "duplicate" else
                  r["rule"] if r["verdict"] == "clean" else r["reason"])
        if actual != generate.ALL_EXPECTED[kind]:
            wrong[(kind, actual)] += 1
    assert not wrong, dict(wrong)
