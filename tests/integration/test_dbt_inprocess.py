"""dbt in this process (studentflow.transform.runner.run_dbt): the partial-parse file left in
<data_dir>/dbt/target spares the next process a full parse, a changed model is parsed again and
takes effect, and failures still come back as a non-ok outcome.

Each "next process" is a real new Python process, so nothing parsed stays in memory between runs.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from studentflow.core import config
from studentflow.transform import runner as dbt_runner
from tests.support import warehouse as aw

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]

# run_dbt in a new interpreter; prints the outcome and whether dbt was imported into it
CHILD = """
import json, sys
from pathlib import Path
from studentflow.core import config
from studentflow.transform import runner as dbt_runner
kw, command, project = json.loads(sys.argv[1])
settings = config.load(env={}, **kw)
outcome = dbt_runner.run_dbt(settings, command, **({"project_dir": Path(project)} if project else {}))
print(json.dumps({"returncode": outcome.returncode, "statuses": [r["status"] for r in outcome.results],
                  "in_process": "dbt.cli.main" in sys.modules}))
"""


def _settings(base: Path, **extra) -> tuple[config.Settings, dict]:
    kw = dict(data_dir=str(base / "data"), state_dir=str(base / "state"), warehouse=str(base / "data" / "warehouse.db"),
              **extra)
    return config.load(env={}, **kw), kw


def _run_in_new_process(kw: dict, command: list[str], project: Path | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STUDENTFLOW_", "DBT_"))}
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps([kw, command, str(project) if project else None])],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _last_invocation(settings: config.Settings) -> str:
    """dbt.log's lines of the latest dbt invocation (the file logs every invocation at debug level)."""
    logs = settings.paths.dbt_logs
    text = (logs / "dbt.log").read_text(encoding="utf-8")
    return text[text.rindex("Running with dbt="):]


MARKED = "models/marts/major_avg_age_over_20.sql"


def _copied_project(tmp_path: Path) -> Path:
    project = tmp_path / "dbt_project"
    shutil.copytree(dbt_runner.DBT_PROJECT, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    return project


def _mark(project: Path, marker: str) -> None:
    """An edit of one mart in ``project``: a column ``marker`` holding ``marker`` (the original's
    text, edited afresh each time)."""
    sql = (dbt_runner.DBT_PROJECT / MARKED).read_text(encoding="utf-8")
    assert "        major,\n" in sql
    (project / MARKED).write_text(sql.replace("        major,\n", f"        major,\n        '{marker}' as marker,\n", 1),
                                  encoding="utf-8")


def _markers(warehouse: Path) -> set[str]:
    con = sqlite3.connect(warehouse)
    try:
        return {m for (m,) in con.execute("select marker from major_avg_age_over_20")}
    finally:
        con.close()


def test_a_new_process_reuses_the_last_parse(tmp_path):
    settings, kw = _settings(tmp_path)
    aw.build(settings.warehouse, n=120, seed=4)
    before = os.environ.get("STUDENTFLOW_WAREHOUSE")
    first = dbt_runner.run_dbt(settings, ["build"])
    assert first.ok, first.output[-3000:]
    assert os.environ.get("STUDENTFLOW_WAREHOUSE") == before     # the profile's variable is put back
    assert "Running with dbt=" in first.output and "Completed successfully" in first.output
    partial = settings.paths.dbt_target / "partial_parse.msgpack"
    written = partial.stat().st_mtime_ns

    second = _run_in_new_process(kw, ["build"])
    assert second["returncode"] == 0 and second["in_process"]
    assert "success" in second["statuses"] and not {"fail", "error", "runtime error"} & set(second["statuses"])
    log = _last_invocation(settings)
    # vars, the profile and the warehouse variable compare equal: no full parse, nothing re-parsed
    assert "Unable to do partial parsing" not in log
    assert "Nothing changed, skipping partial parsing." in log
    assert partial.stat().st_mtime_ns == written


def test_a_changed_model_is_parsed_again_and_takes_effect(tmp_path):
    project = _copied_project(tmp_path)
    settings, kw = _settings(tmp_path)
    aw.build(settings.warehouse, n=120, seed=5)
    command = ["run", "--select", "+major_avg_age_over_20"]
    assert dbt_runner.run_dbt(settings, command, project_dir=project).ok

    _mark(project, "edited")

    child = _run_in_new_process(kw, command, project)
    assert child["returncode"] == 0, child
    log = _last_invocation(settings)
    assert "Unable to do partial parsing" not in log
    assert "0 files deleted, 0 files added, 1 files changed" in log
    assert _markers(settings.warehouse) == {"edited"}


def test_a_failing_dbt_test_is_a_non_ok_outcome_with_problems(tmp_path):
    settings, _ = _settings(tmp_path, age_min=30)    # rows aged 15..29 fail `between`
    aw.build(settings.warehouse, n=120, seed=6)
    outcome = dbt_runner.run_dbt(settings, ["build", "--select", "stg_students"])
    assert not outcome.ok and outcome.returncode == 1
    failing = [r["unique_id"] for r in outcome.problems if r["status"] == "fail"]
    assert any("between_stg_students_age" in u for u in failing), outcome.problems
    assert "FAIL" in outcome.output
    assert any(line.lstrip().startswith("FAIL") for line in dbt_runner.summarize(outcome)[1:])


def test_a_broken_model_stops_dbt_with_its_error_in_the_output(tmp_path):
    project = _copied_project(tmp_path)
    (project / "models" / "marts" / "global_summary.sql").write_text("select {{ ref('no_such_model') }}\n",
                                                                       encoding="utf-8")
    settings, _ = _settings(tmp_path)
    aw.build(settings.warehouse, n=20, seed=7)
    outcome = dbt_runner.run_dbt(settings, ["build"], project_dir=project)
    assert outcome.returncode == 2 and not outcome.results
    assert "no_such_model" in outcome.output


def test_a_long_lived_process_builds_on_its_parse_until_a_model_changes(tmp_path):
    """The quality worker's builds (reuse_parse): one parse per project state and settings, the
    manifest written by that parse only, run_results.json written for every build."""
    project = _copied_project(tmp_path)
    settings, _ = _settings(tmp_path)
    aw.build(settings.warehouse, n=120, seed=8)
    target = settings.paths.dbt_target

    first = dbt_runner.run_dbt(settings, ["build"], project_dir=project, reuse_parse=True)
    assert first.ok, first.output[-3000:]
    parsed = dbt_runner.parsed_manifest(settings, project)
    assert parsed is not None and (target / "manifest.json").is_file()
    manifest_written = (target / "manifest.json").stat().st_mtime_ns
    (target / "run_results.json").unlink()

    second = dbt_runner.run_dbt(settings, ["build"], project_dir=project, reuse_parse=True)
    assert second.ok and len(second.results) == len(first.results) > 0
    written = json.loads((target / "run_results.json").read_text(encoding="utf-8"))
    assert sorted(r["unique_id"] for r in written["results"]) == sorted(r["unique_id"] for r in first.results)
    assert "Running with dbt=" in second.output and "Completed successfully" in second.output
    assert dbt_runner.parsed_manifest(settings, project) is parsed                # not parsed again
    assert (target / "manifest.json").stat().st_mtime_ns == manifest_written      # nor written again
    assert not dbt_runner.project_changed(settings, project)

    # other settings (another age bound: another dbt var) are another parse
    other, _ = _settings(tmp_path / "other", age_min=16)
    assert dbt_runner.parsed_manifest(other, project) is not parsed

    _mark(project, "edited")
    assert not dbt_runner.project_changed(settings, project)   # the last parse was of the other settings
    assert dbt_runner.project_changed(other, project)
    dbt_runner.parsed_manifest(settings, project)               # back to these: parsed again, with the edit
    _mark(project, "edited twice")
    assert dbt_runner.project_changed(settings, project)

    third = dbt_runner.run_dbt(settings, ["build"], project_dir=project, reuse_parse=True)
    assert third.ok, third.output[-3000:]
    assert dbt_runner.parsed_manifest(settings, project) is not parsed
    assert (target / "manifest.json").stat().st_mtime_ns > manifest_written
    assert _markers(settings.warehouse) == {"edited twice"}


def test_another_data_folder_builds_on_the_same_parse_in_its_own_warehouse(tmp_path):
    """A process that serves several data folders (a quality worker shared by several projects'
    runs) parses once: the parse reads neither the warehouse nor the target folder. Another folder
    gets its manifest.json written from memory, and its build writes its own warehouse only."""
    project = _copied_project(tmp_path)
    first, _ = _settings(tmp_path / "first")
    second, _ = _settings(tmp_path / "second")
    aw.build(first.warehouse, n=120, seed=8)
    aw.build(second.warehouse, n=40, seed=9)
    parsed = dbt_runner.parsed_manifest(first, project)
    assert parsed is not None
    built_first = dbt_runner.run_dbt(first, ["build"], project_dir=project, reuse_parse=True)
    assert built_first.ok, built_first.output[-3000:]
    first_marts = sqlite3.connect(first.warehouse).execute("select * from global_summary").fetchall()
    assert not (second.paths.dbt_target / "manifest.json").exists()

    assert dbt_runner.parsed_manifest(second, project) is parsed                   # not parsed again
    written = json.loads((second.paths.dbt_target / "manifest.json").read_text(encoding="utf-8"))
    assert "model.studentflow.major_age_stats" in written["nodes"]                  # what the report reads
    built_second = dbt_runner.run_dbt(second, ["build"], project_dir=project, reuse_parse=True)
    assert built_second.ok and len(built_second.results) == len(built_first.results), built_second.output[-3000:]
    summary = lambda db: sqlite3.connect(db).execute("select student_count, quarantine_count from global_summary").fetchone()  # noqa: E731
    assert summary(second.warehouse) == (40, 5) and summary(first.warehouse) == (120, 5)   # each its own rows
    assert sqlite3.connect(first.warehouse).execute("select * from global_summary").fetchall() == first_marts

    # a manifest.json deleted since is written again, still without a parse
    (second.paths.dbt_target / "manifest.json").unlink()
    assert dbt_runner.parsed_manifest(second, project) is parsed
    assert (second.paths.dbt_target / "manifest.json").is_file()
    # while a changed project is parsed again, for whichever folder asks
    _mark(project, "edited")
    assert dbt_runner.parsed_manifest(first, project) is not parsed
