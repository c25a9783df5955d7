"""The continuous mode's freshness figures: per increment from the warehouse, run-wide from a
histogram merged across increments (pure functions, a real SQLite file)."""
from __future__ import annotations

import random
import sqlite3
from collections import Counter
from contextlib import closing
from datetime import datetime, timedelta, timezone

import pytest

from studentflow.pipeline.live import freshness, histogram_quantile


def _exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_histogram_quantile_is_the_exact_quantile_to_a_tenth(seed):
    rng = random.Random(seed)
    delays = [rng.expovariate(0.4) for _ in range(5000)]
    tenths = Counter(int(-(-d * 10 // 1)) for d in delays)   # rounded up to 0.1 s
    for q in (0.0, 0.5, 0.95, 1.0):
        exact = _exact(delays, q)
        assert exact <= histogram_quantile(tenths, q) < exact + 0.1 + 1e-9


def test_histogram_quantile_refuses_an_empty_histogram():
    with pytest.raises(ValueError):
        histogram_quantile(Counter(), 0.5)


def test_freshness_of_an_increment_from_its_rows(tmp_path):
    db = tmp_path / "w.db"
    now = datetime(2026, 11, 30, 12, 0, 0, tzinfo=timezone.utc)
    delays = [0.5, 1.0, 2.25, 4.0]
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("CREATE TABLE clean_students (emitted_at TEXT, run_id TEXT)")
        conn.executemany("INSERT INTO clean_students VALUES (?, ?)",
                         [((now - timedelta(seconds=d)).isoformat().replace("+00:00", "Z"), "r1") for d in delays]
                         + [(None, "r1"), ("not a time", "r1"), (now.isoformat(), "r2")])
    f = freshness(db, "r1", now)
    assert (f.rows, f.p50, f.max) == (4, 2.25, 4.0)     # the row without a time and the bad one are skipped
    assert f.tenths == Counter({5: 1, 10: 1, 23: 1, 40: 1})
    assert freshness(db, "r3", now) is None
