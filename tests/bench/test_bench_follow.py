"""The continuous-mode benchmark's own logic: picking samples, counting staged lines."""
from __future__ import annotations

from bench.follow import _at, datetime_of, staged_lines


def test_at_picks_the_first_sample_at_or_after_a_time_else_the_last():
    samples = [(0.0, {"python": 1.0}), (5.0, {"python": 2.0}), (10.0, {"python": 3.0})]
    assert _at(samples, 4.0) == samples[1]
    assert _at(samples, 5.0) == samples[1]
    assert _at(samples, 60.0) == samples[2]


def test_staged_lines_counts_newlines_of_every_visible_file(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"1\n2\n3\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_bytes(b"x\n" * 1000 + b"partial")   # a half-written last line is not one
    (tmp_path / ".offsets").write_bytes(b"not\nstaging\n")
    assert staged_lines(tmp_path) == 1003


def test_datetime_of_reads_the_warehouse_timestamps():
    assert datetime_of("2026-11-30T04:19:31.123Z").utcoffset().total_seconds() == 0


def test_per_minute_splits_increments_cpu_and_events_by_minute():
    from datetime import datetime, timezone
    from types import SimpleNamespace

    from bench.follow import minute_table, per_minute

    t0 = 1_800_000_000.0   # the sampler's start, as a UTC timestamp
    iso = lambda s: datetime.fromtimestamp(t0 + s, timezone.utc).isoformat()  # noqa: E731  (as follow writes it)
    phases = [(iso(10), 100, 1.0, 0.5, 0.3, 0.2, 2.0), (iso(20), 300, 3.0, 0.5, 0.3, 0.2, 4.0),
              (iso(70), 500, 2.0, 1.0, 0.4, 0.4, 9.0)]
    sent = [(30.0, 1000), (59.0, 2500), (90.0, 4000), (119.0, 5500)]
    cpu = [(30.0, {"python": 10.0, "broker": 1.0}), (59.0, {"python": 20.0, "broker": 2.0}),
           (119.0, {"python": 50.0, "broker": 8.0})]
    samples = [(59.0, {"python": 500.0, "python_anon": 300.0}), (119.0, {"python": 520.0, "python_anon": 310.0})]
    rows = per_minute(phases, sent, SimpleNamespace(cpu=cpu, samples=samples), t0)
    assert [r["events_sent"] for r in rows] == [2500, 3000]
    assert [r["increments"] for r in rows] == [2, 1]
    assert rows[0]["lines_median"] == 200 and rows[0]["normalize_s_median"] == 2.0 and rows[0]["worst_p95_s"] == 4.0
    assert rows[0]["cpu_s"] == {"python": 20.0, "broker": 2.0} and rows[1]["cpu_s"] == {"python": 30.0, "broker": 6.0}
    assert rows[1]["rss_mb"] == {"python": 520, "python_anon": 310}
    table = minute_table(rows)
    assert table.count("\n") == 3 and "| 2 | 3,000 | 1 | 500 | 2 / 1 / 0.4 / 0.4 | 9 |" in table


def test_median_growth_compares_the_medians_of_the_minute_after_warm_up_and_of_the_last_minute():
    from bench.follow import ROLES, median_growth

    def sample(t, python):
        return (t, {**{r: 100.0 for r in ROLES}, "python": python})
    # minute 1-2: 100, 300 (a spike), 110 -> median 110; the last minute: 120, 500, 121 -> 121
    samples = [sample(50, 999), sample(60, 100), sample(80, 300), sample(100, 110),
               sample(200, 120), sample(220, 500), sample(240, 121)]
    got = median_growth(samples, warm=60)
    assert got["python"] == {"from_mb": 110, "to_mb": 121, "pct": 10.0}
    assert got["broker"]["pct"] == 0.0
    assert median_growth([], 60) == {}
