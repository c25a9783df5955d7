"""One quality worker per test worker (pytest-xdist process), started on first use.

Like the shared Spark server (tests/support/spark_server.py): every `studentflow run` a test
starts hands its dbt, Great Expectations and report steps to it (``quality_remote``), and a
`run --follow` the gate and report of each increment, as a run
hands them to the stack's worker, instead of importing those libraries again (about 5
CPU-seconds a run). Tests about the stack's own worker (start, status, kill) use their own.
"""
from __future__ import annotations

import atexit
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from studentflow.core import procs
from studentflow.quality import KEY_ENV

REPO = Path(__file__).resolve().parents[2]
_shared: tuple[str, str, Path] | None = None


def start(folder: Path) -> tuple[subprocess.Popen, str, str]:
    """A quality worker of the caller's, tied to this process, its log in ``folder``: (process,
    address, key). Stop it with procs.stop_pid."""
    port, key = procs.free_port(), secrets.token_hex(16)
    proc = procs.spawn([sys.executable, "-m", "studentflow.pipeline.quality_service", "--port", str(port)],
                       folder / "quality.log", env={**os.environ, KEY_ENV: key}, cwd=REPO, tie_to_parent=True)
    return proc, f"127.0.0.1:{port}", key


def shared() -> tuple[str, str]:
    """(address, key) of the worker's quality worker, starting it on the first call."""
    global _shared
    if _shared is None:
        folder = Path(tempfile.mkdtemp(prefix="sf-test-quality-"))
        proc, address, key = start(folder)
        atexit.register(shutil.rmtree, folder, ignore_errors=True)   # atexit runs last-in first: after the stop
        atexit.register(procs.stop_pid, proc.pid, timeout=5)
        _shared = (address, key, folder / "quality.log")
    return _shared[:2]


def shared_log() -> str:
    """What the worker's quality worker has logged so far (one line per job it served)."""
    shared()
    return _shared[2].read_text(encoding="utf-8", errors="replace")
