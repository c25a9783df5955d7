"""`studentflow run --follow` as a service manager runs it: started, waited on, stopped by SIGTERM."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

from tests.support.stackutil import REPO


def start_follow(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "studentflow.cli", "run", "--follow", "--json", *args], env=env,
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(predicate, proc: subprocess.Popen, timeout: float = 300) -> None:
    """Wait for the loop to reach a state; a loop that died or never gets there is killed."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _out, err = proc.communicate()
            raise AssertionError(f"the follow loop ended or timed out before the expected state:\n{err[-3000:]}")
        time.sleep(0.5)


def sigterm(proc: subprocess.Popen) -> tuple[str, str]:
    """Stop a follow loop the way a service manager would; its (stdout, stderr)."""
    try:
        proc.send_signal(signal.SIGTERM)
        return proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
