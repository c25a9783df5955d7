"""Write edge: the SQLite warehouse (tables defined in warehouse.sql, created before any write).

Two measured ways to write, both a full refresh that is atomic for readers:

* ``python`` (default): the classified rows arrive in the driver as Arrow, are sorted there and
  inserted with ``sqlite3.executemany`` in ONE transaction together with the ``pipeline_runs`` row
  (DELETE + INSERT + INSERT, then COMMIT).
* ``jdbc``: Spark JDBC (Debian's sqlite-jdbc, one writer: a single partition) appends into scratch
  tables, then one sqlite3 transaction swaps their content into the real tables. Spark 4.2+
  cannot create SQLite tables over JDBC, so the scratch tables are created here first.

Rows are inserted in a deterministic order (clean by event_id, quarantine by file and line), so
re-running on the same staging data gives the same tables row for row.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from studentflow.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

SCHEMA_FILE = Path(__file__).with_name("warehouse.sql")
CLEAN, QUARANTINE, RUNS = "clean_students", "quarantine_students", "pipeline_runs"
SCRATCH_SUFFIX = "__incoming"
RUN_COLUMNS = ("run_id", "started_at", "finished_at", "lines_read", "clean_count", "quarantined_count",
               "duplicates_removed", "staging_files", "status")


def connect(db: Path) -> sqlite3.Connection:
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(db), isolation_level=None, timeout=30)
    except (OSError, sqlite3.Error) as exc:
        raise DataError(f"cannot open the warehouse {db}: {exc}",
                        "check STUDENTFLOW_WAREHOUSE and the folder's permissions") from None
    return conn


def ensure_tables(db: Path) -> None:
    """Create the three tables if missing (idempotent)."""
    with _closing(connect(db)) as conn:
        conn.executescript(SCHEMA_FILE.read_text(encoding="utf-8"))


def table_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]


class _closing:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *exc: Any) -> None:
        self.conn.close()


def _insert_sql(table: str, columns: Sequence[str]) -> str:
    cols = ", ".join(columns)
    marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO {table} ({cols}) VALUES ({marks})"


def _replace_in_one_transaction(db: Path, fill: Iterable, run_row: dict[str, Any]) -> None:
    """BEGIN IMMEDIATE; run each ``fill(conn)`` step; add the run row; COMMIT (ROLLBACK on error)."""
    with _closing(connect(db)) as conn:
        conn.execute("PRAGMA synchronous=NORMAL")
        try:
            conn.execute("BEGIN IMMEDIATE")
            for step in fill:
                step(conn)
            conn.execute(_insert_sql(RUNS, RUN_COLUMNS), [run_row[c] for c in RUN_COLUMNS])
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


def write_python(db: Path, clean: "Any", quarantine: "Any", run_row: dict[str, Any],
                 clean_columns: Sequence[str], quarantine_columns: Sequence[str]) -> None:
    """Full refresh from two pyarrow Tables already in insertion order, plus the run row."""
    def rows(table, columns):
        return zip(*(table.column(c).to_pylist() for c in columns))

    def fill_clean(conn):
        conn.execute(f"DELETE FROM {CLEAN}")
        conn.executemany(_insert_sql(CLEAN, clean_columns), rows(clean, clean_columns))

    def fill_quarantine(conn):
        conn.execute(f"DELETE FROM {QUARANTINE}")
        conn.executemany(_insert_sql(QUARANTINE, quarantine_columns), rows(quarantine, quarantine_columns))

    ensure_tables(db)
    _replace_in_one_transaction(db, (fill_clean, fill_quarantine), run_row)


def jdbc_url(db: Path) -> str:
    return f"jdbc:sqlite:{db}"


def write_jdbc(db: Path, clean: "DataFrame", quarantine: "DataFrame", run_row: dict[str, Any]) -> None:
    """Full refresh through Spark JDBC (one writer at a time), then an atomic swap in SQLite.

    ``clean`` and ``quarantine`` must already be in insertion order in a single partition.
    """
    ensure_tables(db)
    with _closing(connect(db)) as conn:
        for table in (CLEAN, QUARANTINE):
            conn.execute(f"DROP TABLE IF EXISTS {table}{SCRATCH_SUFFIX}")
            conn.execute(f"CREATE TABLE {table}{SCRATCH_SUFFIX} AS SELECT * FROM {table} WHERE 0")
    props = {"driver": "org.sqlite.JDBC", "batchsize": "50000", "isolationLevel": "SERIALIZABLE"}
    for table, df in ((CLEAN, clean), (QUARANTINE, quarantine)):   # sequential: SQLite has one writer
        df.write.jdbc(jdbc_url(db), f"{table}{SCRATCH_SUFFIX}", mode="append", properties=props)

    def swap(table):
        def step(conn):
            cols = ", ".join(table_columns(conn, table))
            conn.execute(f"DELETE FROM {table}")
            conn.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {table}{SCRATCH_SUFFIX} ORDER BY rowid")
            conn.execute(f"DROP TABLE {table}{SCRATCH_SUFFIX}")
        return step

    _replace_in_one_transaction(db, (swap(CLEAN), swap(QUARANTINE)), run_row)
