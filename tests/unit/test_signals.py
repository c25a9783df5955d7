"""The first SIGTERM asks to stop and says so on the process's stderr; the second interrupts."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import os, signal, sys
from studentflow.signals import StopRequest, stop_on_signal

stop = StopRequest()
with stop_on_signal(stop, "stopping soon"):
    os.kill(os.getpid(), signal.SIGTERM)
    print("stop set:", stop.is_set(), flush=True)
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        print("second signal ignored", flush=True)
    except KeyboardInterrupt:
        print("second signal interrupted", flush=True)
print("handler restored:", signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, flush=True)
"""


def test_the_first_signal_is_announced_on_stderr_and_the_second_interrupts():
    out = subprocess.run([sys.executable, "-c", CHILD], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "studentflow: SIGTERM: stopping soon (send it again to stop at once)" in out.stderr
    assert out.stdout.splitlines() == ["stop set: True", "second signal interrupted", "handler restored: True"]
