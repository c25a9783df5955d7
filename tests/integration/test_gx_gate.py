"""The Great Expectations gate on a real warehouse built by the real dbt project.

One dbt build per module. The breach test injects the issue's bad rows into a COPY of that
warehouse: `studentflow validate` must exit 1 naming each failing expectation with its unexpected
count, and the dbt tests must fail on the same rows.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3

import pytest

from tests.support import analytics_cli
from tests.support.dbt_warehouse import built, copy_with

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return built(tmp_path_factory.mktemp("gx_good"))


def read_summary(settings) -> dict:
    return json.loads((settings.data_dir / "quality" / "validation.json").read_text(encoding="utf-8"))


def test_validate_passes_on_clean_data_with_docs_summary_and_no_progress_bars(good, capfd):
    settings, _ = good
    code, err = analytics_cli.run(["validate"], settings)
    out, errout = capfd.readouterr()
    assert code == 0, err + out
    summary = read_summary(settings)
    assert summary["success"] is True
    assert summary["statistics"]["unsuccessful"] == 0
    tables = {r["table"] for r in summary["results"]}
    assert tables == {"clean_students", "major_age_stats", "major_avg_age_over_20", "global_summary"}
    assert set(summary["results"][0]) >= {"suite", "table", "column", "expectation", "success", "unexpected_count"}
    assert "expect_column_values_to_be_unique" in out and "clean_students.event_id" in out
    assert (settings.data_dir / "quality" / "docs" / "index.html").is_file()
    # no tqdm / progress bar noise in what CI shows
    for noise in ("Calculating Metrics", "it/s]", "%|"):
        assert noise not in out and noise not in errout


def test_injected_bad_rows_fail_validate_and_dbt_tests(good, tmp_path, capfd):
    _, rows = good
    settings = copy_with(good, tmp_path, [   # marts already built on good data
        dict(event_id="bad-age-12", age=12, major="Chimie"),
        dict(event_id="bad-age-140", age=140, major="Physique"),
        dict(event_id="bad-null-major", age=22, major=None),
        dict(event_id="bad-major-art", age=22, major="Art"),
        dict(event_id=rows[1][0], age=23, major="Economie"),          # duplicates an existing event_id
    ])
    capfd.readouterr()

    code, err = analytics_cli.run(["validate", "--no-docs"], settings)
    out, _ = capfd.readouterr()
    assert code == 1
    expected = {   # (expectation, table.column) -> unexpected count
        ("expect_column_values_to_be_between", "clean_students.age"): 2,
        ("expect_column_values_to_not_be_null", "clean_students.major"): 1,
        ("expect_column_values_to_be_in_set", "clean_students.major"): 1,
        ("expect_column_values_to_be_unique", "clean_students.event_id"): 2,   # both rows sharing the id
    }
    failing = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] == "FAIL":
            failing[(parts[0], parts[1])] = int(parts[3])
    assert failing == expected, out
    for (expectation, where), count in expected.items():
        assert f"{expectation}({where})={count}" in err      # the one-line error names them too
    summary = read_summary(settings)
    assert summary["success"] is False
    assert {(r["expectation"], f"{r['table']}.{r['column']}"): r["unexpected_count"]
            for r in summary["results"] if not r["success"]} == expected

    # dbt's tests fail on the same rows (`studentflow transform` = dbt build)
    code, err = analytics_cli.run(["transform"], settings)
    out, _ = capfd.readouterr()
    assert code == 1, err
    assert "compiled" in err                      # the hint says where the failing tests' SQL is
    results = json.loads((settings.paths.dbt_target / "run_results.json").read_text(encoding="utf-8"))
    by_status: dict[str, list] = {}
    for r in results["results"]:
        by_status.setdefault(r["status"], []).append(r)
    failures = {r["unique_id"].split(".")[2]: r["failures"] for r in by_status["fail"]}
    assert failures == {
        "between_stg_students_age___var_age_max____var_age_min_": 2,
        "not_null_stg_students_major": 1,
        "relationships_stg_students_major__major__ref_majors_": 1,
        "unique_stg_students_event_id": 1,          # dbt counts duplicated values, GX rows
    }, out
    for name, count in failures.items():
        assert f"FAIL  {name}: {count} failing row" in out
    # the marts are not refreshed from bad data: dbt build skips everything downstream
    skipped = {r["unique_id"] for r in by_status["skipped"]}
    assert {"model.studentflow.major_age_stats", "model.studentflow.global_summary"} <= skipped


def test_the_gate_on_one_increment_sees_only_its_rows(good, tmp_path):
    from expectations import gate

    settings = copy_with(good, tmp_path, [dict(event_id="old-bad-age", age=140, run_id="run-old")]
                         + [dict(event_id=f"new-{i}", age=30, run_id="run-new") for i in range(3)])
    whole = gate.run(settings, docs=False)
    assert not whole.success and [(o.table, o.column, o.unexpected_count) for o in whole.failed] == [
        ("clean_students", "age", 1)]
    new = gate.run(settings, docs=False, run_id="run-new")
    # the continuous mode gates every increment through one in-memory context (the whole-table
    # gate above ran the saved project's file context)
    (context,) = gate._LAST_CONTEXT.values()
    (prepared,) = gate._PREPARED.values()
    assert prepared.context is context
    assert new.success, [o for o in new.failed]
    checked = {(o.table, o.expectation) for o in new.outcomes}
    assert ("clean_students", "expect_column_values_to_be_between") in checked
    assert ("clean_students", "expect_table_row_count_to_be_between") not in checked   # an increment may be all quarantine
    old = gate.run(settings, docs=False, run_id="run-old")
    assert [(o.table, o.column, o.unexpected_count) for o in old.failed] == [("clean_students", "age", 1)]
    assert old.failed[0].unexpected_values == [140]   # the offending values asked of this increment's rows
    # prepared once, then only run again with the increment's query: back to the first increment
    again = gate.run(settings, docs=False, run_id="run-new")
    assert again.success and len(again.outcomes) == len(new.outcomes)
    assert [p is prepared for p in gate._PREPARED.values()] == [True]
    # the warehouse made again under the same path (as `run --fresh` does), a bad row in that
    # increment: another file, so the gate is prepared again and sees it
    remade = tmp_path / "remade.db"
    shutil.copyfile(settings.warehouse, remade)
    with sqlite3.connect(remade) as conn:
        conn.execute("UPDATE clean_students SET age = 150 WHERE event_id = 'new-0'")
    os.replace(remade, settings.warehouse)
    fresh = gate.run(settings, docs=False, run_id="run-new")
    assert [(o.column, o.unexpected_values) for o in fresh.failed] == [("age", [150])]
    assert [p is prepared for p in gate._PREPARED.values()] == [False]
    gate.run(settings, docs=False, run_id="run-old")   # the assertions below: the last run's results
    # one context served the increments, and nothing of one run leaked into the next (above)
    assert list(gate._LAST_CONTEXT.values()) == [context]
    # the stored results are the last run's only (one per suite), not the three runs' (the Data Docs show them)
    assert len(context.validation_results_store.list_keys()) == len({o.suite for o in old.outcomes}) == 4
    with pytest.raises(ValueError):
        gate.run(settings, docs=False, run_id="x' OR '1'='1")
