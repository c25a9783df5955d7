"""An increment's rows landed batch by batch as Spark sends them (spark_jobs/incoming.py), on real
SQLite files written by the real ADBC driver, no Spark: the batches are made here, in any order."""
from __future__ import annotations

import sqlite3
from contextlib import closing

import pyarrow as pa
import pytest

from studentflow.core.contract import CLEAN_COLUMNS, CONFLICT_DETAIL
from studentflow.core.errors import DataError
from spark_jobs import incoming, staging
from spark_jobs import warehouse as wh
from spark_jobs.increments import Chunk

SCHEMA = pa.schema([("source_file", pa.string()), ("line_number", pa.int64()), ("raw_line", pa.string()),
                    ("verdict", pa.string()), ("rule", pa.string()), ("reason", pa.string()), ("detail", pa.string()),
                    ("event_id", pa.string()), ("student_id", pa.string()), ("first_name", pa.string()),
                    ("last_name", pa.string()), ("age", pa.int32()), ("major", pa.string()),
                    ("emitted_at", pa.string()), ("schema_version", pa.int32()), ("_sig", pa.int64()),
                    ("_idh", pa.int64())])


def row(file: str, line: int, event_id: str | None = None, sig: int = 0, verdict: str = "clean",
        reason: str | None = None) -> dict:
    clean = verdict == "clean"
    return {"source_file": file, "line_number": line, "raw_line": None if clean else f"raw {line}",
            "verdict": verdict, "rule": "json_strict" if clean else None, "reason": reason,
            "detail": None if clean else "why", "event_id": event_id, "student_id": f"S{sig}" if clean else None,
            "first_name": "Léa" if clean else None, "last_name": "Martin" if clean else None,
            "age": 20 + sig if clean else None, "major": "Physique" if clean else None,
            "emitted_at": None, "schema_version": 1 if clean else None,
            "_sig": sig if clean else None, "_idh": hash(event_id) % 1000 if clean else None}


def batch(rows: list[dict]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist(rows, schema=SCHEMA)


def landed(got: incoming.Received) -> list[tuple]:
    with closing(sqlite3.connect(got.path)) as conn:
        return conn.execute(f"SELECT source_file, line_number, event_id FROM {incoming.CLEAN_ROWS} ORDER BY rowid").fetchall()


def later(got: incoming.Received) -> dict[tuple, tuple]:
    """(file, line) -> (event_id, verdict, reason, detail, raw_line) of the landed later occurrences."""
    with closing(sqlite3.connect(got.path)) as conn:
        rows = conn.execute(f"SELECT source_file, line_number, event_id, verdict, reason, detail, raw_line "
                            f"FROM {incoming.LATER_ROWS}").fetchall()
    return {r[:2]: r[2:] for r in rows}


def test_batches_out_of_line_order_land_once_and_copy_back_in_line_order(tmp_path):
    # two tasks' results, the later chunk first (Spark sends bigger tasks first), one batch mixing two files
    second = batch([row("a.txt", 4, "id-4"), row("a.txt", 5, verdict="quarantine", reason="empty"),
                    row("a.txt", 6, "id-1", sig=1)])
    first = batch([row("a.txt", 1, "id-1", sig=1), row("a.txt", 2, "id-2"), row("a.txt", 3, "id-1", sig=9),
                   row("b.txt", 1, verdict="header"), row("b.txt", 2, "id-5")])
    got = incoming.receive([second, first], SCHEMA, CLEAN_COLUMNS, tmp_path, "r1")
    assert [(s.source_file, s.first_line, s.last_line, s.clean) for s in got.segments] == [
        ("a.txt", 4, 6, 2), ("a.txt", 1, 3, 3), ("b.txt", 1, 2, 1)]
    assert got.line_stats() == {"a.txt": (6, 1, 6, True), "b.txt": (2, 1, 2, True)}
    incoming.judge_duplicates(got)
    # id-1 first at a.txt:1; a.txt:3 has other content (a conflict), a.txt:6 the same (a duplicate)
    assert got.counts == {"clean": 4, "quarantine": 2, "duplicate": 1, "header": 1}
    assert got.by_rule == {"json_strict": 4}
    assert later(got) == {   # Spark's quarantine rows are in their own table
        ("a.txt", 6): ("id-1", "duplicate", None, None, None),
        ("a.txt", 3): ("id-1", "quarantine", "conflicting_duplicate",
                       CONFLICT_DETAIL.format(event_id="id-1", first_at="a.txt:1"), None)}
    assert got.reasons == {"empty": 1}
    with closing(sqlite3.connect(got.path)) as conn:
        assert conn.execute(f"SELECT * FROM {incoming.QUARANTINE_ROWS}").fetchall() == [
            ("raw 5", "empty", "why", "a.txt", 5, "r1")]
    assert sorted(landed(got)) == [("a.txt", 1, "id-1"), ("a.txt", 2, "id-2"), ("a.txt", 4, "id-4"),
                                   ("b.txt", 2, "id-5")]
    # rowid ranges in line order: the first task's a.txt rows (rowids 3..5, one deleted since), then
    # the second task's (1..2), then b.txt's (6)
    assert got.clean_ranges() == [(3, 6), (1, 3), (6, 7)]
    # the commit copies them into the warehouse in line order, the conflict's raw text fetched
    db = tmp_path / "w.db"
    wh.ensure_tables(db)
    with closing(wh.connect(db)) as conn:
        run_row = {"run_id": "r1", "started_at": "s", "finished_at": "f", "lines_read": 8, "staging_files": "a.txt",
                   "status": "ok", "mode": "full_refresh"}
        counts = wh.commit(conn, got, run_id="r1", lines_expected=8, run_row=run_row, marks=[], full_refresh=True,
                           updated_at="f", raw_lines=lambda wanted: {k: f"text {k[1]}" for k in wanted})
        assert counts["by_reason"] == {"empty": 1, "conflicting_duplicate": 1}
        assert conn.execute("SELECT source_file, line_number FROM clean_students ORDER BY rowid").fetchall() == [
            ("a.txt", 1), ("a.txt", 2), ("a.txt", 4), ("b.txt", 2)]
        assert conn.execute("SELECT line_number, raw_line FROM quarantine_students ORDER BY rowid").fetchall() == [
            (3, "text 3"), (5, "raw 5")]
    assert not got.path.parent.exists()


def test_the_line_check_sees_a_line_sent_twice_and_a_missing_one(tmp_path):
    chunks = [Chunk(tmp_path / "0" / "a.txt", "a.txt", 1, 3)]
    twice = incoming.receive([batch([row("a.txt", 1, "x"), row("a.txt", 2, "y")]),
                              batch([row("a.txt", 2, "y"), row("a.txt", 3, "z")])], SCHEMA, CLEAN_COLUMNS,
                             tmp_path, "r")
    assert twice.line_stats()["a.txt"] == (4, 1, 3, False)
    with pytest.raises(DataError, match="otherwise than the staged bytes hold"):
        staging.check_line_stats(twice.line_stats(), chunks)
    missing = incoming.receive([batch([row("a.txt", 1, "x"), row("a.txt", 3, "z")])], SCHEMA, CLEAN_COLUMNS,
                               tmp_path, "r")
    with pytest.raises(DataError):
        staging.check_line_stats(missing.line_stats(), chunks)
    whole = incoming.receive([batch([row("a.txt", n, f"i{n}") for n in (1, 2, 3)])], SCHEMA, CLEAN_COLUMNS,
                             tmp_path, "r")
    staging.check_line_stats(whole.line_stats(), chunks)   # no error


def test_no_clean_row_still_makes_the_tables_and_a_failure_leaves_no_landing_folder(tmp_path):
    got = incoming.receive([batch([row("a.txt", 1, verdict="quarantine", reason="empty")])], SCHEMA,
                           CLEAN_COLUMNS, tmp_path / "a", "r")
    incoming.judge_duplicates(got)
    assert landed(got) == [] and got.counts == {"quarantine": 1} and got.clean_ranges() == []
    assert later(got) == {} and got.reasons == {"empty": 1}

    def broken():
        yield batch([row("a.txt", 1, "x")])
        raise RuntimeError("the server went away")

    with pytest.raises(RuntimeError):
        incoming.receive(broken(), SCHEMA, CLEAN_COLUMNS, tmp_path / "b", "r")
    assert list((tmp_path / "b").iterdir()) == []


def commit(db, got, run_id: str, lines: int, *, full_refresh: bool, asked: list | None = None) -> dict:
    def raw_lines(wanted):
        (asked if asked is not None else []).append(wanted)
        return {k: f"text {k[0]}:{k[1]}" for k in wanted}

    with closing(wh.connect(db)) as conn:
        run_row = {"run_id": run_id, "started_at": "s", "finished_at": "f", "lines_read": lines,
                   "staging_files": "x", "status": "ok", "mode": "x"}
        return wh.commit(conn, got, run_id=run_id, lines_expected=lines, run_row=run_row, marks=[],
                         full_refresh=full_refresh, updated_at="f", raw_lines=raw_lines)


def test_later_occurrences_whose_first_is_in_the_warehouse_are_judged_against_it(tmp_path, monkeypatch):
    db = tmp_path / "w.db"
    wh.ensure_tables(db)
    first = incoming.receive([batch([row("a.txt", 1, "id-1", sig=1), row("a.txt", 2, "id-2", sig=2)])], SCHEMA,
                             CLEAN_COLUMNS, tmp_path, "r1")
    incoming.judge_duplicates(first)
    commit(db, first, "r1", 2, full_refresh=True)
    # within the increment: b:2 repeats b:1, b:4 conflicts with b:3, b:5 with b:1, b:7 with b:6;
    # against the warehouse, b:1 and b:2 repeat a:1, b:4 repeats a:2, b:3 and b:5 conflict with it
    got = incoming.receive([batch([row("b.txt", 1, "id-1", sig=1), row("b.txt", 2, "id-1", sig=1),
                                   row("b.txt", 3, "id-2", sig=7), row("b.txt", 4, "id-2", sig=2),
                                   row("b.txt", 5, "id-1", sig=9), row("b.txt", 6, "id-3", sig=3),
                                   row("b.txt", 7, "id-3", sig=4)])], SCHEMA, CLEAN_COLUMNS, tmp_path, "r2")
    incoming.judge_duplicates(got)
    assert got.counts == {"clean": 3, "duplicate": 1, "quarantine": 3}   # before the warehouse has its say
    monkeypatch.setattr(wh, "RAW_BATCH", 2)   # the conflicts' raw text asked for in batches, in line order
    asked: list = []
    counts = commit(db, got, "r2", 7, full_refresh=False, asked=asked)
    assert asked == [[("b.txt", 3), ("b.txt", 5)], [("b.txt", 7)]]
    assert {k: counts.get(k) for k in ("clean", "duplicate", "quarantine")} == {
        "clean": 1, "duplicate": 3, "quarantine": 3}
    assert counts["by_reason"] == {"conflicting_duplicate": 3} and counts["by_rule"] == {"json_strict": 1}
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT source_file, line_number, event_id FROM clean_students ORDER BY rowid").fetchall() \
            == [("a.txt", 1, "id-1"), ("a.txt", 2, "id-2"), ("b.txt", 6, "id-3")]
        assert conn.execute("SELECT raw_line, reason, detail, line_number, run_id FROM quarantine_students "
                            "ORDER BY rowid").fetchall() == [
            ("text b.txt:3", "conflicting_duplicate", CONFLICT_DETAIL.format(event_id="id-2", first_at="a.txt:2"), 3,
             "r2"),
            ("text b.txt:5", "conflicting_duplicate", CONFLICT_DETAIL.format(event_id="id-1", first_at="a.txt:1"), 5,
             "r2"),
            ("text b.txt:7", "conflicting_duplicate", CONFLICT_DETAIL.format(event_id="id-3", first_at="b.txt:6"), 7,
             "r2")]
        assert conn.execute("SELECT clean_count, quarantined_count, duplicates_removed FROM pipeline_runs "
                            "WHERE run_id = 'r2'").fetchone() == (1, 3, 3)
