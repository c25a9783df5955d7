"""The `studentflow produce` command against a broker, and reading a topic back from the start."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from confluent_kafka import Consumer

from studentflow.core import config

REPO = config.PROJECT_ROOT


def consume(conf: dict, topic: str, expected: int, timeout: float = 60.0) -> list:
    """Every message of ``topic`` (``expected`` of them), read from the start."""
    c = Consumer({**conf, "group.id": f"t-{topic}-{time.monotonic_ns()}", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "session.timeout.ms": 6000})
    c.subscribe([topic])
    out = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < expected and time.monotonic() < deadline:
            for m in c.consume(10_000, timeout=0.5):
                if not m.error():
                    out.append(m)
    finally:
        c.close()
    return out


def cli(env: dict, *args: str, timeout: float = 120, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studentflow.cli", "produce", *args], cwd=REPO, env=env,
                          capture_output=True, timeout=timeout, input=stdin)


def cli_env(bootstrap: str, tmp_path, **extra: str) -> dict:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "STUDENTFLOW_BOOTSTRAP_SERVERS": bootstrap,
            "STUDENTFLOW_STATE_DIR": str(tmp_path / "state"), "STUDENTFLOW_DATA_DIR": str(tmp_path / "data"),
            **extra}
