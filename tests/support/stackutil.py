"""Helpers for tests that drive the real `studentflow` CLI against a private embedded stack."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from studentflow.core import procs

REPO = Path(__file__).resolve().parents[2]


def tansu_config(tmp_path: Path) -> str:
    """A config file (for STUDENTFLOW_CONFIG) for a test's own embedded broker addressed as a
    configured Kafka: the Connect worker and its sink get the group session studentflow gives them
    on the embedded one. With Kafka's defaults (45 s for the sink, 10 s for a distributed worker)
    the broker holds each join for half of that (docs/architecture.md)."""
    from connect.runtime import embedded_session_lines

    path = tmp_path / "studentflow.toml"
    path.write_text("[kafka.java]\n" + embedded_session_lines(), encoding="utf-8")
    return str(path)


def stack_env(tmp_path: Path, *, own_spark: bool = False, own_quality: bool = False, **extra: str) -> dict[str, str]:
    """An environment whose data and state folders are private to one test. Its commands attach to
    the test run's Spark Connect server (tests/support/spark_server.py), on the test worker's one
    session of it (the worker's tests run one after the other), and the test worker's quality worker
    (tests/support/quality_worker.py), as they would to remote ones; ``own_spark``, ``own_quality``:
    the stack and commands start and manage their own, as for a user. A server they start is not
    warmed up (``warm_spark`` off: about 20 CPU-seconds each, for a test's one or two small runs);
    ``STUDENTFLOW_WARM_SPARK="true"`` in ``extra`` turns it back on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDENTFLOW_")}
    if not own_spark:
        from tests.support.spark_server import worker_session_url

        env["STUDENTFLOW_SPARK_REMOTE"] = worker_session_url()
    if not own_quality:
        from tests.support.quality_worker import shared

        env["STUDENTFLOW_QUALITY_REMOTE"], env["STUDENTFLOW_QUALITY_KEY"] = shared()
    env.update({
        "STUDENTFLOW_DATA_DIR": str(tmp_path / "data"),
        "STUDENTFLOW_STATE_DIR": str(tmp_path / "state"),
        "STUDENTFLOW_STAGING_DIR": str(tmp_path / "data" / "staging"),
        "STUDENTFLOW_WAREHOUSE": str(tmp_path / "data" / "warehouse.db"),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "STUDENTFLOW_WARM_SPARK": "false",
    })
    env.update(extra)
    return env


def sf(env: dict, *args: str, timeout: float = 180, check: bool = False) -> subprocess.CompletedProcess:
    """Run `studentflow ARGS` as a user would, capturing output."""
    res = subprocess.run([sys.executable, "-m", "studentflow.cli", *args], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"studentflow {' '.join(args)} -> {res.returncode}\n{res.stdout}\n{res.stderr}")
    return res


def status(env: dict) -> dict:
    return json.loads(sf(env, "stack", "status", "--json").stdout)


def force_down(env: dict) -> None:
    """Teardown: the stack's processes are gone and its state file with them.

    A test's stack holds nothing worth a graceful stop (its worker's offsets and the memory-only
    broker die with its tmp folder): SIGTERM with a short grace, then SIGKILL, instead of
    `stack down`'s graceful seconds per teardown; `stack down` then finds them gone and clears the
    state. What `stack down` itself does is asserted in test_stack.py and test_concurrency.py."""
    st = status(env)
    for key in ("connect_pid", "broker_pid"):
        if st.get(key):
            procs.stop_pid(st[key], timeout=0.5)
    if (st.get("spark") or {}).get("pid"):
        procs.stop_pid(st["spark"]["pid"], timeout=2, expect_in_cmdline="SparkConnectServer")
    if (st.get("quality") or {}).get("pid"):
        procs.stop_pid(st["quality"]["pid"], timeout=0.5, expect_in_cmdline="quality_service")
    sf(env, "stack", "down")


def produce(bootstrap: str, topic: str, values: list[bytes], key_mod: int = 50) -> None:
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 5})
    errors = []
    for i, v in enumerate(values):
        while True:
            try:
                p.produce(topic, key=str(i % key_mod), value=v,
                          on_delivery=lambda err, _m: err and errors.append(err))
                break
            except BufferError:
                p.poll(0.05)
    assert p.flush(60) == 0, "producer could not deliver everything"
    assert not errors, errors[:3]


@contextmanager
def stack_session(tmp_path: Path, *, up: bool = False, own_spark: bool = False, own_quality: bool = False,
                  **extra: str) -> Iterator[dict[str, str]]:
    """A project environment under tmp_path (with the stack up if asked), stopped afterwards."""
    env = stack_env(tmp_path, own_spark=own_spark, own_quality=own_quality, **extra)
    try:
        if up:
            sf(env, "stack", "up", check=True)
        yield env
    finally:
        force_down(env)


def query(db: Path, sql: str) -> list[tuple]:
    """Rows of ``sql`` on the warehouse ``db``, or none while the file or the table does not exist yet."""
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:   # table not created yet
        return []
