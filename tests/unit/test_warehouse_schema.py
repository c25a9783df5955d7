"""spark_jobs/warehouse.sql is every warehouse table that is not dbt's, applied by apply_schema."""
from __future__ import annotations

import sqlite3
from contextlib import closing

from spark_jobs import warehouse as wh
from studentflow.core import contract

PHASE_COLUMNS = ["normalize_s", "marts_s", "gate_s", "report_s"]


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_a_new_warehouse_gets_every_table_with_the_contract_columns(tmp_path):
    db = tmp_path / "w.db"
    wh.ensure_tables(db)
    with closing(sqlite3.connect(db)) as conn:
        assert _tables(conn) == {*contract.SOURCE_TABLES, contract.WATERMARKS_TABLE, "follow_increments"}
        assert tuple(wh.table_columns(conn, contract.CLEAN_TABLE)) == contract.CLEAN_COLUMNS
        assert tuple(wh.table_columns(conn, contract.QUARANTINE_TABLE)) == contract.QUARANTINE_COLUMNS
        assert set(wh.table_columns(conn, contract.RUNS_TABLE)) == set(contract.RUN_COLUMNS)
        assert set(PHASE_COLUMNS) <= set(wh.table_columns(conn, "follow_increments"))


def test_an_older_follow_increments_table_gets_the_phase_columns_and_keeps_its_rows(tmp_path):
    db = tmp_path / "w.db"
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("CREATE TABLE follow_increments (run_id TEXT, finished_at TEXT, lines INTEGER, seconds REAL, "
                     "freshness_p50_s REAL, freshness_p95_s REAL, freshness_max_s REAL, gate_passed INTEGER)")
        conn.execute("INSERT INTO follow_increments (run_id, lines, seconds) VALUES ('old', 10, 1.5)")
    with closing(sqlite3.connect(db)) as conn:
        wh.apply_schema(conn)
        wh.apply_schema(conn)   # idempotent
        cols = wh.table_columns(conn, "follow_increments")
        assert [c for c in cols if c in PHASE_COLUMNS] == PHASE_COLUMNS
        assert conn.execute("SELECT run_id, lines, normalize_s FROM follow_increments").fetchall() == [("old", 10, None)]
