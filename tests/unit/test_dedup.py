"""The dedup step alone (pure Arrow, no Spark): first occurrence (file, line) of an event_id wins."""
from __future__ import annotations

import zlib

import pyarrow as pa

from studentflow.core.contract import CONFLICT_DETAIL
from spark_jobs.dedup import dedup

COLUMNS = ("source_file", "line_number", "verdict", "reason", "detail", "event_id", "_sig", "_idh")


def id_hash(event_id: str | None) -> int | None:
    return None if event_id is None else zlib.crc32(event_id.encode())   # any 64-bit hash will do


def table(rows: list[tuple], idh=id_hash) -> pa.Table:
    cols = list(zip(*(r + (idh(r[5]),) for r in rows)))
    types = (pa.string(), pa.int64(), pa.string(), pa.string(), pa.string(), pa.string(), pa.int64(), pa.int64())
    return pa.table({n: pa.array(c, t) for n, c, t in zip(COLUMNS, cols, types)})


def test_later_occurrences_are_duplicates_or_conflicts_whatever_the_input_order():
    rows = [
        ("b.txt", 1, "clean", None, None, "id-1", 10),        # later file: not the first occurrence
        ("a.txt", 9, "clean", None, None, "id-1", 10),        # first occurrence of id-1
        ("a.txt", 10, "clean", None, None, "id-1", 11),       # other content: conflict
        ("a.txt", 2, "clean", None, None, "id-2", 20),
        ("a.txt", 3, "quarantine", "empty", "empty line", None, None),
        ("a.txt", 4, "clean", None, None, "id-3", 30),
        ("a.txt", 11, "header", None, None, None, None),
    ]
    out = dedup(table(rows)).to_pylist()
    assert [(r["source_file"], r["line_number"]) for r in out] == [
        ("a.txt", 2), ("a.txt", 3), ("a.txt", 4), ("a.txt", 9), ("a.txt", 10), ("a.txt", 11), ("b.txt", 1)]
    got = {(r["source_file"], r["line_number"]): (r["verdict"], r["reason"], r["detail"]) for r in out}
    assert got[("a.txt", 9)] == ("clean", None, None)
    assert got[("b.txt", 1)] == ("duplicate", None, None)
    assert got[("a.txt", 10)] == ("quarantine", "conflicting_duplicate",
                                  CONFLICT_DETAIL.format(event_id="id-1", first_at="a.txt:9"))
    assert got[("a.txt", 3)] == ("quarantine", "empty", "empty line")        # untouched
    assert got[("a.txt", 2)][0] == got[("a.txt", 4)][0] == "clean"
    assert got[("a.txt", 11)][0] == "header"


def test_a_quarantined_row_never_wins_nor_loses():
    # a quarantine row carries no id: it neither shadows a clean row nor is judged a duplicate
    rows = [("a.txt", 1, "quarantine", "unknown_major", "major=Art", None, None),
            ("a.txt", 2, "clean", None, None, "id-1", 1),
            ("a.txt", 3, "clean", None, None, "id-1", 1)]
    out = dedup(table(rows)).to_pylist()
    assert [r["verdict"] for r in out] == ["quarantine", "clean", "duplicate"]


def test_no_duplicate_leaves_the_rows_as_they_were_in_line_order():
    rows = [("a.txt", 2, "clean", None, None, "id-2", 2), ("a.txt", 1, "clean", None, None, "id-1", 1)]
    out = dedup(table(rows))
    assert out["line_number"].to_pylist() == [1, 2] and out["verdict"].to_pylist() == ["clean", "clean"]


def test_ids_that_only_share_a_hash_are_not_duplicates():
    rows = [("a.txt", 1, "clean", None, None, "id-1", 1), ("a.txt", 2, "clean", None, None, "id-2", 1),
            ("a.txt", 3, "clean", None, None, "id-1", 1)]
    out = dedup(table(rows, idh=lambda _id: None if _id is None else 7))   # every id collides
    assert out["verdict"].to_pylist() == ["clean", "clean", "duplicate"]


def test_content_hashes_are_compared_exactly():
    # two 64-bit hashes a float64 cannot tell apart: other content, so a conflict
    big = 2 ** 62
    rows = [("a.txt", 1, "clean", None, None, "id-1", big), ("a.txt", 2, "clean", None, None, "id-1", big + 1),
            ("a.txt", 3, "quarantine", "empty", "empty line", None, None)]
    assert dedup(table(rows))["reason"].to_pylist() == [None, "conflicting_duplicate", "empty"]
