"""dbt as analysts run it: `cd dbt_project && dbt build` with the shipped profiles.yml.

A copy of the repository layout (dbt_project/ beside data/warehouse.db) in the test's folder,
no STUDENTFLOW_WAREHOUSE: the profile must find data/warehouse.db from inside dbt_project/ and
from the root with --project-dir. Unit tests, source freshness, the exposure and docs generate
run with dbt's own CLI.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from studentflow.transform import runner as dbt_runner
from tests.support import warehouse as aw

pytestmark = pytest.mark.slow
DBT = str(Path(sys.executable).with_name("dbt"))


def _dbt(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("STUDENTFLOW_WAREHOUSE", "DBT_PROJECT_DIR")}
    clean.update(DBT_SEND_ANONYMOUS_USAGE_STATS="false", **env)
    return subprocess.run([DBT, *args, "--no-use-colors"], cwd=cwd, env=clean, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("plain dbt é")  # a space and an accent in the path, on purpose
    shutil.copytree(dbt_runner.DBT_PROJECT, root / "dbt_project",
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    aw.build(root / "data" / "warehouse.db", n=200, seed=3)
    # the last run finished just now: the freshness check passes
    con = sqlite3.connect(root / "data" / "warehouse.db")
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    con.execute("update pipeline_runs set finished_at = ? where run_id = 'run-0001'", (now,))
    con.commit()
    con.close()
    return root


def test_dbt_build_from_inside_the_project_uses_the_shipped_profile(repo):
    proc = _dbt(repo / "dbt_project", "build")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    results = json.loads((repo / "dbt_project" / "target" / "run_results.json").read_text())["results"]
    units = {r["unique_id"].rsplit(".", 1)[-1]: r["status"] for r in results if r["unique_id"].startswith("unit_test.")}
    assert units == {"major_age_stats_sample_standard_deviation": "pass", "major_age_stats_exact_median": "pass"}
    con = sqlite3.connect(repo / "data" / "warehouse.db")
    try:
        (n,) = con.execute("select count(*) from clean_students").fetchone()
        (dist,) = con.execute("select sum(student_count) from major_age_distribution").fetchone()
        medians = con.execute("select count(*) from major_age_stats where median_age is not null").fetchone()[0]
    finally:
        con.close()
    assert dist == n == 200 and medians > 0
    assert not (repo / "dbt_project" / "data").exists()  # nothing created relative to the cwd


def test_from_the_root_with_project_dir_and_env_override(repo, tmp_path):
    proc = _dbt(repo, "run", "--select", "major_age_distribution", "--project-dir", "dbt_project",
                "--profiles-dir", "dbt_project")
    assert proc.returncode == 0, proc.stdout[-3000:]
    # A relative STUDENTFLOW_WAREHOUSE is relative to the repository root, as in studentflow's config.
    proc = _dbt(repo / "dbt_project", "build", STUDENTFLOW_WAREHOUSE="data/missing.db")
    assert proc.returncode != 0
    assert f"the warehouse {repo / 'data' / 'missing.db'} has no clean_students table" in proc.stdout


def test_source_freshness_docs_and_exposure(repo):
    proc = _dbt(repo / "dbt_project", "source", "freshness")
    assert proc.returncode == 0, proc.stdout[-3000:]
    sources = json.loads((repo / "dbt_project" / "target" / "sources.json").read_text())["results"]
    (runs,) = [s for s in sources if s["unique_id"].endswith("pipeline_runs")]
    assert runs["status"] == "pass" and runs["max_loaded_at_time_ago_in_s"] < 3600

    con = sqlite3.connect(repo / "data" / "warehouse.db")
    con.execute("update pipeline_runs set finished_at = '2020-01-01T00:00:00Z'")
    con.commit()
    con.close()
    stale = _dbt(repo / "dbt_project", "source", "freshness")
    assert stale.returncode != 0 and "ERROR STALE" in stale.stdout

    proc = _dbt(repo / "dbt_project", "docs", "generate")
    assert proc.returncode == 0, proc.stdout[-3000:]
    target = repo / "dbt_project" / "target"
    manifest = json.loads((target / "manifest.json").read_text())
    exposure = manifest["exposures"]["exposure.studentflow.student_report"]
    assert "model.studentflow.major_age_stats" in exposure["depends_on"]["nodes"]
    # the report reads the run history from the source table, and the exposure says so
    assert "source.studentflow.warehouse.pipeline_runs" in exposure["depends_on"]["nodes"]
    assert exposure["url"]
    # docs blocks are rendered: one description for the source column and the staging column
    source_cols = manifest["sources"]["source.studentflow.warehouse.clean_students"]["columns"]
    stg_cols = manifest["nodes"]["model.studentflow.stg_students"]["columns"]
    assert "deterministic hash" in source_cols["event_id"]["description"]
    assert source_cols["event_id"]["description"] == stg_cols["event_id"]["description"]
    runs_cols = manifest["sources"]["source.studentflow.warehouse.pipeline_runs"]["columns"]
    assert "full_refresh" in runs_cols["mode"]["description"] and runs_cols["headers_skipped"]["description"]
    catalog = json.loads((target / "catalog.json").read_text())
    assert "model.studentflow.major_age_distribution" in catalog["nodes"]
    assert (target / "index.html").is_file()
