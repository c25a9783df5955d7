"""Two state-changing commands at once in one project: the second waits (or refuses), never collides.

Real processes through the installed `studentflow` script, each project's folders under tmp_path.
"""
from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from studentflow.core import procs
from tests.support.stackutil import REPO, force_down, stack_env, status

pytestmark = pytest.mark.slow

STUDENTFLOW = str(Path(sys.executable).parent / "studentflow")


@pytest.fixture()
def env(tmp_path: Path):
    e = stack_env(tmp_path)
    yield e
    force_down(e)


def _start(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([STUDENTFLOW, *args], env=env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _lock_holder(tmp_path: Path) -> dict:
    try:
        return json.loads((tmp_path / "state" / "studentflow.lock").read_text() or "{}")
    except (OSError, ValueError):
        return {}


def _wait_holder(tmp_path: Path, proc: subprocess.Popen) -> None:
    """Block until ``proc`` holds the project lock (observed, not slept for)."""
    import time
    while _lock_holder(tmp_path).get("pid") != proc.pid:
        assert proc.poll() is None, f"exited early: {proc.communicate()}"
        time.sleep(0.05)


def test_two_stack_ups_start_one_stack(env, tmp_path):
    a = _start(env, "stack", "up")
    _wait_holder(tmp_path, a)
    b = _start(env, "stack", "up")
    out_a, err_a = a.communicate(timeout=180)
    out_b, err_b = b.communicate(timeout=180)
    assert a.returncode == 0 and b.returncode == 0, (err_a, err_b)
    assert "stack ready" in out_a
    assert "waiting for `studentflow stack up` (pid %d" % a.pid in err_b  # it queued behind the first
    assert "already running" in out_b  # and found the stack the first one started
    st = status(env)
    assert st["running"]
    tansus = [p for p in Path("/proc").iterdir() if p.name.isdigit()
              and f"127.0.0.1:{st['broker_port']}" in procs.pid_cmdline(int(p.name))]
    assert len(tansus) == 1  # one broker for this project
    assert "Traceback" not in err_a + err_b

    down = subprocess.run([STUDENTFLOW, "stack", "down"], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert down.returncode == 0 and "broker" in down.stdout
    assert not procs.pid_alive(st["broker_pid"]) and not procs.pid_alive(st["connect_pid"])


def _summary(out: str) -> dict[str, str]:
    rows = {}
    for line in out.split("== summary ==", 1)[-1].splitlines():
        m = re.match(r"\s{2}(\S.*?)\s{2,}(\S+)$", line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


def test_two_runs_finish_one_after_the_other(env, tmp_path):
    first = _start(env, "run", "--count", "2000", "--seed", "11", "--no-gate")
    _wait_holder(tmp_path, first)
    second = _start(env, "run", "--count", "2000", "--seed", "12", "--no-gate")
    out1, err1 = first.communicate(timeout=900)
    out2, err2 = second.communicate(timeout=900)
    assert "Traceback" not in out1 + err1 + out2 + err2
    assert first.returncode == 0, out1[-3000:] + err1[-3000:]
    assert second.returncode == 0, out2[-3000:] + err2[-3000:]
    assert f"waiting for `studentflow run` (pid {first.pid}" in err2
    s1, s2 = _summary(out1), _summary(out2)
    for s in (s1, s2):
        assert s["events produced (acked)"] == "2,000"
        assert s["balance (read = clean+quar.+dup.)"] == "OK"
    # Staging accumulates; normalize is incremental: each run normalizes its own lines, none lost,
    # none read twice. Exact, against the staged bytes (the sink may stage a redelivered line).
    n1, n2 = (int(s["lines normalized"].replace(",", "")) for s in (s1, s2))
    staged = sum(f.read_bytes().count(b"\n") for f in (tmp_path / "data" / "staging").glob("*.txt"))
    assert n1 >= 2000 and n2 >= 2000
    assert n1 + n2 == staged, (n1, n2, staged)
    with sqlite3.connect(env["STUDENTFLOW_WAREHOUSE"]) as conn:
        runs, total = conn.execute("SELECT count(*), sum(lines_read) FROM pipeline_runs").fetchone()
        rows, ids = conn.execute("SELECT count(*), count(DISTINCT event_id) FROM clean_students").fetchone()
    assert runs >= 2 and total == staged
    assert rows == ids == sum(int(s["clean"].replace(",", "")) for s in (s1, s2))   # no event twice
    assert not status(env)["running"]  # each run stopped the stack it started


def test_fail_if_busy_run_refuses_while_a_run_holds_the_project_and_sigterm_stops_cleanly(env, tmp_path):
    import signal

    first = _start(env, "run", "--count", "2000", "--no-gate")
    _wait_holder(tmp_path, first)
    refused = subprocess.run([STUDENTFLOW, "--fail-if-busy", "run", "--count", "2000"], env=env, cwd=REPO,
                             capture_output=True, text=True, timeout=60)
    assert first.poll() is None  # the first run still holds the project
    assert refused.returncode == 3
    assert f"`studentflow run` (pid {first.pid}" in refused.stderr
    assert "Traceback" not in refused.stdout + refused.stderr
    # SIGTERM (`kill PID`): the run unwinds like Ctrl-C and stops the stack it started.
    while not (tmp_path / "state" / "stack.json").exists():
        assert first.poll() is None
        import time
        time.sleep(0.05)
    first.send_signal(signal.SIGTERM)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 130, err
    assert "studentflow: interrupted" in err and "Traceback" not in out + err
    assert not status(env)["running"]
