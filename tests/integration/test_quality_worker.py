"""The stack's quality worker: a run on a running stack hands dbt, the gate and the report to it
(real processes: broker, Connect worker, the tests' Spark server, the worker, dbt, GX)."""
from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studentflow.core import config, procs
from studentflow.pipeline.runner import Runner
from studentflow.pipeline.summary import RunOptions
from tests.support.stackutil import REPO, sf, stack_session, status

pytestmark = pytest.mark.slow


def _marts_and_clean(db: Path) -> tuple[int, int]:
    """(the marts' student count, the clean rows in the warehouse): two tables, counted apart."""
    with sqlite3.connect(db) as con:
        return (con.execute("select student_count from global_summary").fetchone()[0],
                con.execute("select count(*) from clean_students").fetchone()[0])


def _summary(res: subprocess.CompletedProcess) -> dict:
    return json.loads(res.stdout)


def _run_acting_at(env: dict, args: list[str], marker: str, act, *, merged: bool) -> tuple[int, str, str]:
    """`studentflow ARGS`, with ``act(proc, seen_so_far)`` called once a line of its log (stderr,
    or stdout and stderr merged) holds ``marker``; then waited for: (exit code, stdout, the log)."""
    proc = subprocess.Popen([sys.executable, "-m", "studentflow.cli", *args], env=env, cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT if merged else subprocess.PIPE)
    seen = []
    try:
        for line in proc.stdout if merged else proc.stderr:
            seen.append(line)
            if marker in line:
                act(proc, "".join(seen))
                break
        out, rest = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, "" if merged else out, "".join(seen) + (out if merged else rest)


def _kill_worker_mid_job(env: dict, pid: int) -> str:
    """A `run` whose quality worker (pid) is killed -9 once the run has handed its steps over:
    the run's whole output. Fails unless the worker was gone while the run still waited on it."""
    def kill(proc: subprocess.Popen, seen: str) -> None:
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10   # SIGKILL is delivered, then the kernel tears the process down
        while procs.pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        # the worker is gone while the run still waits on its job
        assert not procs.pid_alive(pid) and proc.poll() is None, seen

    code, _, text = _run_acting_at(env, ["run", "--count", "2000"], f"in the stack's quality worker (pid {pid})",
                                   kill, merged=True)
    assert code == 0, text[-3000:]
    return text


def test_the_stacks_quality_worker_serves_runs_a_kill_costs_nothing_and_stack_down_stops_it(tmp_path):
    # one stack for the worker's whole life: serves a run, killed mid-job, restarted, stale, stopped
    with stack_session(tmp_path, up=True, own_quality=True) as env:
        db = tmp_path / "data" / "warehouse.db"
        q = status(env)["quality"]
        assert status(env)["alive"]["quality"] and procs.pid_alive(q["pid"]) and "key" not in q
        record = tmp_path / "state" / "quality.json"
        assert record.stat().st_mode & 0o077 == 0   # it holds the key: the owner's only

        # 1. a run hands transform, validate and report to it
        res = sf(env, "run", "--count", "2000", "--json", "--junit-xml", "junit.xml", timeout=600)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
        assert f"in the stack's quality worker (pid {q['pid']})" in res.stderr
        s = _summary(res)
        assert s["gate_passed"] is True and s["balance_ok"] is True
        assert {"transform", "validate", "report"} <= set(s["stages"])   # the worker's stages, in the summary
        # the worker ran them (its log names the job), on this run's warehouse
        log = Path(q["log"]).read_text()
        assert f"transform, validate, report for {db}" in log
        # ... on the dbt project it parsed for this run while the run's last increment committed
        parsed = log.find(f"dbt's parse ahead of a run's transform for {db} in ")
        assert -1 < parsed < log.index(f"transform, validate, report for {db}"), log
        marts, clean = _marts_and_clean(db)
        assert marts == clean == s["counts"]["clean"] > 0
        # --junit-xml, relative to the run's folder, not the worker's
        junit = Path(s["outputs"]["junit_xml"])
        assert junit == REPO / "junit.xml" and junit.exists()
        junit.unlink()
        # `studentflow transform` (an analyst's rebuild) runs its dbt in the worker too, on its parse
        built = sf(env, "transform", "--json", timeout=600)
        assert built.returncode == 0, built.stderr[-3000:]
        assert f"dbt build in the stack's quality worker (pid {q['pid']})" in built.stderr
        assert f"`studentflow transform`'s dbt build for {db}" in Path(q["log"]).read_text()
        assert json.loads(built.stdout)["marts"]["major_age_stats"] > 0 and json.loads(built.stdout)["ok"] is True

        # 2. killed -9 during the next run's job: that run runs the steps itself, and they pass
        text = _kill_worker_mid_job(env, q["pid"])
        after = text.split("ended during the job; running the steps in this process", 1)
        assert len(after) == 2, text[-3000:]
        assert re.search(r"transform done in [\d.]+s: \d+ models/seeds, \d+ tests passed", after[1])
        assert re.search(r"validate done in [\d.]+s: (\d+)/\1 expectations passed", after[1])
        assert "report done in" in after[1]
        marts, clean = _marts_and_clean(db)
        assert marts == clean > s["counts"]["clean"]

        # 3. the run after it starts a new worker, which builds marts counting every run's rows
        again = sf(env, "run", "--count", "500", "--json", timeout=600)
        assert again.returncode == 0, again.stderr[-3000:]
        new = status(env)["quality"]
        assert new["pid"] != q["pid"] and procs.pid_alive(new["pid"])
        assert f"in the stack's quality worker (pid {new['pid']})" in again.stderr
        assert _marts_and_clean(db) == (clean + _summary(again)["counts"]["clean"],) * 2

        # 4. recorded with the code from before a change (as after a `git pull`): `stack status`
        #    says so, `stack up` starts it again (the next run would too: test_a_worker_from_before...)
        stale = json.loads(record.read_text())
        record.write_text(json.dumps({**stale, "code": "before-a-pull"}))
        assert status(env)["quality"]["code_changed"] is True and new["code_changed"] is False
        shown = sf(env, "stack", "status", check=True).stdout
        assert "from before a change: the next `run` or `stack up` restarts it" in shown
        up = sf(env, "stack", "up", check=True)
        assert (f"the stack's quality worker (pid {new['pid']}) ran studentflow's code from before a change: "
                "started again") in up.stdout + up.stderr
        newer = status(env)["quality"]
        assert newer["pid"] != new["pid"] and procs.pid_alive(newer["pid"]) and newer["code_changed"] is False
        assert not procs.pid_alive(new["pid"])

        # 5. stack down stops it and removes its record
        down = sf(env, "stack", "down", check=True)
        assert f"quality worker (pid {newer['pid']})" in down.stdout
        assert not procs.pid_alive(newer["pid"]) and not record.exists()


def test_a_worker_with_another_key_is_not_used(tmp_path):
    # the tests' shared worker, with a wrong key: the run says so and runs the steps itself
    from tests.support.quality_worker import shared

    address, _key = shared()
    with stack_session(tmp_path, STUDENTFLOW_QUALITY_REMOTE=address, STUDENTFLOW_QUALITY_KEY="0" * 32) as env:
        res = sf(env, "run", "--count", "500", "--json", timeout=600)
        built = sf(env, "transform", timeout=600)   # and a transform runs its dbt itself
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"could not use the quality worker at {address}: AuthenticationError" in res.stderr
    assert _summary(res)["gate_passed"] is True and "validate" in _summary(res)["stages"]
    assert built.returncode == 0, built.stderr[-3000:]
    assert (f"could not use the quality worker at {address} (AuthenticationError); running dbt in this process"
            in built.stderr)
    assert "dbt build:" in built.stdout and "marts: " in built.stdout


def _settings(tmp_path: Path, **env: str) -> config.Settings:
    return config.load(env={"STUDENTFLOW_STATE_DIR": str(tmp_path / "state"),
                            "STUDENTFLOW_DATA_DIR": str(tmp_path / "data"), **env})


def test_which_runs_hand_their_steps_to_a_worker(tmp_path):
    # no stack running and none kept: this process (no worker started for a stack about to stop)
    assert Runner(_settings(tmp_path), RunOptions()).start_quality() is None
    assert not (tmp_path / "state" / "quality.json").exists()
    # a configured worker: that one, whatever the stack, and nothing started
    remote = Runner(_settings(tmp_path, STUDENTFLOW_QUALITY_REMOTE="127.0.0.1:9", STUDENTFLOW_QUALITY_KEY="k"),
                    RunOptions()).start_quality()
    assert remote.address == ("127.0.0.1", 9) and remote.pid == 0
    assert not (tmp_path / "state" / "quality.json").exists()
    # warm_quality off: this process even for a stack the run keeps
    assert Runner(_settings(tmp_path, STUDENTFLOW_WARM_QUALITY="false"), RunOptions(keep_stack=True)).start_quality() is None


def test_a_sigterm_during_the_workers_job_stops_after_its_step_and_the_worker_serves_on(tmp_path):
    # the tests' shared worker (quality_remote): it must serve the next run after this one stops
    with stack_session(tmp_path, up=True) as env:
        # SIGTERM once the steps are handed over: dbt's build has not begun (it takes a second or more)
        code, out, text = _run_acting_at(env, ["run", "--count", "2000", "--json"],
                                         "transform, validate and report in the quality worker at",
                                         lambda proc, _seen: proc.send_signal(signal.SIGTERM), merged=False)
        assert code == 130, text[-3000:]
        stages = _summary(subprocess.CompletedProcess([], 0, out))["stages"]
        # the step in flight finished and is in the summary; the next one never began
        assert "transform" in stages and "validate" not in stages and "report" not in stages, stages
        assert "==> Great Expectations gate" not in text

        again = sf(env, "run", "--no-produce", "--json", timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "in the quality worker at" in again.stderr and {"validate", "report"} <= set(_summary(again)["stages"])


def test_a_worker_started_by_hand_without_a_key_says_what_to_set():
    env = {k: v for k, v in os.environ.items() if k != "STUDENTFLOW_QUALITY_KEY"}
    res = subprocess.run([sys.executable, "-m", "studentflow.pipeline.quality_service", "--port", "1"], env=env,
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert res.stderr.strip() == ("error: STUDENTFLOW_QUALITY_KEY is not set -> set it to the key runs will use "
                                  "(quality_key)")


def test_the_code_version_follows_every_python_file_of_the_packages(tmp_path, monkeypatch):
    from studentflow import quality

    for package in quality.CODE_PACKAGES:
        (tmp_path / package / "sub").mkdir(parents=True)
        (tmp_path / package / "sub" / "mod.py").write_text("x = 1\n")
    (tmp_path / "studentflow" / "notes.txt").write_text("not code")
    monkeypatch.setattr(quality, "CODE_ROOT", tmp_path)
    first = quality.code_version()
    assert quality.code_version() == first
    (tmp_path / "studentflow" / "notes.txt").write_text("still not code")
    assert quality.code_version() == first
    edited = tmp_path / "spark_jobs" / "sub" / "mod.py"
    edited.write_text("x = 2\n")   # same size: the mtime tells
    os.utime(edited, ns=(edited.stat().st_atime_ns, edited.stat().st_mtime_ns + 1))
    assert quality.code_version() != first


def test_a_worker_from_before_a_code_change_is_restarted_or_refuses_the_job(tmp_path, monkeypatch):
    """The stack's worker, recorded with an older code version: the next run's ensure() stops it and
    starts one of the current code. A worker started elsewhere (the tests' shared one) refuses a
    job from other code, and the run runs the steps itself."""
    from studentflow import quality
    from studentflow.core.endpoints import QualityState
    from studentflow.pipeline import quality_service
    from studentflow.pipeline.step import RunContext
    from tests.support.quality_worker import shared

    settings = _settings(tmp_path)
    old = quality.start(settings, tie_to_parent=True)
    assert old.code == quality.code_version()
    QualityState(**{**vars(old), "code": "before-a-pull"}).write(settings)
    said: list[str] = []
    try:
        new = quality.ensure(settings, said.append)
        assert new.pid != old.pid and procs.pid_alive(new.pid) and new.code == quality.code_version()
        assert QualityState.read(settings) == new
        assert not procs.pid_alive(old.pid)
        assert said == [f"the stack's quality worker (pid {old.pid}) ran studentflow's code from before a change: "
                        "started again"]
        assert quality.ensure(settings, said.append) == new and len(said) == 1   # current code: kept
    finally:
        quality.stop_recorded(settings)
        procs.stop_pid(old.pid, timeout=5)

    address, key = shared()
    notes: list[str] = []
    ctx = RunContext(settings, RunOptions(), say=notes.append)
    monkeypatch.setattr(quality_service, "code_version", lambda: "a-run-after-a-change")
    assert quality_service.QualityClient(address, key).run_steps(ctx, []) is False
    assert notes[1:] == [f"    the quality worker at {address} refused the job (it runs studentflow's code from "
                     "before a change: restart it); running the steps in this process"]
