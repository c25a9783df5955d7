"""A small warehouse for the report: Spark's tables and the four marts, computed here in Python
with dbt's column names (no dbt), from a fixed set of ages, reasons and duplicates."""
from __future__ import annotations

import datetime as dt
import statistics
from pathlib import Path

from tests.support import warehouse as aw

NOW = dt.datetime(2026, 11, 27, 10, 30, tzinfo=dt.timezone.utc)

# (major, ages): one major with a single student (no standard deviation), one with nobody over 20
AGES = {
    "Informatique": [19, 21, 22, 22, 25, 30, 23, 21],
    "Chimie": [18, 20, 24, 26],
    "Mathématiques": [22, 23, 24, 45, 19, 20, 21],
    "Physique": [20, 19, 18],
    "Biologie": [27],
    "Economie": [21, 22, 23, 24, 25, 26],
}
REASONS = {"not_json_or_csv": 3, "age_out_of_range": 2, "unknown_major": 1}
DUPLICATES = 2


def make_warehouse(path: Path, ages: dict[str, list[int]] = AGES) -> None:
    """Spark's tables (from spark_jobs/warehouse.sql) + the four marts, computed here in Python."""
    con = aw.create(path)
    n = 0
    for major, values in ages.items():
        for age in values:
            n += 1
            aw.insert(con, "clean_students", aw.CLEAN_COLUMNS,
                      [(f"e{n}", f"s{n}", "Alice", "Dupont", age, major, "2026-11-27T10:00:00Z", 1,
                        "json_strict", "run-2")])
    q = 0
    for reason, count in REASONS.items():
        for _ in range(count):
            q += 1
            con.execute("insert into quarantine_students values (?,?,?,?,?,?)",
                        ("hello kafka", reason, "detail", "students.raw.txt", q, "run-2"))
    aw.insert(con, "pipeline_runs", aw.RUN_COLUMNS, [
        ("run-1", "2026-11-26T09:00:00Z", "2026-11-26T09:01:00Z", 5, 5, 0, 0, "old.txt", "success"),
        ("run-2", "2026-11-27T10:00:00Z", "2026-11-27T10:01:00Z", n + q + DUPLICATES, n, q, DUPLICATES,
         "students.raw.txt", "success")])
    con.execute("create table major_age_stats (major text, student_count integer, avg_age real, min_age integer, "
                "max_age integer, stddev_age real, median_age real)")
    con.execute("create table major_avg_age_over_20 (major text, student_count integer, avg_age real)")
    con.execute("create table major_age_distribution (major text, age integer, student_count integer)")
    for major, values in ages.items():
        for age in sorted(set(values)):
            con.execute("insert into major_age_distribution values (?,?,?)", (major, age, values.count(age)))
    con.execute("create table global_summary (major_count integer, student_count integer, avg_age_weighted real, "
                "avg_age_of_major_means real, quarantine_count integer, quarantine_rate real, "
                "duplicates_removed integer, last_run_id text)")
    means = []
    for major, values in sorted(ages.items()):
        sd = statistics.stdev(values) if len(values) > 1 else None
        means.append(statistics.mean(values))
        con.execute("insert into major_age_stats values (?,?,?,?,?,?,?)",
                    (major, len(values), statistics.mean(values), min(values), max(values), sd,
                     statistics.median(values)))
        over = [a for a in values if a > 20]
        if over:
            con.execute("insert into major_avg_age_over_20 values (?,?,?)", (major, len(over), statistics.mean(over)))
    everyone = [a for v in ages.values() for a in v]
    con.execute("insert into global_summary values (?,?,?,?,?,?,?,?)",
                (len(ages), len(everyone), statistics.mean(everyone) if everyone else None,
                 statistics.mean(means) if means else None, q,
                 q / (q + len(everyone)), DUPLICATES, "run-2"))
    con.commit()
    con.close()
