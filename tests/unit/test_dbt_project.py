"""The dbt project's structure and the transform command's wiring (no dbt run: fast)."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml

from studentflow.transform import runner as dbt_runner
from studentflow.core import config, contract
from studentflow.core.errors import ExitCode
from tests.support import analytics_cli
from tests.support import warehouse as aw

PROJECT = dbt_runner.DBT_PROJECT
MART_COLUMNS = {
    "major_age_stats": ["major", "student_count", "avg_age", "min_age", "max_age", "stddev_age", "median_age"],
    "major_avg_age_over_20": ["major", "student_count", "avg_age"],
    "global_summary": ["major_count", "student_count", "avg_age_weighted", "avg_age_of_major_means",
                       "quarantine_count", "quarantine_rate", "duplicates_removed", "last_run_id"],
}


def test_var_defaults_match_the_contract_and_the_settings():
    project = yaml.safe_load((PROJECT / "dbt_project.yml").read_text(encoding="utf-8"))
    defaults = config.Settings()
    assert project["vars"] == {"age_min": contract.AGE_MIN, "age_max": contract.AGE_MAX, "over_age": contract.OVER_AGE}
    assert (defaults.age_min, defaults.age_max) == (contract.AGE_MIN, contract.AGE_MAX)
    assert dbt_runner.dbt_vars(defaults) == project["vars"]


def test_profile_reads_the_warehouse_from_the_settings_variable():
    profile = yaml.safe_load((PROJECT / "profiles.yml").read_text(encoding="utf-8"))
    out = profile["studentflow"]["outputs"]["warehouse"]
    assert out["type"] == "sqlite" and out["threads"] == 1 and out["schema"] == "main"
    assert "env_var('STUDENTFLOW_WAREHOUSE'" in out["schemas_and_paths"]["main"]
    assert "/work/" not in (PROJECT / "profiles.yml").read_text(encoding="utf-8")


def test_every_model_has_its_own_yaml_with_described_columns():
    models = sorted(PROJECT.glob("models/**/*.sql"))
    assert {m.stem for m in models} >= {"stg_students", *MART_COLUMNS}
    for sql in models:
        doc = yaml.safe_load(sql.with_suffix(".yml").read_text(encoding="utf-8"))
        (model,) = doc["models"]
        assert model["name"] == sql.stem and model["description"].strip()
        assert all(c.get("description") for c in model["columns"]), sql.stem
        code = "\n".join(line.split("--")[0] for line in sql.read_text(encoding="utf-8").splitlines())
        assert not re.search(r"\b(SELECT|FROM|WHERE|GROUP|ORDER|JOIN|WITH|AS|CASE|WHEN|END|AND|OR)\b", code), sql.stem
        assert "with " in code, f"{sql.stem}: CTE chain expected"


def test_marts_keep_the_analysts_column_names():
    for mart, columns in MART_COLUMNS.items():
        doc = yaml.safe_load((PROJECT / "models" / "marts" / f"{mart}.yml").read_text(encoding="utf-8"))
        assert [c["name"] for c in doc["models"][0]["columns"]] == columns


def test_generic_tests_use_arguments_key():
    """dbt 1.11 wants generic test arguments under `arguments:` (no deprecation warnings)."""
    for yml in PROJECT.glob("models/**/*.yml"):
        text = yml.read_text(encoding="utf-8")
        for match in re.finditer(r"^\s+- (between|relationships|accepted_values|row_count):\n(\s+)(\w+):", text, re.M):
            assert match.group(3) == "arguments", (yml.name, match.group(0))


def test_dbt_args_pass_settings(tmp_path):
    settings = config.load(env={}, data_dir=str(tmp_path / "data"), warehouse=str(tmp_path / "w.db"),
                           age_min=18, age_max=65)
    argv = dbt_runner.dbt_args(settings, ["build", "--select", "stg_students"])
    assert argv[:3] == ["build", "--select", "stg_students"]
    assert json.loads(argv[argv.index("--vars") + 1]) == {"age_min": 18, "age_max": 65, "over_age": contract.OVER_AGE}
    assert argv[argv.index("--target-path") + 1] == str(tmp_path / "data" / "dbt" / "target")
    assert dbt_runner.dbt_env(settings)["STUDENTFLOW_WAREHOUSE"] == str(tmp_path / "w.db")


def test_transform_without_warehouse_is_a_setup_error_and_creates_nothing(settings):
    code, err = analytics_cli.run(["transform"], settings)
    assert code == ExitCode.SETUP
    assert "does not exist" in err and "studentflow normalize" in err
    assert not settings.warehouse.exists()


def test_validate_without_marts_is_a_setup_error(settings):
    aw.build(settings.warehouse, n=10)          # the Spark tables, but dbt has not run
    code, err = analytics_cli.run(["validate"], settings)
    assert code == ExitCode.SETUP
    assert "major_age_stats" in err and "studentflow transform" in err


def test_validate_without_warehouse_is_a_setup_error(settings):
    code, err = analytics_cli.run(["validate"], settings)
    assert code == ExitCode.SETUP and "does not exist" in err
    assert not settings.warehouse.exists()


def test_help_imports_neither_dbt_nor_great_expectations():
    code = ("import sys; from studentflow import cli; p = cli.build_parser(); "
            "names = p._subparsers._group_actions[0].choices; "
            "assert 'transform' in names and 'validate' in names, names; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dbt', 'great_expectations')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
