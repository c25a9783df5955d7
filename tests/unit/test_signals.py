"""The first SIGTERM asks to stop and says so on the process's stderr, even while descriptor 2
points elsewhere (the Spark JVM's start redirects it to the Spark log); the second interrupts."""
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
    log = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    saved = os.dup(2)
    os.dup2(log, 2)                         # as spark_jobs/session.py does while the JVM starts
    os.kill(os.getpid(), signal.SIGTERM)
    os.dup2(saved, 2)
    print("stop set:", stop.is_set(), flush=True)
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        print("second signal ignored", flush=True)
    except KeyboardInterrupt:
        print("second signal interrupted", flush=True)
print("handler restored:", signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, flush=True)
"""


def test_the_first_signal_is_announced_on_the_real_stderr_and_the_second_interrupts(tmp_path):
    log = tmp_path / "spark.log"
    out = subprocess.run([sys.executable, "-c", CHILD, str(log)], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "studentflow: SIGTERM: stopping soon (send it again to stop at once)" in out.stderr
    assert "studentflow" not in (log.read_text() if log.exists() else "")
    assert out.stdout.splitlines() == ["stop set: True", "second signal interrupted", "handler restored: True"]
