"""One Spark Connect server per test worker (pytest-xdist process), started on first use.

Spark tests attach to it as every product command attaches to the stack's server: a new JVM per
test module (or per `studentflow` subprocess) would cost seconds each and never warm up. The
server is tied to the worker process (the kernel stops it if the worker dies) and stopped at exit.
Tests about the server's own life (start, restart, kill) start servers of their own.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from studentflow.core import config

REPO = Path(__file__).resolve().parents[2]
_url: str | None = None


def settings_for(state_dir: Path) -> config.Settings:
    return config.load(env={}, state_dir=str(state_dir), spark_master="local[2]")


def shared_url() -> str:
    """The worker's server URL (sc://127.0.0.1:PORT), starting it on the first call."""
    global _url
    if _url is None:
        from spark_jobs import server

        state = Path(tempfile.mkdtemp(prefix="sf-test-spark-"))
        from spark_jobs.session import class_data_sharing

        setup_built = config.load(env={}, state_dir=str(REPO / ".state"))   # where setup built the archive
        settings = settings_for(state)
        proc, url = server.start(settings, tie_to_parent=True, java_options=class_data_sharing(setup_built))
        atexit.register(shutil.rmtree, state, ignore_errors=True)   # atexit runs last-in first: after the stop
        atexit.register(server.stop_pid, proc.pid)
        server.wait_ready(url, proc, settings)
        _url = url
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return _url
