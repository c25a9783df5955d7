"""Warehouse access every stage shares: read-only opening, "is it there yet?", the quality files.

The table names are the contract's (studentflow/core/contract.py); the tables the Spark stage
writes are defined in spark_jobs/warehouse.sql, the marts in dbt_project/models/marts; the Great
Expectations summary is the quality file the report reads.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

from studentflow.core.config import Settings
from studentflow.core.errors import WarehouseNotReady

def connect_readonly(warehouse: Path) -> sqlite3.Connection:
    """The warehouse opened read-only (never creates the file, never touches what dbt built)."""
    return sqlite3.connect(f"{warehouse.resolve().as_uri()}?mode=ro", uri=True)


def existing_tables(warehouse: Path) -> set[str]:
    """Tables and views of the warehouse (empty when the file does not exist)."""
    if not warehouse.is_file():
        return set()
    con = connect_readonly(warehouse)
    try:
        return {name for (name,) in con.execute("select name from sqlite_master where type in ('table', 'view')")}
    except sqlite3.DatabaseError as exc:
        raise WarehouseNotReady(f"{warehouse} is not a readable SQLite database ({exc})",
                                "point STUDENTFLOW_WAREHOUSE at the warehouse the Spark stage writes") from None
    finally:
        con.close()


def require_tables(warehouse: Path, tables: tuple[str, ...] | list[str], hint: str, *,
                   what: str = "table") -> None:
    """Raise WarehouseNotReady naming what is missing: the file, or the tables."""
    if not warehouse.is_file():
        raise WarehouseNotReady(f"warehouse {warehouse} does not exist", hint)
    missing = [t for t in tables if t not in existing_tables(warehouse)]
    if missing:
        raise WarehouseNotReady(f"warehouse {warehouse} has no {what} {', '.join(missing)}", hint)
