"""--json on the commands that report: one JSON object on one line of stdout, the same exit code as
without it, progress and errors on stderr. Real parts: the embedded broker, a Connect worker, dbt.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from studentflow.core.errors import ExitCode
from tests.support import warehouse as aw
from tests.support.stackutil import REPO, force_down, sf, stack_env

pytestmark = pytest.mark.slow
SINK = REPO / "connect" / "connectors" / "staging-sink.json"


def one_object(res) -> dict:
    """stdout is exactly one line holding one JSON object."""
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 1, res.stdout
    obj = json.loads(lines[0])
    assert isinstance(obj, dict)
    return obj


def test_produce_json_is_the_delivery_report(broker, tmp_path):
    env = stack_env(tmp_path, own_spark=True, STUDENTFLOW_BOOTSTRAP_SERVERS=broker.bootstrap)
    res = sf(env, "produce", "--count", "40", "--seed", "3", "--malformed-rate", "0.5", "--json")
    assert res.returncode == 0, res.stderr
    got = one_object(res)
    assert got["ok"] is True and got["attempted"] == got["acked"] == 40 and got["failed"] == 0
    assert got["topic"] == "students.raw" and sum(got["kinds"].values()) == 40 and len(got["kinds"]) > 1
    dry = sf(env, "produce", "--count", "40", "--seed", "3", "--malformed-rate", "0.5", "--dry-run", "--with-kinds")
    kinds: dict[str, int] = {}
    for line in dry.stdout.splitlines():   # a message may hold a newline: count the lines a kind starts
        kind = line.split("\t", 1)[0]
        if kind in got["kinds"] or kind in ("valid", "csv_like"):
            kinds[kind] = kinds.get(kind, 0) + 1
    assert got["kinds"] == kinds   # the same seed, the same messages: the report counts what was sent


def test_transform_report_and_docs_build_json(tmp_path):
    env = stack_env(tmp_path, own_spark=True)   # nothing here uses Spark
    aw.build(tmp_path / "data" / "warehouse.db", n=200, seed=11)
    res = sf(env, "transform", "--json", timeout=600)
    assert res.returncode == 0, res.stderr
    assert "dbt build in the quality worker at" in res.stderr   # the tests' worker (stack_env)
    got = one_object(res)
    assert got["ok"] is True and got["problems"] == [] and got["command"] == "build"
    assert got["marts"]["major_age_stats"] > 0 and got["statuses"].get("pass", 0) > 0
    assert got["warehouse"] == str(tmp_path / "data" / "warehouse.db")
    rep = one_object(sf(env, "report", "--lang", "en", "--json", timeout=300))
    assert rep["lang"] == "en" and rep["files"] and all(Path(f).is_file() for f in rep["files"])
    page = sf(env, "docs", "build", "--no-dbt-docs", "--json", timeout=300)
    assert page.returncode == 0, page.stderr
    assert Path(one_object(page)["index"]).is_file()
    both = sf(env, "transform", "--json", "--verbose")
    assert both.returncode == ExitCode.USAGE and not both.stdout


def test_transform_json_names_a_failing_test_and_exits_1(tmp_path):
    env = stack_env(tmp_path, own_spark=True)   # nothing here uses Spark
    db = tmp_path / "data" / "warehouse.db"
    aw.build(db, n=50, seed=5)
    import sqlite3

    with sqlite3.connect(db) as con:   # an age out of bounds: the staging model's range test fails
        con.execute("UPDATE clean_students SET age = 999 WHERE rowid = (SELECT min(rowid) FROM clean_students)")
    res = sf(env, "transform", "--json", timeout=600)
    assert res.returncode == ExitCode.FAILED, res.stdout + res.stderr
    got = one_object(res)
    assert got["ok"] is False and got["problems"] and all(p["status"] == "fail" for p in got["problems"])
    assert "dbt test(s) failed" in res.stderr


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("json")
    env = stack_env(tmp)   # the worker's shared Spark server, as in test_world_errors: the stack starts none
    sf(env, "stack", "up", check=True, timeout=300)
    yield env
    force_down(env)


def test_connect_validate_and_apply_json(stack, tmp_path):
    env = stack
    name = json.loads(SINK.read_text())["name"]
    ok = sf(env, "connect", "validate", str(SINK), "--json")
    assert ok.returncode == 0 and one_object(ok) == {"ok": True, "valid": [{"connector": name, "file": SINK.name}],
                                                     "invalid": []}
    applied = sf(env, "connect", "apply", str(SINK), "--json", timeout=120)
    got = one_object(applied)
    assert applied.returncode == 0 and got["ok"] is True and got["invalid"] == []
    assert [(a["connector"], a["state"]) for a in got["applied"]] == [(name, "RUNNING")] and got["applied"][0]["tasks"] >= 1
    doc = json.loads(SINK.read_text())
    doc["config"]["tasks.max"] = "not-a-number"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    for action in ("validate", "apply"):
        res = sf(env, "connect", action, str(bad), "--json")
        assert res.returncode == ExitCode.FAILED, (action, res.stderr)
        got = one_object(res)
        assert got["ok"] is False and {e["field"] for e in got["invalid"][0]["errors"]} == {"tasks.max"}
        assert "tasks.max" in res.stderr   # the human lines stay on stderr
    paused = sf(env, "connect", "pause", name, "--json")
    assert one_object(paused) == {"connector": name, "outcome": "PAUSED"}
    assert one_object(sf(env, "connect", "resume", name, "--json")) == {"connector": name, "outcome": "RUNNING"}
    down = sf(env, "stack", "status", "--json")
    assert one_object(down)["running"] is True
