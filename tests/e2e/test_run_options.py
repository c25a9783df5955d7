"""`studentflow run` options a user reaches for, each with what it must (and must not) do.

--fresh (and its refusal while a stack runs), --no-produce with and without a stack, --keep-stack,
--no-gate and a gate that fails (exit 1). SIGTERM is covered by test_run.py and
tests/integration/test_concurrency.py.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from studentflow.core.errors import ExitCode
from tests.support.stackutil import REPO, force_down, sf, stack_env, status, stack_session

pytestmark = pytest.mark.slow


@pytest.fixture()
def env(tmp_path: Path):
    with stack_session(tmp_path) as e:
        yield e


def _summary(out: str) -> dict[str, int]:
    rows = {}
    for line in out.split("== summary ==", 1)[-1].splitlines():
        m = re.match(r"\s{2}(\S.*?)\s{2,}([\d,]+)$", line)
        if m:
            rows[m.group(1)] = int(m.group(2).replace(",", ""))
    return rows


def _dry(count: int, seed: int) -> list[bytes]:
    """The lines `studentflow produce --count N --seed S` sends, one per message."""
    dry = subprocess.run([sys.executable, "-m", "studentflow.cli", "produce", "--count", str(count), "--seed",
                          str(seed), "--dry-run"], cwd=REPO, capture_output=True, check=True, timeout=120)
    return dry.stdout.split(b"\n")[:-1]


def _stage(tmp_path: Path, count: int, seed: int) -> list[bytes]:
    """Put ``count`` generated lines straight into staging (what an earlier sink left there)."""
    lines = _dry(count, seed)
    staging = tmp_path / "data" / "staging"
    staging.mkdir(parents=True, exist_ok=True)
    (staging / "students.raw.txt").write_bytes(b"".join(l + b"\n" for l in lines))
    return lines


def test_fresh_is_refused_while_a_stack_runs(env, tmp_path):
    lines = _stage(tmp_path, 50, 1)
    sf(env, "stack", "up", check=True)
    res = sf(env, "run", "--fresh", "--count", "10")
    assert res.returncode == ExitCode.SETUP   # the running stack is in the way: a setup error, not usage
    assert "--fresh would delete staging files the running sink is writing" in res.stderr
    assert "studentflow stack down" in res.stderr and "Traceback" not in res.stdout + res.stderr
    staged = (tmp_path / "data" / "staging" / "students.raw.txt").read_bytes().split(b"\n")[:-1]
    assert staged == lines  # nothing deleted
    assert status(env)["running"]  # and the stack it did not start is left alone


def test_no_produce_without_a_stack_normalizes_staging_only(env, tmp_path):
    lines = _stage(tmp_path, 300, 2)
    res = sf(env, "run", "--no-produce", "--no-gate", timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "--no-produce and no stack running" in res.stdout
    s = _summary(res.stdout)
    assert "events produced (acked)" not in s
    assert s["lines normalized"] == len(lines)
    assert s["clean"] + s["quarantined"] + s["duplicates removed"] == len(lines)
    assert not status(env)["running"]  # no stack was started
    assert "Traceback" not in res.stdout + res.stderr


def test_no_produce_with_a_stack_drains_the_topic_and_leaves_the_stack(env, tmp_path):
    sf(env, "stack", "up", check=True)
    sf(env, "connect", "apply", check=True)
    sf(env, "produce", "--count", "400", "--seed", "3", check=True)
    res = sf(env, "run", "--no-produce", "--no-gate", timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "draining what is on the topic into staging" in res.stdout
    s = _summary(res.stdout)
    assert "events produced (acked)" not in s   # --no-produce: nothing produced by the run
    # the run normalized exactly what staging holds, and staging holds the 400 produced messages
    # (each at least once: the sink is at-least-once) and nothing else
    staged = [l for f in sorted((tmp_path / "data" / "staging").glob("*.txt"))
              for l in f.read_bytes().split(b"\n")[:-1]]
    produced = _dry(400, 3)
    assert s["lines normalized"] == len(staged), (s, len(staged))
    assert set(staged) == set(produced) and len(staged) >= len(produced)
    assert s["clean"] + s["quarantined"] + s["duplicates removed"] == len(staged)
    assert status(env)["running"]  # run did not start this stack, so it does not stop it


def test_keep_stack_then_fresh_after_stack_down(env, tmp_path):
    res = sf(env, "run", "--count", "500", "--seed", "4", "--keep-stack", "--no-gate", timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert _summary(res.stdout)["events produced (acked)"] == 500
    assert status(env)["running"]  # kept
    sf(env, "stack", "down", check=True)
    again = sf(env, "run", "--fresh", "--count", "200", "--seed", "5", "--no-gate", timeout=600)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert "fresh start: staging files and warehouse removed" in again.stdout
    assert _summary(again.stdout)["lines normalized"] >= 200
    assert _summary(again.stdout)["lines normalized"] < 700  # the first run's 500 lines are gone


def test_a_failing_gate_exits_1(env, tmp_path):
    # Every generated age is below 90: with age_min 90 nothing is clean, and the gate's
    # "clean_students has at least one row" expectation breaks.
    lines = _stage(tmp_path, 200, 6)
    res = sf(dict(env, STUDENTFLOW_AGE_MIN="90"), "run", "--no-produce", timeout=600)
    assert res.returncode == 1, res.stdout[-2000:] + res.stderr[-2000:]
    # the gate itself failed (dbt built and passed: no student is not a dbt failure) ...
    assert "data-quality gate FAILED" in res.stdout, res.stdout[-3000:] + res.stderr[-2000:]
    assert "dbt build failed" not in res.stdout + res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    # ... on the expectation that breaks: clean_students has no row
    assert re.search(r"^\s+expect_table_row_count_to_be_between\s+clean_students\s+FAIL\b", res.stdout, re.M), \
        res.stdout[-3000:]
    s = _summary(res.stdout)
    assert s["lines normalized"] == len(lines) == 200 and s["clean"] == 0
