"""One Spark Connect server for the whole test run, started on first use.

Spark tests attach to it as every product command attaches to the stack's server: a new JVM per
test module (or per `studentflow` subprocess) would cost seconds each and never warm up. Under
pytest-xdist the controller starts it before the test workers (tests/conftest.py) and hands them
its URL (``SHARED_ENV``): one JVM for all of them, whose compiled code every worker's tests reuse,
instead of one per worker. Run without workers (``-n 0``), the test process starts it on first
use. Either way it is tied to the process that started it (the kernel stops it if that process
dies) and stopped at exit. Tests about the server's own life (start, restart, kill) start servers
of their own.
"""
from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Callable

from studentflow.core import config

REPO = Path(__file__).resolve().parents[2]
SHARED_ENV = "SF_TEST_SPARK"   # "URL STATE_DIR" of the run's server, set by the controller
_url: str | None = None


def settings_for(state_dir: Path) -> config.Settings:
    return config.load(env={}, state_dir=str(state_dir), spark_master="local[2]")


def start() -> tuple[subprocess.Popen, str, Path]:
    """Start a server in a new state folder (not waiting for it): (process, URL, state folder)."""
    from spark_jobs import server

    state = Path(tempfile.mkdtemp(prefix="sf-test-spark-"))
    # HotSpot's quick compiler only (C1), as every JVM of the tests (tests/conftest.py's
    # JAVA_TOOL_OPTIONS). The full JIT pays back over one long series of the same query (40
    # increments of 500 lines, python -m bench.increments: the same CPU in 53 against 87 seconds),
    # but the suite sends this server many small queries of many shapes from several
    # sessions, and the CPU is what the suite waits on: the whole suite with 3 workers, this
    # server 101 CPU-seconds at C1 against 123 with C2 (10.5 % against 13.0 % of the machine's).
    settings = settings_for(state)   # setup_dir: the archive `make setup` built
    proc, url = server.start(settings, tie_to_parent=True, quick_jit=True)
    return proc, url, state


def start_for_workers() -> Callable[[], None]:
    """The controller's: start the server every test worker shares, tell them where it is
    (``SHARED_ENV``, inherited by the workers); returns what stops it."""
    from spark_jobs import server

    proc, url, state = start()
    os.environ[SHARED_ENV] = f"{url} {state}"
    return lambda: (server.stop_pid(proc.pid), shutil.rmtree(state, ignore_errors=True))


def shared_url() -> str:
    """The run's server URL (sc://127.0.0.1:PORT), once it answers; started here when no
    controller started one."""
    global _url
    if _url is None:
        from spark_jobs import server

        given = os.environ.get(SHARED_ENV)
        if given:   # the controller's (its death shows as a port that never answers)
            url, state = given.split(" ", 1)
            proc = None
        else:
            proc, url, state = start()
            atexit.register(shutil.rmtree, state, ignore_errors=True)   # atexit runs last-in first: after the stop
            atexit.register(server.stop_pid, proc.pid)
        server.wait_ready(url, proc, settings_for(Path(state)))
        _url = url
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return _url


_WORKER_SESSION = str(uuid.uuid4())


def worker_session_url() -> str:
    """The run's server URL naming this test worker's one session of it (`/;session_id=`): the
    commands a worker's tests start attach to it one after the other and find its compiled code.
    A new session per command compiled the transform's classes again (the server's code cache is
    per session class loader, and Spark's Connect server gives every session its own): about 1.5
    CPU-seconds of the server per command, and HotSpot compiling those new classes again."""
    from spark_jobs.session import session_url

    return session_url(shared_url(), _WORKER_SESSION)
