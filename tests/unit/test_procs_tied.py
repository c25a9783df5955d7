"""Processes tied to their owner (procs.spawn(tie_to_parent=True)): they die with it, and starting
them runs no library's fork handlers in an owner that holds gRPC threads (the Spark Connect client)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from studentflow.core.procs import pid_alive

OWNER = """
import sys, threading, time, tempfile, pathlib
import grpc
from studentflow.core import procs

def busy():   # gRPC calls in flight on other threads, as during a Spark Connect query
    while True:
        try:
            grpc.channel_ready_future(grpc.insecure_channel("127.0.0.1:1")).result(timeout=0.05)
        except Exception:
            pass

for _ in range(3):
    threading.Thread(target=busy, daemon=True).start()
time.sleep(0.3)
log = pathlib.Path(tempfile.mkdtemp()) / "child.log"
codes = [procs.spawn(["true"], log, tie_to_parent=True).wait() for _ in range(int(sys.argv[1]))]
print("codes", sorted(set(codes)), flush=True)
child = procs.spawn(["sleep", "600"], log, tie_to_parent=True)
print("child", child.pid, flush=True)
time.sleep(600)
"""


def _owner_killed(script: str, tmp: Path, *args: str) -> tuple[list[str], str]:
    """Run ``script`` as an owner process until it prints ``child PID``; check that child is alive,
    kill the owner with -9 and check the child dies within 10 s. Returns the owner's lines before
    the child's, and its stderr. The owner's temp folders go under ``tmp`` (a killed owner cleans nothing)."""
    owner = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(tmp)})
    try:
        lines = []
        for line in owner.stdout:
            if line.startswith("child "):
                break
            lines.append(line.strip())
        else:
            raise AssertionError(f"the owner printed no child: {owner.stderr.read()[-2000:]}")
        child = int(line.split()[1])
        assert pid_alive(child)
        cmdline = open(f"/proc/{child}/cmdline", "rb").read()
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(timeout=10)
        deadline = time.monotonic() + 10
        while pid_alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pid_alive(child), f"the tied child outlived its owner: {cmdline!r}"
        return lines, owner.stderr.read()
    finally:
        if owner.poll() is None:
            owner.kill()


def test_a_tied_child_dies_with_its_owner_and_its_start_runs_no_fork_handlers(tmp_path):
    lines, err = _owner_killed(OWNER, tmp_path, "40")
    assert lines == ["codes [0]"]
    # a preexec_fn made Python fork() and gRPC run its fork handlers (it logs them; one
    # aborted a broker's start): the children are started without them
    assert "fork" not in err, err[-2000:]


FALLBACK_OWNER = """
import tempfile, time, pathlib
from studentflow.core import procs

procs.shutil.which = lambda name: None   # a system without util-linux's setpriv
assert procs._tied(["sleep", "1"])[1] is not None, "the fallback was not taken"
child = procs.spawn(["sleep", "600"], pathlib.Path(tempfile.mkdtemp()) / "child.log", tie_to_parent=True)
assert b"setpriv" not in open(f"/proc/{child.pid}/cmdline", "rb").read()
print("child", child.pid, flush=True)
time.sleep(600)
"""


def test_without_setpriv_a_tied_child_still_dies_with_its_owner(tmp_path):
    """The fallback (a preexec_fn that sets the parent-death signal) where setpriv is missing."""
    _owner_killed(FALLBACK_OWNER, tmp_path)
