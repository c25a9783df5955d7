"""The stack's quality worker, seen from the stack: start it, find it, stop it (the worker itself,
and how a run uses it: studentflow/pipeline/quality_service.py)."""
from __future__ import annotations

import hashlib
import os
import secrets
import sys
from pathlib import Path
from typing import Callable

from studentflow.core import config, procs
from studentflow.core.config import Settings
from studentflow.core.endpoints import QualityState

# How the worker gets its key (not on its command line, which `ps` shows): the variable of the
# setting quality_key, so a worker started by hand and the runs that use it read the same one.
KEY_ENV = "STUDENTFLOW_QUALITY_KEY"


# The packages whose Python the worker runs (the steps, the gate, the warehouse helpers), beside this one.
CODE_ROOT = Path(__file__).resolve().parents[1]
CODE_PACKAGES = ("studentflow", "spark_jobs", "expectations")


def code_version() -> str:
    """A fingerprint of the Python code a worker imports (every .py file's path, size and mtime):
    a worker started before a change (a `git pull`, an edit) would run the old code."""
    digest = hashlib.sha256()
    for package in CODE_PACKAGES:
        for path in sorted((CODE_ROOT / package).rglob("*.py")):
            st = path.stat()
            digest.update(f"{path.relative_to(CODE_ROOT)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def start(settings: Settings, *, tie_to_parent: bool = False) -> QualityState:
    """Start the stack's worker (not waiting for its imports) and record it; ``tie_to_parent``:
    it dies with this process (as the stack's other processes can)."""
    from datetime import datetime, timezone

    port, key = procs.free_port(), secrets.token_hex(32)
    log = settings.paths.quality_log
    secret = {f"STUDENTFLOW_{k.upper()}" for k in config.SECRET_KEYS}   # a job brings the settings it needs
    env = {**{k: v for k, v in os.environ.items() if k not in secret}, KEY_ENV: key}
    proc = procs.spawn([sys.executable, "-m", "studentflow.pipeline.quality_service", "--port", str(port)],
                       log, env=env, cwd=config.PROJECT_ROOT, tie_to_parent=tie_to_parent)
    state = QualityState(address=f"127.0.0.1:{port}", pid=proc.pid, log=str(log), key=key,
                         started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), code=code_version())
    state.write(settings)
    return state


def running(settings: Settings) -> QualityState | None:
    """The recorded worker, if its process runs."""
    return QualityState.running(settings)


def current(settings: Settings, say: Callable[[str], None] = lambda _m: None) -> QualityState | None:
    """The recorded worker if it runs the code of this checkout; one that runs the code from before
    a change is stopped (said through ``say``)."""
    state = running(settings)
    if state is not None and state.code != code_version():
        stop_recorded(settings)
        say(f"the stack's quality worker (pid {state.pid}) ran studentflow's code from before a change: started again")
        return None
    return state


def ensure(settings: Settings, say: Callable[[str], None] = lambda _m: None) -> QualityState:
    """The stack's worker, started when it is missing or dead, and started again when the code
    changed since it started."""
    return current(settings, say) or start(settings)


def stop_recorded(settings: Settings) -> str | None:
    """Stop the recorded worker; what was stopped, for `stack down`."""
    state = QualityState.read(settings)
    if state is None:
        return None
    QualityState.path(settings).unlink(missing_ok=True)
    if procs.stop_pid(state.pid, timeout=5, expect_in_cmdline="quality_service"):
        return f"quality worker (pid {state.pid})"
    return None
