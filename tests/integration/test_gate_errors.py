"""The gate's error paths on a real dbt-built warehouse: a mart suite that fails, an expectation
that errors (a column the suite checks is gone), and a warehouse that is not there.

One dbt build for the module; each test breaks a COPY of that warehouse through the real CLI
(`studentflow validate` as a subprocess), so the exit code and the output are what CI sees.
"""
from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from studentflow.core import config
from studentflow.core.errors import ExitCode
from tests.support.dbt_warehouse import build_marts
from tests.support import warehouse as aw
from tests.support.stackutil import sf, stack_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("gate_errors")
    settings = config.load(env={}, data_dir=str(base / "data"), state_dir=str(base / "state"),
                           warehouse=str(base / "data" / "warehouse.db"))
    aw.build(settings.warehouse, n=200)
    build_marts(settings)
    return settings.warehouse


def _copy(built: Path, tmp_path: Path) -> tuple[dict, Path]:
    env = stack_env(tmp_path)
    target = Path(env["STUDENTFLOW_WAREHOUSE"])
    target.parent.mkdir(parents=True)
    shutil.copy(built, target)
    return env, target


def _rows(out: str) -> dict[tuple[str, str], tuple[str, str]]:
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in ("pass", "FAIL", "ERROR"):
            rows[(parts[0], parts[1])] = (parts[2], parts[3])
    return rows


def test_a_mart_suite_that_fails(built, tmp_path):
    env, wh = _copy(built, tmp_path)
    con = sqlite3.connect(wh)
    with con:
        con.execute("update major_age_stats set min_age = 3 where major = (select min(major) from major_age_stats)")
    con.close()
    res = sf(env, "validate", "--suite", "major_age_stats", "--no-docs", timeout=300)
    assert res.returncode == 1, res.stdout + res.stderr
    # the gate ran in the test worker's quality worker (its GX imported), with this command's settings
    assert "Great Expectations gate in the quality worker at " in res.stderr
    rows = _rows(res.stdout)
    assert rows[("expect_column_values_to_be_between", "major_age_stats.min_age")] == ("FAIL", "1")
    assert rows[("expect_column_values_to_be_between", "major_age_stats.max_age")] == ("pass", "0")
    assert "Traceback" not in res.stdout + res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("studentflow: error: data quality gate failed")


def test_an_expectation_that_errors(built, tmp_path):
    env, wh = _copy(built, tmp_path)
    con = sqlite3.connect(wh)
    with con:  # the mart loses a column its suite checks: that expectation cannot run at all
        con.execute("create table stats_copy as select major, student_count, min_age, max_age from major_age_stats")
        con.execute("drop table major_age_stats")
        con.execute("alter table stats_copy rename to major_age_stats")
    con.close()
    res = sf(env, "validate", "--suite", "major_age_stats", "--no-docs", timeout=300)
    assert res.returncode == 1, res.stdout + res.stderr
    rows = _rows(res.stdout)
    assert rows[("expect_column_values_to_be_between", "major_age_stats.stddev_age")][0] == "ERROR"
    assert rows[("expect_column_values_to_be_between", "major_age_stats.min_age")][0] == "pass"
    assert "error in expect_column_values_to_be_between (major_age_stats.stddev_age)" in res.stdout
    assert "Traceback" not in res.stdout + res.stderr


def test_no_warehouse_is_a_setup_error_with_what_to_run(tmp_path):
    res = sf(stack_env(tmp_path), "validate", "--no-docs", timeout=120)
    assert res.returncode == ExitCode.SETUP
    assert "studentflow normalize" in res.stderr and "Traceback" not in res.stderr
