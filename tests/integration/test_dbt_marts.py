"""dbt on a real SQLite warehouse: the marts equal an independent Python computation, dbt docs
generate works, and an analyst's new mart runs with plain `dbt build`.

One `studentflow transform` (dbt build) per module; the analyst test runs its own plain dbt.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from tests.support import analytics_cli
from tests.support.dbt_warehouse import build_marts
from tests.support import warehouse as aw
from studentflow.transform import runner as dbt_runner
from studentflow.core import config

pytestmark = pytest.mark.slow
TOL = 1e-9
SINGLE = "Biologie"   # a major with exactly one student: stddev must be null


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("dbt_marts")
    rows = aw.random_clean_rows(420, seed=11)
    first_single = next(r for r in rows if r[5] == SINGLE)
    rows = [r for r in rows if r[5] != SINGLE] + [first_single]
    settings = config.load(env={}, data_dir=str(base / "data"), state_dir=str(base / "state"),
                           warehouse=str(base / "data" / "warehouse.db"))
    aw.build(settings.warehouse, rows=rows, quarantined=5, duplicates=3)
    build_marts(settings)
    return settings, rows


def query(db: Path, sql: str) -> list[dict]:
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(sql)]
    finally:
        con.close()


def ages_by_major(rows) -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        out[r[5]].append(r[4])
    return out


def test_major_age_stats_equal_python_statistics(built):
    settings, rows = built
    expected = ages_by_major(rows)
    got = {r["major"]: r for r in query(settings.warehouse, "select * from major_age_stats")}
    assert set(got) == set(expected)
    assert list(got[next(iter(got))]) == ["major", "student_count", "avg_age", "min_age", "max_age",
                                          "stddev_age", "median_age"]
    for major, ages in expected.items():
        row = got[major]
        assert row["student_count"] == len(ages)
        assert abs(row["avg_age"] - statistics.fmean(ages)) < TOL
        assert row["min_age"] == min(ages) and row["max_age"] == max(ages)
        assert abs(row["median_age"] - statistics.median(ages)) < TOL
        if len(ages) == 1:
            assert row["stddev_age"] is None
        else:
            assert abs(row["stddev_age"] - statistics.stdev(ages)) < TOL, major
    assert got[SINGLE]["student_count"] == 1 and got[SINGLE]["stddev_age"] is None
    # both parities of the median occur in this data set (exact mean of the two middle values)
    assert {len(a) % 2 for a in expected.values()} == {0, 1}


def test_major_avg_age_over_20_equals_python(built):
    settings, rows = built
    expected = {m: [a for a in ages if a > 20] for m, ages in ages_by_major(rows).items()}
    expected = {m: a for m, a in expected.items() if a}
    got = {r["major"]: r for r in query(settings.warehouse, "select * from major_avg_age_over_20")}
    assert set(got) == set(expected)
    for major, ages in expected.items():
        assert got[major]["student_count"] == len(ages)
        assert abs(got[major]["avg_age"] - statistics.fmean(ages)) < TOL


def test_global_summary_both_means_and_counts(built):
    settings, rows = built
    ages = [r[4] for r in rows]
    per_major = ages_by_major(rows)
    (summary,) = query(settings.warehouse, "select * from global_summary")
    assert summary["major_count"] == len(per_major)
    assert summary["student_count"] == len(rows)
    assert abs(summary["avg_age_weighted"] - statistics.fmean(ages)) < TOL
    assert abs(summary["avg_age_of_major_means"] - statistics.fmean(statistics.fmean(a) for a in per_major.values())) < TOL
    assert summary["avg_age_weighted"] != pytest.approx(summary["avg_age_of_major_means"], abs=1e-6)
    assert summary["quarantine_count"] == 5
    assert abs(summary["quarantine_rate"] - 5 / (len(rows) + 5)) < TOL
    assert summary["duplicates_removed"] == 3      # the current run only, not the replaced run-0000
    assert summary["last_run_id"] == "run-0001"


def test_transform_prints_compact_summary_and_docs_generate(built, capsys):
    settings, _ = built
    code, err = analytics_cli.run(["transform", "--docs"], settings)
    assert code == 0, err
    out = capsys.readouterr().out
    target = settings.paths.dbt_target
    assert str(target / "static_index.html") in out
    assert (target / "static_index.html").stat().st_size > 10_000
    catalog = json.loads((target / "catalog.json").read_text(encoding="utf-8"))
    assert "model.studentflow.major_age_stats" in catalog["nodes"]
    # the docs carry the YAML descriptions of every mart column
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    stats = manifest["nodes"]["model.studentflow.major_age_stats"]
    assert stats["description"] and all(c["description"] for c in stats["columns"].values())


def test_analyst_mart_runs_with_plain_dbt_build(built, tmp_path):
    """A new mart on stg_students, in a copy of the project, built by dbt's own CLI."""
    settings, rows = built
    project = tmp_path / "dbt_project"
    shutil.copytree(dbt_runner.DBT_PROJECT, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    (project / "models" / "marts" / "major_youngest_students.sql").write_text(
        "-- analyst's mart: how many students of each major are under 21\n"
        "with students as (\n\n    select * from {{ ref('stg_students') }}\n\n),\n\n"
        "final as (\n\n    select major, count(*) as under_21_count\n    from students\n"
        "    where age < 21\n    group by major\n\n)\n\nselect * from final\n",
        encoding="utf-8")
    (project / "models" / "marts" / "major_youngest_students.yml").write_text(
        "version: 2\n\nmodels:\n  - name: major_youngest_students\n"
        "    description: Students under 21 per major.\n    columns:\n"
        "      - name: major\n        description: Canonical major.\n"
        "        data_tests:\n          - unique\n          - not_null\n"
        "      - name: under_21_count\n        description: Students under 21.\n",
        encoding="utf-8")
    db = tmp_path / "warehouse.db"
    shutil.copy(settings.warehouse, db)
    env = dict(os.environ, STUDENTFLOW_WAREHOUSE=str(db), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    dbt = str(Path(sys.executable).with_name("dbt"))
    proc = subprocess.run([dbt, "build", "--project-dir", str(project), "--profiles-dir", str(project)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "major_youngest_students" in proc.stdout
    got = {r["major"]: r["under_21_count"] for r in query(db, "select * from major_youngest_students")}
    expected: dict[str, int] = defaultdict(int)
    for r in rows:
        if r[4] < 21:
            expected[r[5]] += 1
    assert got == dict(expected)
    assert not (dbt_runner.DBT_PROJECT / "models" / "marts" / "major_youngest_students.sql").exists()
