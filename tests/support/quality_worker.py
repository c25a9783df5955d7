"""One quality worker per test worker (pytest-xdist process), started on first use.

Like the shared Spark server (tests/support/spark_server.py): every `studentflow run` a test
starts hands its dbt, Great Expectations and report steps to it (``quality_remote``), as a run
hands them to the stack's worker, instead of importing those libraries again (about 5
CPU-seconds a run). Tests about the stack's own worker (start, status, kill) use their own.
"""
from __future__ import annotations

import atexit
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

from studentflow.core import procs
from studentflow.quality import KEY_ENV

REPO = Path(__file__).resolve().parents[2]
_shared: tuple[str, str] | None = None


def shared() -> tuple[str, str]:
    """(address, key) of the worker's quality worker, starting it on the first call."""
    global _shared
    if _shared is None:
        import os

        port, key = procs.free_port(), secrets.token_hex(16)
        folder = Path(tempfile.mkdtemp(prefix="sf-test-quality-"))
        proc = procs.spawn([sys.executable, "-m", "studentflow.pipeline.quality_service", "--port", str(port)],
                           folder / "quality.log", env={**os.environ, KEY_ENV: key}, cwd=REPO, tie_to_parent=True)
        atexit.register(shutil.rmtree, folder, ignore_errors=True)   # atexit runs last-in first: after the stop
        atexit.register(procs.stop_pid, proc.pid, timeout=5)
        _shared = (f"127.0.0.1:{port}", key)
    return _shared
