"""The synthetic warehouse the tests and the benchmarks share (the pipeline never imports it).

A SQLite warehouse whose tables are created with the Spark stage's own DDL
(spark_jobs/warehouse.sql: the contract) and filled with reproducible random rows, so the
analytics stage (dbt, Great Expectations, the report) is tested and benchmarked without Spark.
Rows are inserted by column name, so a column the Spark stage adds later does not break them.
"""
from __future__ import annotations

import random
import sqlite3
import uuid
from pathlib import Path

from studentflow.core import contract
from studentflow.core.config import PROJECT_ROOT
from studentflow.core.reference import load_majors

REPO = PROJECT_ROOT
DDL = REPO / "spark_jobs" / "warehouse.sql"
MAJORS_CSV = REPO / "dbt_project" / "seeds" / "majors.csv"
RULES = contract.RULES
AGE_MIN, AGE_MAX = contract.AGE_MIN, contract.AGE_MAX
FIRST = ("Alice", "Bob", "Claire", "David", "Emma", "Farid", "Gaëlle", "Hugo", "Inès", "Jules")
LAST = ("Dupont", "Martin", "Bernard", "Petit", "Durand", "Leroy", "Moreau", "Simon")
# Fewer columns than the product's on purpose: synthetic rows were staged nowhere (no
# source_file, line_number) and their runs predate the headers_skipped and mode columns; the
# rows the tests write are tuples in this order, and those columns stay null.
CLEAN_COLUMNS = tuple(c for c in contract.CLEAN_COLUMNS if c not in ("source_file", "line_number"))
RUN_COLUMNS = tuple(c for c in contract.RUN_COLUMNS if c not in ("headers_skipped", "mode"))
QUARANTINE_COLUMNS = contract.QUARANTINE_COLUMNS


def majors() -> list[str]:
    return list(load_majors(MAJORS_CSV))


def insert(con: sqlite3.Connection, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Insert ``rows`` into ``table`` by column name (the other columns stay null)."""
    marks = ",".join("?" * len(columns))
    con.executemany(f"insert into {table} ({','.join(columns)}) values ({marks})", rows)


def random_clean_rows(n: int, seed: int = 7, run_id: str = "run-0001",
                      age_min: int = AGE_MIN, age_max: int = AGE_MAX) -> list[tuple]:
    """n valid clean_students rows: unique event ids, canonical majors, ages in bounds.

    Ages cluster around 17..30 like students do, with a tail up to the bounds.
    """
    rng = random.Random(seed)
    names = majors()
    rows = []
    for i in range(n):
        if rng.random() < 0.9:
            age = min(age_max, max(age_min, int(rng.gauss(22, 3.5))))
        else:
            age = rng.randint(age_min, age_max)
        rows.append((
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            f"s{i:07d}",
            rng.choice(FIRST),
            rng.choice(LAST),
            age,
            rng.choice(names),
            f"2026-11-27T10:{(i // 60) % 60:02d}:{i % 60:02d}Z",
            1,
            rng.choice(RULES),
            run_id,
        ))
    return rows


def create(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.executescript(DDL.read_text(encoding="utf-8"))
    return con


def insert_clean(con: sqlite3.Connection, rows: list[tuple]) -> None:
    insert(con, "clean_students", CLEAN_COLUMNS, rows)
    con.commit()


def build(path: Path, n: int = 300, seed: int = 7, quarantined: int = 5, duplicates: int = 3,
          run_id: str = "run-0001", rows: list[tuple] | None = None) -> list[tuple]:
    """Create a complete warehouse at path (rows, or n random ones); return the clean rows inserted."""
    rows = random_clean_rows(n, seed=seed, run_id=run_id) if rows is None else rows
    n = len(rows)
    con = create(path)
    try:
        insert_clean(con, rows)
        insert(con, "quarantine_students", QUARANTINE_COLUMNS,
               [("hello kafka", "not_json_or_csv", "no JSON object, no CSV fields", "students.txt", i + 1, run_id)
                for i in range(quarantined)])
        # an older run whose rows were replaced: its duplicates must not be counted
        insert(con, "pipeline_runs", RUN_COLUMNS,
               [("run-0000", "2026-11-26T09:00:00Z", "2026-11-26T09:01:00Z", 10, 9, 0, 1, "old.txt", "success"),
                (run_id, "2026-11-27T10:00:00Z", "2026-11-27T10:02:00Z", n + quarantined + duplicates,
                 n, quarantined, duplicates, "students.txt", "success")])
        con.commit()
    finally:
        con.close()
    return rows


def markdown_table(markdown: str, header: str) -> list[list[str]]:
    """The body rows of the markdown table whose header line is exactly ``header``."""
    lines = markdown.splitlines()
    start = lines.index(header)
    assert set(lines[start + 1].replace("|", "").replace(":", "")) == {"-"}, "no separator line"
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split(" | ")])
    return rows
