"""Broker killed and restarted mid-run: the embedded broker forgets the idempotent producer's id.

The producer must notice (fatal error or an "unknown producer id" loop), recreate itself,
re-send what was not acknowledged, say so, and finish: no hang.

The fault is injected at observed progress (messages seen on the topic), with the producer held
still meanwhile (SIGSTOP for the CLI, a blocking progress callback for the API), so the old
broker's content can be read in full before it dies. The check is then independent of
publish()'s own counters: every generated message is on the old broker or on the new one.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from connect.lag import true_end_offsets
from producer import generate
from producer.publish import publish
from tests.support.produce import REPO, cli_env, consume
from tests.support.topicwatch import wait_for_messages

pytestmark = pytest.mark.slow


def kill_and_restart(broker) -> None:
    """kill -9 then start again on the same port (from this thread: the broker dies with the thread
    that started it)."""
    os.killpg(broker.proc.pid, signal.SIGKILL)
    broker.proc.wait(timeout=10)
    broker.restart()


def snapshot(broker, topic: str) -> set[bytes]:
    """Everything the broker holds on ``topic`` once nothing more arrives (the producer is held or done)."""
    conf = {"bootstrap.servers": broker.bootstrap}
    if topic not in topics_on(conf):
        return set()   # nothing reached this broker (it never saw the topic)
    previous = -1
    while True:   # settled: two readings of the true end agree (in-flight batches have landed)
        size = sum(true_end_offsets(conf, topic).values())
        if size == previous:
            break
        previous = size
        time.sleep(0.2)
    got = consume(conf, topic, size, timeout=60)
    assert len(got) == size, f"read {len(got)} of {size} messages before the kill"
    return {m.value() for m in got}


def topics_on(conf: dict) -> set[str]:
    from confluent_kafka.admin import AdminClient

    return set(AdminClient(conf).list_topics(timeout=10).topics)


def generated(seed: int, n: int) -> set[bytes]:
    return {v.encode() if isinstance(v, str) else v for _k, _key, v in generate.for_settings(None, seed=seed).messages(n)}


def test_cli_recovers_from_a_broker_restart(broker, tmp_path):
    env = cli_env(broker.bootstrap, tmp_path)
    n = 150_000
    proc = subprocess.Popen([sys.executable, "-m", "studentflow.cli", "produce", "--count", str(n), "--seed", "5",
                             "--rate", "25000", "--timeout", "20", "--topic", "t.restart"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_messages(broker.bootstrap, "t.restart", 20_000, proc)   # mid-stream, observed
        os.kill(proc.pid, signal.SIGSTOP)
        before = snapshot(broker, "t.restart")
        assert 0 < len(before) < n   # the fault lands mid-stream
        kill_and_restart(broker)
        os.kill(proc.pid, signal.SIGCONT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:   # a hang (or a failed assertion above): never leave the producer running
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
            proc.communicate()
    assert stdout.strip(), (proc.returncode, stderr.decode()[-3000:])   # no summary: say why
    summary = stdout.decode().strip().splitlines()[-1]
    assert proc.returncode == 0, (summary, stderr.decode())
    assert f"{n:,} of {n:,} messages acknowledged" in summary
    assert "producer recreated" in summary
    assert "studentflow: kafka: " in stderr.decode()    # the outage was reported while it happened
    assert "Traceback" not in stderr.decode()

    # Independent count: what the old broker held plus what the new one holds is every message.
    after = {m.value() for m in consume({"bootstrap.servers": broker.bootstrap}, "t.restart", n - len(before),
                                        timeout=60)}
    expected = generated(5, n)
    assert not (before | after) - expected, "a message on the topic was never generated"
    lost = expected - (before | after)
    assert not lost, f"{len(lost)} acknowledged messages are on neither broker"


def _publish_with_pause(settings, broker, n: int, seed: int, topic: str, **kw):
    """publish() in a thread that stops at ~25% progress until the broker has been restarted."""
    paused, resume, out = threading.Event(), threading.Event(), {}

    def progress(report) -> None:
        if report.attempted >= n // 4 and not paused.is_set():
            paused.set()
            resume.wait(120)

    def run() -> None:
        gen = generate.for_settings(settings, seed=seed)
        out["report"] = publish(settings, gen.messages(n), conf={"bootstrap.servers": broker.bootstrap},
                                topic=topic, rate=30_000, delivery_timeout=20, progress=progress,
                                progress_interval=0.05, **kw)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    try:
        assert paused.wait(120), "publish never reached a quarter of its messages"
        before = snapshot(broker, topic)
        kill_and_restart(broker)
    finally:
        resume.set()
    worker.join(timeout=120)
    assert not worker.is_alive(), "publish hung after a broker restart"
    # Everything the new broker holds, read to its settled end (publish has returned: nothing more comes).
    after = snapshot(broker, topic)
    return out["report"], before, after


def test_publish_reports_each_message_once_across_a_restart(broker, settings):
    n = 120_000
    r, before, after = _publish_with_pause(settings, broker, n, 6, "t.restart.api")
    assert 0 < len(before) < n
    assert r.attempted == n
    assert r.acked + r.failed == n                       # each message either acknowledged or reported failed
    assert r.producer_restarts >= 1 and r.restart_reasons
    assert r.ok, r.summary()
    expected = generated(6, n)
    assert expected - (before | after) == set(), "publish() said ok, yet messages are on neither broker"


def test_without_resend_the_loss_is_reported(broker, settings):
    n = 90_000
    r, before, after = _publish_with_pause(settings, broker, n, 7, "t.restart.noresend", resend=False)
    assert r.producer_restarts >= 1
    assert r.acked + r.failed == n
    # Messages queued or in flight in the dropped producer (the run goes on during the outage):
    # counted as failed, with the reason, and the run is not ok.
    assert r.failed > 0 and r.resent == 0
    assert "may have been lost with the dropped producer" in r.summary()
    assert not r.ok
    # Independently: every message on neither broker is among those reported failed.
    lost = generated(7, n) - (before | after)
    assert len(lost) <= r.failed, (len(lost), r.failed)


def test_max_restarts_stops_the_run_and_says_so(broker, settings):
    n = 90_000
    r, before, after = _publish_with_pause(settings, broker, n, 8, "t.restart.max", max_restarts=0)
    assert r.producer_restarts == 0
    assert r.stopped_early.startswith("producer lost 1 times"), r.summary()
    assert "stopped early" in r.summary() and not r.ok
    assert r.acked + r.failed == r.attempted and r.failed > 0
    # Independently: every message on neither broker (or never attempted) is counted as failed or unsent.
    assert (before | after) <= generated(8, n)
    lost = generated(8, n) - (before | after)
    assert len(lost) <= r.failed + (n - r.attempted), (len(lost), r.failed, r.attempted)


def test_per_message_errors_are_counted_and_the_rest_delivered(broker, tmp_path):
    env = cli_env(broker.bootstrap, tmp_path)
    lines = [f"line-{i}".encode() for i in range(200)]
    lines[50] = b"x" * 2_000_000          # over librdkafka's message.max.bytes (1 MB): refused alone
    src = tmp_path / "captured.txt"
    src.write_bytes(b"\n".join(lines) + b"\n")
    res = subprocess.run([sys.executable, "-m", "studentflow.cli", "produce", "--from-file", str(src),
                          "--topic", "t.too.big"], cwd=REPO, env=env, capture_output=True, timeout=120)
    out, err = res.stdout.decode(), res.stderr.decode()
    assert res.returncode == 1, out + err
    summary = out.strip().splitlines()[-1]
    assert "199 of 200 messages acknowledged" in summary and "failed: 1 (MSG_SIZE_TOO_LARGE x1)" in summary
    assert "Traceback" not in err
    got = {m.value() for m in consume({"bootstrap.servers": broker.bootstrap}, "t.too.big", 199, timeout=30)}
    assert got == set(lines) - {lines[50]}   # independent: exactly the others landed
