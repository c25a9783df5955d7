"""Write edge: the SQLite warehouse (tables in warehouse.sql, created before any write).

An increment lands in two moves:

1. its classified rows (clean, quarantine and duplicate verdicts) go into a scratch table,
   either from the driver (``python`` writer: Arrow -> ``sqlite3.executemany`` into a TEMP
   table of the committing connection) or from Spark (``jdbc`` writer: Debian's sqlite-jdbc, one
   writer, into a real scratch table; Spark 4.2+ cannot create SQLite tables over JDBC, so it is
   created here first);
2. ONE transaction (:func:`commit`) then judges the scratch rows against what the warehouse
   already holds (an event_id already in ``clean_students`` is a duplicate, or a
   ``conflicting_duplicate`` when its content differs), checks that the rows add up to the lines
   counted from the staged bytes, appends clean and quarantine rows in (file, line) order,
   moves the staging watermarks and adds the ``pipeline_runs`` row. A crash at any point before
   COMMIT leaves the warehouse as it was; after it, everything is there.

A full refresh is the same transaction, starting by emptying the rows and the watermarks.
"""
from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from core.errors import DataError

from spark_jobs.contract import CONFLICT_DETAIL, CONTENT_COLUMNS
from spark_jobs.increments import Watermark

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

SCHEMA_FILE = Path(__file__).with_name("warehouse.sql")
CLEAN, QUARANTINE, RUNS, MARKS = "clean_students", "quarantine_students", "pipeline_runs", "staging_watermarks"
SCRATCH = "normalize_incoming"
RUN_COLUMNS = ("run_id", "started_at", "finished_at", "lines_read", "clean_count", "quarantined_count",
               "duplicates_removed", "headers_skipped", "staging_files", "status", "mode")
# The scratch table: one row per line of the increment, whatever its verdict.
INCOMING_COLUMNS = ("verdict", "rule", "reason", "detail", "raw_line", "source_file", "line_number", "event_id",
                    "student_id", "first_name", "last_name", "age", "major", "emitted_at", "schema_version",
                    "run_id")
# columns added since the first release: a warehouse written by an older version gets them
_ADDED = {CLEAN: (("source_file", "TEXT"), ("line_number", "INTEGER")),
          RUNS: (("mode", "TEXT"), ("headers_skipped", "INTEGER"))}


def connect(db: Path) -> sqlite3.Connection:
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(db), isolation_level=None, timeout=30)
        # A big page cache keeps the event_id index's B-tree in memory while a million random
        # UUIDs go in (the 2 MB default turns that into disk reads); scratch rows stay in memory.
        conn.execute("PRAGMA cache_size = -262144")
        conn.execute("PRAGMA temp_store = MEMORY")
    except (OSError, sqlite3.Error) as exc:
        raise DataError(f"cannot open the warehouse {db}: {exc}",
                        "check STUDENTFLOW_WAREHOUSE and the folder's permissions") from None
    return conn


def table_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]


def ensure_tables(db: Path) -> None:
    """Create the tables if missing, add columns a warehouse of an older version lacks (idempotent)."""
    with closing(connect(db)) as conn:
        for table, cols in _ADDED.items():
            have = table_columns(conn, table)
            for name, kind in cols:
                if have and name not in have:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
        conn.executescript(SCHEMA_FILE.read_text(encoding="utf-8"))
        conn.execute(f"DROP TABLE IF EXISTS {SCRATCH}")   # a JDBC scratch table left by a killed run


def read_watermarks(db: Path) -> dict[str, Watermark]:
    if not db.exists():
        return {}
    with closing(connect(db)) as conn:
        if MARKS not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}:
            return {}
        rows = conn.execute(f"SELECT source_file, lines, bytes, head_sha256, tail_sha256 FROM {MARKS}").fetchall()
    return {r[0]: Watermark(*r) for r in rows}


def _insert_sql(table: str, columns: Sequence[str], verb: str = "INSERT") -> str:
    return f"{verb} INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"


def fill_python(conn: sqlite3.Connection, table: Any) -> str:
    """The increment's rows from a pyarrow Table (INCOMING_COLUMNS) into a TEMP scratch table."""
    conn.execute(f"DROP TABLE IF EXISTS temp.{SCRATCH}")
    conn.execute(f"CREATE TEMP TABLE {SCRATCH} AS SELECT * FROM {_incoming_shape()} WHERE 0")
    table = table.sort_by([("source_file", "ascending"), ("line_number", "ascending")])   # commit keeps rowid order
    sql = _insert_sql(f"temp.{SCRATCH}", INCOMING_COLUMNS)
    for batch in table.select(list(INCOMING_COLUMNS)).to_batches(max_chunksize=50_000):
        # Python objects for one batch at a time: a million rows as lists would cost GBs
        conn.executemany(sql, zip(*(col.to_pylist() for col in batch.columns)))
    return f"temp.{SCRATCH}"


def _incoming_shape() -> str:
    """A zero-row SELECT with the scratch table's columns and SQLite types."""
    types = {"line_number": "INTEGER", "age": "INTEGER", "schema_version": "INTEGER"}
    cols = ", ".join(f"CAST(NULL AS {types.get(c, 'TEXT')}) AS {c}" for c in INCOMING_COLUMNS)
    return f"(SELECT {cols})"


def fill_jdbc(db: Path, rows: "DataFrame") -> str:
    """The increment's rows written by Spark over JDBC (one writer) into a real scratch table."""
    with closing(connect(db)) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {SCRATCH}")
        conn.execute(f"CREATE TABLE {SCRATCH} AS SELECT * FROM {_incoming_shape()} WHERE 0")
    props = {"driver": "org.sqlite.JDBC", "batchsize": "50000", "isolationLevel": "SERIALIZABLE",
             "numPartitions": "1"}
    rows.sortWithinPartitions("source_file", "line_number").write.jdbc(f"jdbc:sqlite:{db}", SCRATCH, mode="append", properties=props)
    return f"main.{SCRATCH}"


def _judge_against_warehouse(conn: sqlite3.Connection, scratch: str) -> None:
    """Rows of the increment whose event_id is already clean in the warehouse: a duplicate when the
    content is the same, else a conflicting_duplicate naming where the first one was staged."""
    same = " AND ".join(f"c.{col} IS i.{col}" for col in CONTENT_COLUMNS)
    detail = CONFLICT_DETAIL.format(event_id="' || i.event_id || '", first_at="' || c.source_file || ':' || "
                                    "c.line_number || '")
    conn.execute(f"""
        UPDATE {scratch} AS i SET
            verdict = CASE WHEN {same} THEN 'duplicate' ELSE 'quarantine' END,
            reason  = CASE WHEN {same} THEN NULL ELSE 'conflicting_duplicate' END,
            detail  = CASE WHEN {same} THEN NULL ELSE '{detail}' END
        FROM {CLEAN} AS c   -- event_id is unique there (deduplicated) and indexed: one lookup per row
        WHERE c.event_id = i.event_id AND i.event_id IS NOT NULL
          AND (i.verdict IN ('clean', 'duplicate') OR i.reason = 'conflicting_duplicate')""")


def commit(conn: sqlite3.Connection, scratch: str, *, lines_expected: int, run_row: dict[str, Any],
           marks: Iterable[Watermark], full_refresh: bool, updated_at: str,
           raw_lines: Callable[[list[tuple[str, int]]], dict[tuple[str, int], str]] | None = None) -> dict[str, Any]:
    """Judge, check, append, move the watermarks, record the run: one transaction. Returns the
    verdict counts (plus ``by_rule`` and ``by_reason`` dicts, from this increment's rows only).
    Raises DataError (and rolls back) when the rows do not add up."""
    conn.execute("PRAGMA synchronous=NORMAL")
    try:
        conn.execute("BEGIN IMMEDIATE")
        if full_refresh:
            for table in (CLEAN, QUARANTINE, MARKS):
                conn.execute(f"DELETE FROM {table}")
            conn.execute(f"DROP INDEX IF EXISTS {CLEAN}_event_id")   # built once after the rows: faster
        else:
            _judge_against_warehouse(conn, scratch)
            # rows that only now turned out to conflict travelled without their raw text: fetch it
            missing = conn.execute(f"SELECT source_file, line_number FROM {scratch} "
                                   "WHERE verdict = 'quarantine' AND raw_line IS NULL").fetchall()
            if missing and raw_lines is not None:
                found = raw_lines(missing)
                conn.executemany(f"UPDATE {scratch} SET raw_line = ? WHERE source_file = ? AND line_number = ?",
                                 [(found[(f, n)], f, n) for f, n in missing])
        counts = dict(conn.execute(f"SELECT verdict, count(*) FROM {scratch} GROUP BY verdict").fetchall())
        counts["by_rule"] = dict(conn.execute(f"SELECT rule, count(*) FROM {scratch} WHERE verdict = 'clean' "
                                              "GROUP BY rule").fetchall())
        counts["by_reason"] = dict(conn.execute(f"SELECT reason, count(*) FROM {scratch} "
                                                "WHERE verdict = 'quarantine' GROUP BY reason").fetchall())
        check_conservation(lines_expected, counts.get("clean", 0), counts.get("quarantine", 0),
                           counts.get("duplicate", 0), counts.get("header", 0))
        for table in (CLEAN, QUARANTINE):
            cols = ", ".join(table_columns(conn, table))
            verdict = "clean" if table == CLEAN else "quarantine"
            conn.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {scratch} "
                         f"WHERE verdict = '{verdict}' ORDER BY rowid")   # filled in (file, line) order
        conn.execute(f"CREATE INDEX IF NOT EXISTS {CLEAN}_event_id ON {CLEAN} (event_id)")
        for m in marks:
            conn.execute(_insert_sql(MARKS, (*asdict(m), "run_id", "updated_at"), "INSERT OR REPLACE"),
                         (*asdict(m).values(), run_row["run_id"], updated_at))
        row = {**run_row, "clean_count": counts.get("clean", 0), "quarantined_count": counts.get("quarantine", 0),
               "duplicates_removed": counts.get("duplicate", 0), "headers_skipped": counts.get("header", 0)}
        conn.execute(_insert_sql(RUNS, RUN_COLUMNS), [row[c] for c in RUN_COLUMNS])
        conn.execute(f"DROP TABLE {scratch}")
        conn.execute("COMMIT")
        return counts
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def check_conservation(lines_read: int, clean: int, quarantined: int, duplicates: int, headers: int = 0) -> None:
    total = clean + quarantined + duplicates + headers
    if lines_read != total:
        extra = f" + headers {headers:,}" if headers else ""
        raise DataError(
            f"conservation check failed: read {lines_read:,} lines but clean {clean:,} + quarantined "
            f"{quarantined:,} + duplicates {duplicates:,}{extra} = {total:,}; nothing was written",
            "make sure nothing rewrites the staging files during the run (`studentflow connect lag --wait` "
            "appends only), re-run; if it persists it is a normalizer bug: report it with the staging file")
