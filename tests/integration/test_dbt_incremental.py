"""The age histogram (int_major_age_counts) is incremental: a build counts only the rows appended
since the last one, a full refresh of the warehouse makes it count every row again, and a table
from before it was incremental is counted again. Real dbt (in-process, as `run --follow` runs it)
on a real SQLite warehouse; every expected count comes from the rows the test inserted.
"""
from __future__ import annotations

import sqlite3
import statistics
from collections import Counter

import pytest

from studentflow.pipeline.follow import marts_command
from studentflow.pipeline.warm import WarmDbt
from tests.support import dbt_warehouse
from tests.support import warehouse as aw

pytestmark = pytest.mark.slow
MAJOR, AGE = aw.CLEAN_COLUMNS.index("major"), aw.CLEAN_COLUMNS.index("age")


def histogram(db) -> dict[tuple[str, int], int]:
    with sqlite3.connect(db) as con:
        return {(m, a): n for m, a, n in con.execute("SELECT major, age, student_count FROM int_major_age_counts")}


def expected(rows) -> dict[tuple[str, int], int]:
    return dict(Counter((r[MAJOR], r[AGE]) for r in rows))


def append(db, rows) -> None:
    with sqlite3.connect(db) as con:
        aw.insert_clean(con, rows)


def test_new_rows_are_added_a_full_refresh_counts_again_and_an_older_table_is_replaced(tmp_path):
    settings, rows = dbt_warehouse.built(tmp_path, n=300)      # `studentflow transform`: dbt build
    db = settings.warehouse
    assert histogram(db) == expected(rows)
    dbt = WarmDbt(settings)

    # An increment: rows for pairs already counted and for a pair nobody had. One pair the new
    # rows do not touch is tampered with first: it stays as it is only if the build counted the
    # new rows alone (a full count would put it right).
    untouched = min(expected(rows))
    new = [dbt_warehouse.variant(r, event_id=f"new-{i}") for i, r in enumerate(aw.random_clean_rows(120, seed=5, run_id="run-0002"))
           if (r[MAJOR], r[AGE]) != untouched]
    new.append(dbt_warehouse.variant(new[0], event_id="new-pair", age=99))
    assert (new[0][MAJOR], 99) not in expected(rows)
    with sqlite3.connect(db) as con:
        con.execute("UPDATE int_major_age_counts SET student_count = student_count + 1000 "
                    "WHERE major = ? AND age = ?", untouched)
    append(db, new)
    ok, problems = dbt.invoke(*marts_command(project_changed=False))
    assert ok, problems
    want = expected(rows + new)
    want[untouched] += 1000
    assert histogram(db) == want
    with sqlite3.connect(db) as con:
        (through,), (last,) = con.execute("SELECT max(counted_through) FROM int_major_age_counts"), \
            con.execute("SELECT max(rowid) FROM clean_students")
        assert through == last
        # the marts follow the histogram, and global_summary's mean comes from it
        (stats_count,) = con.execute("SELECT student_count FROM major_age_stats WHERE major = ?", (new[0][MAJOR],)).fetchone()
        (mean,) = con.execute("SELECT avg_age_weighted FROM global_summary").fetchone()
    assert stats_count == sum(n for (m, _), n in want.items() if m == new[0][MAJOR])
    ages = [a for (_, a), n in want.items() for _ in range(n)]
    assert mean == pytest.approx(statistics.fmean(ages))

    # A second build with no new rows changes nothing.
    ok, problems = dbt.invoke(*marts_command(project_changed=False))
    assert ok, problems
    assert histogram(db) == want

    # A full refresh: the table emptied and filled again (rowids from 1), recorded as normalize
    # records one. Every count is made again: the tampered pair and the pair no row has any more go.
    kept = rows[:150]
    with sqlite3.connect(db) as con:
        con.execute("DELETE FROM clean_students")
        aw.insert_clean(con, kept)
        con.execute("INSERT INTO pipeline_runs (run_id, status, mode) VALUES ('run-0003', 'success', 'full_refresh')")
    ok, problems = dbt.invoke(*marts_command(project_changed=False))
    assert ok, problems
    assert histogram(db) == expected(kept)

    # A histogram table from before it was incremental (no watermark, wrong counts): counted again.
    with sqlite3.connect(db) as con:
        con.execute("DROP TABLE int_major_age_counts")
        con.execute("CREATE TABLE int_major_age_counts AS SELECT 'Physique' AS major, 30 AS age, 7 AS student_count")
    ok, problems = dbt.invoke(*marts_command(project_changed=False))
    assert ok, problems
    assert histogram(db) == expected(kept)


def test_an_increment_creates_the_views_again_only_after_the_project_changed():
    command = marts_command(project_changed=False)
    assert command[:3] == ["run", "--select", "+marts"] and command[-2:] == ["--exclude", "config.materialized:view"]
    assert "--exclude" not in marts_command(project_changed=True)
