"""A synthetic SQLite warehouse for the dbt and Great Expectations tests (and bench/).

Creates the tables with the Spark stage's own DDL (spark_jobs/warehouse.sql: the contract) and
fills them with reproducible random rows, so the analytics stage is tested without Spark.
"""
from __future__ import annotations

import csv
import random
import sqlite3
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DDL = REPO / "spark_jobs" / "warehouse.sql"
MAJORS_CSV = REPO / "dbt_project" / "seeds" / "majors.csv"
RULES = ("json_strict", "json_loose", "csv", "key_value")
FIRST = ("Alice", "Bob", "Claire", "David", "Emma", "Farid", "Gaëlle", "Hugo", "Inès", "Jules")
LAST = ("Dupont", "Martin", "Bernard", "Petit", "Durand", "Leroy", "Moreau", "Simon")
CLEAN_COLUMNS = ("event_id", "student_id", "first_name", "last_name", "age", "major",
                 "emitted_at", "schema_version", "rule", "run_id")


def majors() -> list[str]:
    with MAJORS_CSV.open(encoding="utf-8", newline="") as fh:
        return [row["major"] for row in csv.DictReader(fh)]


def random_clean_rows(n: int, seed: int = 7, run_id: str = "run-0001",
                      age_min: int = 15, age_max: int = 100) -> list[tuple]:
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
    marks = ",".join("?" * len(CLEAN_COLUMNS))
    con.executemany(f"insert into clean_students ({','.join(CLEAN_COLUMNS)}) values ({marks})", rows)
    con.commit()


def build(path: Path, n: int = 300, seed: int = 7, quarantined: int = 5, duplicates: int = 3,
          run_id: str = "run-0001", rows: list[tuple] | None = None) -> list[tuple]:
    """Create a complete warehouse at path (rows, or n random ones); return the clean rows inserted."""
    rows = random_clean_rows(n, seed=seed, run_id=run_id) if rows is None else rows
    n = len(rows)
    con = create(path)
    try:
        insert_clean(con, rows)
        con.executemany(
            "insert into quarantine_students values (?, ?, ?, ?, ?, ?)",
            [("hello kafka", "not_json_or_csv", "no JSON object, no CSV fields", "students.txt", i + 1, run_id)
             for i in range(quarantined)],
        )
        # an older run whose rows were replaced: its duplicates must not be counted
        con.executemany(
            "insert into pipeline_runs values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [("run-0000", "2026-11-26T09:00:00Z", "2026-11-26T09:01:00Z", 10, 9, 0, 1, "old.txt", "success"),
             (run_id, "2026-11-27T10:00:00Z", "2026-11-27T10:02:00Z", n + quarantined + duplicates,
              n, quarantined, duplicates, "students.txt", "success")],
        )
        con.commit()
    finally:
        con.close()
    return rows
