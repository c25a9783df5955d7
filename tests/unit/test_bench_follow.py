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
