"""Write edge: the SQLite warehouse (tables in warehouse.sql, created before any write).

An increment lands in ONE transaction (:func:`commit`), from what spark_jobs/incoming.py kept of
its classified rows: a landing file (its clean rows, its quarantine rows, and the later
occurrences of an id within the increment, judged, in ``later_rows``), attached to the warehouse
connection, and a few counters. Every step is SQL between the two files:

1. its clean rows are appended to ``clean_students`` with ``INSERT .. SELECT`` from the landing
   file that ADBC wrote batch by batch before, outside the transaction (no Python object per row;
   ADBC's own SQLite never opens the warehouse: see spark_jobs/landing.py), in (file, line) order,
   and checked against the count made as they arrived;
2. the rows whose event_id was already clean in the warehouse are judged against it (one index
   lookup per row), the warehouse's row being the first occurrence: the later occurrences in
   ``later_rows`` are judged again in place, and the new rows move there, judged (same content,
   a duplicate; other content, a ``conflicting_duplicate``). A committed row is never taken back;
3. the conflicts get their raw text (asked for in batches: they travelled without it), the rows
   are checked to add up to the lines counted from the staged bytes, the quarantine rows (the
   landed ones and the conflicts) are appended in (file, line) order, the staging watermarks
   move and the ``pipeline_runs`` row is added.

A crash at any point before COMMIT leaves the warehouse as it was; after it, everything is
there. A full refresh is the same transaction, starting by emptying the rows and the watermarks.
"""
from __future__ import annotations

import re
import sqlite3
from collections import Counter
from contextlib import closing
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from studentflow.core.contract import (
    CLEAN_TABLE as CLEAN, CONTENT_COLUMNS, QUARANTINE_COLUMNS, QUARANTINE_TABLE as QUARANTINE,
    RUN_COLUMNS, RUNS_TABLE as RUNS, WATERMARKS_TABLE as MARKS,
)
from studentflow.core.errors import DataError

from spark_jobs import incoming, landing
from spark_jobs.increments import Watermark

SCHEMA_FILE = Path(__file__).with_name("warehouse.sql")
SCRATCH = "normalize_incoming"   # the scratch table of older versions: dropped when found


def schema_indexes() -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of every index in warehouse.sql: a full refresh drops them
    before its rows and builds each once after them (faster than keeping them up to date)."""
    text = SCHEMA_FILE.read_text(encoding="utf-8")
    return [(name, stmt) for stmt, name in re.findall(r"(CREATE INDEX IF NOT EXISTS (\w+) ON [^;]+);", text)]


# columns added since the first release: a warehouse written by an older version gets them
_ADDED = {CLEAN: (("source_file", "TEXT"), ("line_number", "INTEGER")),
          RUNS: (("mode", "TEXT"), ("headers_skipped", "INTEGER")),
          "follow_increments": tuple((f"{phase}_s", "REAL") for phase in ("normalize", "marts", "gate", "report"))}


def connect(db: Path) -> sqlite3.Connection:
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(db), isolation_level=None, timeout=30)
        # A 64 MB page cache keeps the event_id index's B-tree in memory while random UUIDs go in
        # (the 2 MB default turns that into disk reads). 256 MB took the peak RSS of a 1M-line
        # run from 589 MB to 650 MB: dirty pages stay cached until COMMIT.
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute("PRAGMA temp_store = MEMORY")
    except (OSError, sqlite3.Error) as exc:
        raise DataError(f"cannot open the warehouse {db}: {exc}",
                        "check STUDENTFLOW_WAREHOUSE and the folder's permissions") from None
    return conn


def table_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]


def apply_schema(conn: sqlite3.Connection) -> None:
    """Every table and index of warehouse.sql, created if missing, and the columns a warehouse of
    an older version lacks added (idempotent; commits what ``conn`` had pending first)."""
    for table, cols in _ADDED.items():
        have = table_columns(conn, table)
        for name, kind in cols:
            if have and name not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
    conn.executescript(SCHEMA_FILE.read_text(encoding="utf-8"))


def ensure_tables(db: Path) -> list[str]:
    """:func:`apply_schema` on ``db``, and the scratch table of an older version's killed run dropped.
    Returns the clean table's columns in their order there (an older warehouse has them in another)."""
    with closing(connect(db)) as conn:
        apply_schema(conn)
        conn.execute(f"DROP TABLE IF EXISTS {SCRATCH}")
        return table_columns(conn, CLEAN)


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


def _append(conn: sqlite3.Connection, table: str, columns: Sequence[str], rows: Iterable[tuple], run_id: str) -> None:
    """Rows (tuples of ``columns``) appended to ``table``, the run id bound once in the statement."""
    sql = (f"INSERT INTO {table} ({', '.join(columns)}, run_id) "
           f"VALUES ({', '.join('?' for _ in columns)}, '{run_id}')")
    conn.executemany(sql, rows)


def _append_landed(conn: sqlite3.Connection, table: str, source: str, ranges: list[tuple[int, int]]) -> None:
    """The rows of the attached table ``source`` (the same columns as ``table``, in its order)
    appended to ``table`` in line order, ``ranges`` being its rowid ranges [first, end) in line
    order: in landing order when that is one range (they arrived in line order), else range by range."""
    schema, name = source.split(".")
    landed_cols = [r[1] for r in conn.execute(f'PRAGMA {schema}.table_info("{name}")')]
    if landed_cols != table_columns(conn, table):   # SELECT * below goes by position
        raise RuntimeError(f"landed columns {landed_cols} are not those of {table}")
    # SELECT *, no column list, no ORDER BY: into an empty table without indexes (a full refresh)
    # SQLite then copies the records as they are (its transfer optimization: 0.5-0.7 s instead of
    # 1.1-1.3 s at 1M rows); it reads the landing table in rowid order, the landing order, either way
    if len(ranges) <= 1:   # the one range is the whole table
        conn.execute(f"INSERT INTO {table} SELECT * FROM {source}")
        return
    for first, end in ranges:   # Spark sent its tasks' results in another order: one copy per run
        conn.execute(f"INSERT INTO {table} SELECT * FROM {source} WHERE rowid >= ? AND rowid < ?", (first, end))


LANDED = landing.SCHEMA   # the attached landing file: its later_rows and quarantine_rows
RAW_BATCH = 20_000        # conflicts whose raw text is asked for at a time: memory stays flat


def _append_quarantine(conn: sqlite3.Connection) -> None:
    """The landed quarantine rows and the conflicts among the later occurrences, appended in
    (file, line) order."""
    cols = ", ".join(QUARANTINE_COLUMNS)
    conn.execute(f"""
        INSERT INTO {QUARANTINE} ({cols})
        SELECT {cols} FROM (
            SELECT {cols} FROM {LANDED}.{incoming.QUARANTINE_ROWS}
            UNION ALL SELECT {cols} FROM {LANDED}.{incoming.LATER_ROWS} WHERE verdict = 'quarantine')
        ORDER BY source_file, line_number""")


def _same_content(a: str, b: str) -> str:
    return " AND ".join(f"{a}.{col} IS {b}.{col}" for col in CONTENT_COLUMNS)


def _count_moves(conn: sqlite3.Connection, sql: str, counts: dict[str, Any], by_rule: dict[str, int] | None) -> None:
    """``sql`` gives (verdict before, rule, same content?, rows): each group leaves its verdict
    (and its rule's clean count when ``by_rule`` is given) for duplicate or quarantine."""
    for verdict, rule, same, n in conn.execute(sql).fetchall():
        counts[verdict] -= n
        if by_rule is not None:
            by_rule[rule] -= n
        after = "duplicate" if same else "quarantine"
        counts[after] = counts.get(after, 0) + n


def _rejudge(conn: sqlite3.Connection, before: int, counts: dict[str, Any]) -> None:
    """The later occurrences judged within the increment whose id was already clean in the
    warehouse (rowid <= ``before``): the warehouse row is their first occurrence. Judged again
    in place in the landing file's ``later_rows``."""
    later = f"{LANDED}.{incoming.LATER_ROWS}"
    conn.execute(f"""
        CREATE TABLE {LANDED}.fates AS
        SELECT l.rowid AS rid, {_same_content('l', 'o')} AS same, o.source_file AS first_file,
               o.line_number AS first_line
        FROM {later} AS l CROSS JOIN {CLEAN} AS o   -- CROSS: the later rows drive, one index lookup each
          ON o.event_id = l.event_id
        WHERE o.rowid <= ?""", (before,))
    _count_moves(conn, f"SELECT l.verdict, l.rule, f.same, count(*) FROM {LANDED}.fates AS f "
                       f"JOIN {later} AS l ON l.rowid = f.rid GROUP BY 1, 2, 3", counts, None)
    judged = incoming.judged_sql("f.same", "l.event_id", "f.first_file", "f.first_line")
    sets = ", ".join(f"{name} = {expr}" for name, expr in zip(incoming.JUDGED[:3], judged))   # raw_line kept
    conn.execute(f"UPDATE {later} AS l SET {sets} FROM {LANDED}.fates AS f WHERE f.rid = l.rowid")


def _judge_new_rows(conn: sqlite3.Connection, before: int, counts: dict[str, Any], by_rule: dict[str, int]) -> None:
    """The rows appended after rowid ``before`` whose event_id was already clean: the warehouse's
    row is the first occurrence and stays; they move to the landing file's ``later_rows``, judged."""
    conn.execute(f"""
        CREATE TABLE {LANDED}.moved AS
        SELECT n.rowid AS rid, {_same_content('n', 'o')} AS same, o.source_file AS first_file,
               o.line_number AS first_line
        FROM {CLEAN} AS n CROSS JOIN {CLEAN} AS o   -- CROSS: the new rows drive, one event_id index lookup each
          ON o.event_id = n.event_id
        WHERE n.rowid > ? AND o.rowid <= ?""", (before, before))
    _count_moves(conn, f"SELECT 'clean', n.rule, m.same, count(*) FROM {LANDED}.moved AS m "
                       f"JOIN {CLEAN} AS n ON n.rowid = m.rid GROUP BY 2, 3", counts, by_rule)
    columns = table_columns(conn, CLEAN)
    conn.execute(f"""
        INSERT INTO {LANDED}.{incoming.LATER_ROWS} ({', '.join(columns)}, {', '.join(incoming.JUDGED)})
        SELECT {', '.join(f'n.{c}' for c in columns)},
               {', '.join(incoming.judged_sql('m.same', 'n.event_id', 'm.first_file', 'm.first_line'))}
        FROM {LANDED}.moved AS m JOIN {CLEAN} AS n ON n.rowid = m.rid ORDER BY m.rid""")
    conn.execute(f"DELETE FROM {CLEAN} WHERE rowid IN (SELECT rid FROM {LANDED}.moved)")


def commit(conn: sqlite3.Connection, rows: Any, *, run_id: str, lines_expected: int, run_row: dict[str, Any],
           marks: Iterable[Watermark], full_refresh: bool, updated_at: str,
           raw_lines: Callable[[list[tuple[str, int]]], dict[tuple[str, int], str]] | None = None,
           landing_dir: Path | None = None) -> dict[str, Any]:
    """Append, judge, check, move the watermarks, record the run: one transaction. ``rows``: the
    increment as :func:`spark_jobs.incoming.receive` landed it (duplicates within it judged), or
    its classified rows as a pyarrow Table (landed here, in ``landing_dir``: default beside the
    warehouse). Returns the verdict counts (plus ``by_rule`` and ``by_reason`` dicts, from this
    increment's rows only). Raises DataError (and rolls back) when the rows do not add up. The
    landing file is deleted when the commit ends, either way."""
    if not isinstance(rows, incoming.Received):
        rows = incoming.from_table(rows, table_columns(conn, CLEAN), landing_dir or landing._folder_of(conn), run_id)
    ranges = rows.clean_ranges()
    _tune(conn, full_refresh)
    # ADBC landed the clean rows before BEGIN: the warehouse was not locked while it wrote
    with landing.attached(conn, rows.path) as landed_rows:
        try:
            conn.execute("BEGIN IMMEDIATE")
            if full_refresh:
                _clear(conn)
            counts = _append_clean(conn, rows, landed_rows, ranges)
            _with_raw_lines(conn, raw_lines)
            check_conservation(lines_expected, counts.get("clean", 0), counts.get("quarantine", 0),
                               counts.get("duplicate", 0), counts.get("header", 0))
            _append_quarantine(conn)
            for _, create in schema_indexes():
                conn.execute(create)
            _record(conn, marks, run_row, counts, updated_at)
            conn.execute("COMMIT")
            return counts
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


def _tune(conn: sqlite3.Connection, full_refresh: bool) -> None:
    conn.execute("PRAGMA synchronous=NORMAL")
    # An increment's random ids go into an event_id index that grows with the history: a bigger
    # page cache keeps it in memory. A full refresh builds the index once, after the rows, sorted.
    conn.execute(f"PRAGMA cache_size = {-16384 if full_refresh else -262144}")
    # a full refresh sorts every row into its indexes: in temporary files, not in this process's
    # memory (temp_store MEMORY held the whole sort: +40 MB of peak RSS at 1M rows, 10x at 10M)
    conn.execute(f"PRAGMA temp_store = {'FILE' if full_refresh else 'MEMORY'}")


def _clear(conn: sqlite3.Connection) -> None:
    """A full refresh starts from empty tables without indexes (built once after the rows: faster)."""
    for table in (CLEAN, QUARANTINE, MARKS):
        conn.execute(f"DELETE FROM {table}")
    for name, _ in schema_indexes():
        conn.execute(f"DROP INDEX IF EXISTS {name}")


def _append_clean(conn: sqlite3.Connection, rows: "incoming.Received", landed_rows: str,
                  ranges: list[tuple[int, int]]) -> dict[str, Any]:
    """The landed clean rows appended (``ranges``: see :func:`_append_landed`), then judged against
    the warehouse's earlier rows. Returns the verdict counts (with ``by_rule`` and ``by_reason``)."""
    counts: dict[str, Any] = {k: v for k, v in rows.counts.items() if v}
    by_rule = dict(rows.by_rule)
    before = conn.execute(f"SELECT coalesce(max(rowid), 0) FROM {CLEAN}").fetchone()[0]
    copied = conn.total_changes
    _append_landed(conn, CLEAN, landed_rows, ranges)
    _check_landed(conn.total_changes - copied, counts.get("clean", 0))
    if before:   # the warehouse's rows came first: the later occurrences first, then the new rows
        _rejudge(conn, before, counts)
        _judge_new_rows(conn, before, counts, by_rule)
    counts["by_rule"] = {k: v for k, v in by_rule.items() if v}
    # the quarantine rows made here (conflicts) are among the later occurrences; Spark's are landed
    made = conn.execute(f"SELECT reason, count(*) FROM {LANDED}.{incoming.LATER_ROWS} "
                        f"WHERE verdict = 'quarantine' GROUP BY reason").fetchall()
    counts["by_reason"] = dict(rows.reasons + Counter(dict(made)))
    return counts


def _with_raw_lines(conn: sqlite3.Connection, raw_lines: Callable | None) -> None:
    """Rows that turned out to conflict travelled without their raw text: fetch it, RAW_BATCH rows
    at a time in (file, line) order (so a lookup reading the staged files goes forward)."""
    later, last = f"{LANDED}.{incoming.LATER_ROWS}", ("", 0, 0)
    while raw_lines is not None:
        batch = conn.execute(f"""
            SELECT source_file, line_number, rowid FROM {later}
            WHERE verdict = 'quarantine' AND raw_line IS NULL AND (source_file, line_number, rowid) > (?, ?, ?)
            ORDER BY source_file, line_number, rowid LIMIT ?""", (*last, RAW_BATCH)).fetchall()
        if not batch:
            return
        found = raw_lines([(file, line) for file, line, _ in batch])
        conn.executemany(f"UPDATE {later} SET raw_line = ? WHERE rowid = ?",
                         [(found[(file, line)], rowid) for file, line, rowid in batch])
        last = batch[-1]


def _record(conn: sqlite3.Connection, marks: Iterable[Watermark], run_row: dict[str, Any], counts: dict[str, Any],
            updated_at: str) -> None:
    """The staging watermarks move and the run's ``pipeline_runs`` row is added."""
    for m in marks:
        conn.execute(_insert_sql(MARKS, (*asdict(m), "run_id", "updated_at"), "INSERT OR REPLACE"),
                     (*asdict(m).values(), run_row["run_id"], updated_at))
    row = {**run_row, "clean_count": counts.get("clean", 0), "quarantined_count": counts.get("quarantine", 0),
           "duplicates_removed": counts.get("duplicate", 0), "headers_skipped": counts.get("header", 0)}
    conn.execute(_insert_sql(RUNS, RUN_COLUMNS), [row[c] for c in RUN_COLUMNS])


def _check_landed(copied: int, counted: int) -> None:
    """The clean rows copied from the landing file are the clean rows counted as they arrived."""
    if copied != counted:
        raise DataError(f"conservation check failed: {counted:,} clean rows were counted as Spark sent them but "
                        f"{copied:,} came out of the landing file; nothing was written",
                        "rerun; if it persists it is a normalizer bug: report it with the staging file")


def check_conservation(lines_read: int, clean: int, quarantined: int, duplicates: int, headers: int = 0) -> None:
    total = clean + quarantined + duplicates + headers
    if lines_read != total:
        extra = f" + headers {headers:,}" if headers else ""
        raise DataError(
            f"conservation check failed: read {lines_read:,} lines but clean {clean:,} + quarantined "
            f"{quarantined:,} + duplicates {duplicates:,}{extra} = {total:,}; nothing was written",
            "make sure nothing rewrites the staging files during the run (`studentflow connect lag --wait` "
            "appends only), re-run; if it persists it is a normalizer bug: report it with the staging file")
