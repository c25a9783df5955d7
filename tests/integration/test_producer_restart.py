"""Broker killed and restarted mid-run: the embedded broker forgets the idempotent producer's id.

The producer must notice (fatal error or an "unknown producer id" loop), recreate itself,
re-send what was not acknowledged, say so, and finish: no hang.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from producer import generate
from producer.publish import publish
from tests.integration.test_producer_broker import REPO, cli_env, consume

pytestmark = pytest.mark.slow


def kill_and_restart(broker) -> None:
    """kill -9 then start again on the same port (from this thread: the broker dies with the thread
    that started it)."""
    os.killpg(broker.proc.pid, signal.SIGKILL)
    broker.proc.wait(timeout=10)
    broker.restart()


def test_cli_recovers_from_a_broker_restart(broker, tmp_path):
    env = cli_env(broker.bootstrap, tmp_path)
    n = 150_000
    proc = subprocess.Popen([sys.executable, "-m", "studentflow.cli", "produce", "--count", str(n), "--seed", "5",
                             "--rate", "25000", "--timeout", "20", "--topic", "t.restart"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(3.0)          # start-up, then about a second of traffic
    assert proc.poll() is None
    kill_and_restart(broker)
    stdout, stderr = proc.communicate(timeout=120)
    summary = stdout.decode().strip().splitlines()[-1]
    assert proc.returncode == 0, (summary, stderr.decode())
    assert f"{n:,} of {n:,} messages acknowledged" in summary
    assert "producer recreated" in summary and "re-sent" in summary
    assert "studentflow: kafka: " in stderr.decode()    # the outage was reported while it happened

    # What the restarted broker holds: everything sent after the restart, the last event included.
    last = list(generate.for_settings(None, seed=5).messages(n))[-1][2].encode()
    got = [m.value() for m in consume({"bootstrap.servers": broker.bootstrap}, "t.restart", n, timeout=20)]
    assert got and last in got


def test_publish_reports_each_message_once_across_a_restart(broker, settings):
    n = 120_000
    out: dict = {}

    def run() -> None:
        gen = generate.for_settings(settings, seed=6)
        out["report"] = publish(settings, gen.messages(n), conf={"bootstrap.servers": broker.bootstrap},
                                topic="t.restart.api", rate=30_000, delivery_timeout=20)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    time.sleep(1.5)
    kill_and_restart(broker)
    worker.join(timeout=120)
    assert not worker.is_alive(), "publish hung after a broker restart"
    r = out["report"]
    assert r.attempted == n
    assert r.acked + r.failed == n                       # each message either acknowledged or reported failed
    assert r.producer_restarts >= 1 and r.restart_reasons
    assert r.ok, r.summary()


def test_without_resend_the_loss_is_reported(broker, settings):
    n = 90_000
    out: dict = {}

    def run() -> None:
        gen = generate.for_settings(settings, seed=7)
        out["report"] = publish(settings, gen.messages(n), conf={"bootstrap.servers": broker.bootstrap},
                                topic="t.restart.noresend", rate=30_000, delivery_timeout=20, resend=False)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    time.sleep(1.5)
    kill_and_restart(broker)
    worker.join(timeout=120)
    assert not worker.is_alive()
    r = out["report"]
    assert r.producer_restarts >= 1
    assert r.acked + r.failed == n
    # Messages queued or in flight in the dropped producer (the run goes on during the outage):
    # counted as failed, with the reason, and the run is not ok.
    assert r.failed > 0 and r.resent == 0
    assert "may have been lost with the dropped producer" in r.summary()
    assert not r.ok
