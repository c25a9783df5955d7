"""The project lock with real processes: a holder, a waiter, a refusal, a holder killed with -9.

The holder is a small Python process that takes ``project_lock`` and waits for a file to appear;
the other side is the real `studentflow` CLI (commands that need no broker: `stack down` with no
stack, `stack status`, `config`).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from studentflow import lock
from studentflow.core import config
from studentflow.core.errors import ExitCode
from studentflow.cli import build_parser, locked_command
from tests.support.stackutil import REPO, stack_env

HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from studentflow import lock
    from studentflow.core import config
    s = config.load()
    with lock.project_lock(s, sys.argv[1]):
        print("held", flush=True)
        release = Path(sys.argv[2])
        while not release.exists():
            time.sleep(0.02)
""")


def _holder(env: dict, release: Path, command: str = "run") -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, command, str(release)], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def _cli(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "studentflow.cli", *args], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_line(proc: subprocess.Popen, needle: str) -> str:
    """Read stderr lines until one contains ``needle`` (the waiter has announced itself)."""
    while True:
        line = proc.stderr.readline()
        assert line, f"process ended without saying {needle!r}"
        if needle in line:
            return line


@pytest.fixture()
def env(tmp_path: Path) -> dict:
    return stack_env(tmp_path)


def test_fail_if_busy_refuses_with_exit_3_naming_the_holder(env, tmp_path):
    release = tmp_path / "release"
    holder = _holder(env, release, "run")
    try:
        res = subprocess.run([sys.executable, "-m", "studentflow.cli", "--fail-if-busy", "stack", "down"], env=env,
                             cwd=REPO, capture_output=True, text=True, timeout=60)
        assert res.returncode == ExitCode.BUSY == 3
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in res.stderr
        assert f"`studentflow run` (pid {holder.pid}, started " in lines[0] and "--fail-if-busy" in lines[0]
        # The old spelling still works for one release, with a deprecation line first.
        old = subprocess.run([sys.executable, "-m", "studentflow.cli", "--no-wait", "stack", "down"], env=env,
                             cwd=REPO, capture_output=True, text=True, timeout=60)
        assert old.returncode == ExitCode.BUSY
        assert old.stderr.splitlines()[0] == "studentflow: `--no-wait` before the command is deprecated: use --fail-if-busy"
        # Read-only commands never wait, even while the lock is held.
        for args in (("stack", "status"), ("config",), ("--fail-if-busy", "stack", "status")):
            ro = subprocess.run([sys.executable, "-m", "studentflow.cli", *args], env=env, cwd=REPO,
                                capture_output=True, text=True, timeout=60)
            assert ro.returncode in (0, 1) and "waiting for" not in ro.stderr, (args, ro.stderr)
    finally:
        release.touch()
        holder.wait(timeout=30)


def test_second_command_waits_then_runs(env, tmp_path):
    release = tmp_path / "release"
    holder = _holder(env, release, "stack up")
    waiter = _cli(env, "stack", "down")
    try:
        line = _wait_for_line(waiter, "waiting for")
        assert f"`studentflow stack up` (pid {holder.pid}" in line
        assert waiter.poll() is None  # it is blocked on the lock, not finished
    finally:
        release.touch()
    out, err = waiter.communicate(timeout=60)
    assert holder.wait(timeout=30) == 0
    assert waiter.returncode == 0, err
    assert "no stack running" in out and "Traceback" not in err
    # The lock file now names the last holder: the `stack down` that waited.
    info = lock.holder(config.load(env={k: v for k, v in env.items() if k.startswith("STUDENTFLOW_")}))
    assert info["command"] == "stack down" and info["pid"] == waiter.pid


def test_a_killed_holder_releases_the_lock(env, tmp_path):
    holder = _holder(env, tmp_path / "never", "transform")
    waiter = _cli(env, "stack", "down")
    try:
        _wait_for_line(waiter, "waiting for")
        os.kill(holder.pid, signal.SIGKILL)  # no cleanup runs: the kernel drops the flock
        holder.wait(timeout=10)
        out, err = waiter.communicate(timeout=60)
    finally:
        if holder.poll() is None:
            holder.kill()
        if waiter.poll() is None:
            waiter.kill()
    assert waiter.returncode == 0, err
    assert "no stack running" in out


def test_reentrant_in_one_process_and_not_inherited(settings, tmp_path):
    with lock.project_lock(settings, "run"):
        assert lock.is_held(settings)
        # run -> stack.up: no self-deadlock. wait=False, so a lock that is not re-entrant raises
        # LockBusy here instead of blocking the test forever.
        with lock.project_lock(settings, "stack up", wait=False):
            assert lock.is_held(settings)
        assert lock.is_held(settings)
        # A child started under the lock (here with every descriptor kept open, as os.system or a
        # library's launcher would) does not inherit it: it sees the lock taken, and once this
        # process lets go, the lock is free although the child still runs.
        child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
            import fcntl, os, sys
            fd = os.open({str(settings.paths.lock)!r}, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                print("free", flush=True)
            except BlockingIOError:
                print("busy", flush=True)
            os.close(fd)
            sys.stdin.read()   # stays alive until the test closes its stdin
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, close_fds=False)
        try:
            assert child.stdout.readline().strip() == "busy"
            assert json.loads(settings.paths.lock.read_text())["command"] == "run"
        except BaseException:
            child.kill()
            child.wait()
            raise
    try:
        assert not lock.is_held(settings)
        assert child.poll() is None   # the child outlives the block
        entered = []
        with lock.project_lock(settings, "report", wait=False):  # free again: no LockBusy
            entered.append(True)
        assert entered == [True]
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    assert child.returncode == 0


@pytest.mark.parametrize("argv, expected", [
    (["run"], "run"), (["stack", "up"], "stack up"), (["stack", "down"], "stack down"),
    (["stack", "status"], None), (["connect", "status"], None), (["connect", "lag"], None),
    (["connect", "apply"], "connect apply"), (["connect", "delete", "x"], "connect delete"),
    (["connect", "pause", "x"], "connect pause"), (["connect", "offsets", "x"], None),
    (["connect", "offsets", "x", "--reset"], "connect offsets"), (["config"], None),
    (["docs", "serve"], None), (["docs", "build"], "docs build"), (["validate"], "validate"),
    (["transform"], "transform"), (["report"], "report"), (["produce"], None),
])
def test_which_commands_take_the_lock(argv, expected):
    assert locked_command(build_parser().parse_args(argv)) == expected
