"""The producer against a real embedded broker: what is generated is what lands, every message counted."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections import Counter, defaultdict

import pytest

from connect.lag import true_end_offsets
from producer import generate
from producer.publish import publish
from producer.tracked_producer import TrackedProducer
from tests.support.produce import REPO, cli, cli_env, consume

pytestmark = pytest.mark.slow


def test_what_is_generated_lands_with_keys_and_empty_values(broker, settings):
    conf = {"bootstrap.servers": broker.bootstrap}
    n = 20_000
    gen = generate.for_settings(settings, seed=4, malformed_rate=0.1)
    report = publish(settings, gen.messages(n), conf=conf, topic="t.producer")
    assert report.ok, report.summary()
    assert (report.attempted, report.acked, report.failed) == (n, n, 0)
    assert "20,000 of 20,000 messages acknowledged" in report.summary()

    got = consume(conf, "t.producer", n)
    expected = list(generate.for_settings(settings, seed=4, malformed_rate=0.1).messages(n))
    assert Counter(m.value() for m in got) == Counter(v.encode() for _, _, v in expected)
    empties = [m for m in got if not m.value()]
    assert empties and all(m.value() == b"" for m in empties)      # empty, never a null tombstone
    partitions = defaultdict(set)
    for m in got:
        if m.key() is not None:
            partitions[m.key()].add(m.partition())
    assert all(len(p) == 1 for p in partitions.values())            # a student's events share a partition
    keys = {k.encode() for _, k, _ in expected if k is not None}
    assert set(partitions) == keys
    assert len({m.partition() for m in got}) == settings.topic_partitions   # topic created with the setting


def test_a_producer_started_ahead_is_the_one_publish_uses(broker, settings):
    from producer.publish import start_producer

    conf = {"bootstrap.servers": broker.bootstrap}
    n = 3_000
    started = start_producer(conf)
    made = TrackedProducer.counter
    report = publish(settings, generate.for_settings(settings, seed=5).messages(n), conf=conf,
                     topic="t.started", started=started)
    assert (report.acked, report.failed) == (n, 0)
    assert TrackedProducer.counter == made         # no new producer: the started one sent them all
    assert len(consume(conf, "t.started", n)) == n
    # one started with other settings (no rate cap) is not used: a producer of the right settings is made
    other = start_producer(conf)
    made = TrackedProducer.counter
    capped = publish(settings, generate.for_settings(settings, seed=6).messages(200), conf=conf,
                     topic="t.started", rate=2_000, started=other)
    assert capped.acked == 200 and TrackedProducer.counter == made + 1


def test_a_client_call_that_fails_without_its_exception_recreates_the_producer(broker, settings, monkeypatch):
    """confluent-kafka once answered flush() with "SystemError: ... returned NULL without setting an
    exception" while the broker restarted (an exception raised in one of its callbacks was lost).
    Injected here into a real client: the first producer's first poll or flush with messages
    outstanding raises it (the client itself, its broker and its deliveries are real). The producer
    is dropped and its unacknowledged messages sent again by a new one; every message lands."""
    import confluent_kafka

    from producer.publish import start_producer

    class FailsOnce(confluent_kafka.Producer):
        failed = ""   # the call that failed

        def _fail_once(self, name: str) -> None:
            if not FailsOnce.failed and len(self) > 0:   # with messages outstanding
                FailsOnce.failed = name
                raise SystemError(f"<built-in method {name} of cimpl.Producer object> returned NULL without "
                                  "setting an exception")

        def flush(self, *args):
            self._fail_once("flush")
            return super().flush(*args)

        def poll(self, *args):
            self._fail_once("poll")
            return super().poll(*args)

    conf = {"bootstrap.servers": broker.bootstrap}
    n = 5_000
    with monkeypatch.context() as patched:   # only the started producer is of that kind
        patched.setattr(confluent_kafka, "Producer", FailsOnce)
        started = start_producer(conf)
    assert isinstance(started.producer, FailsOnce)
    report = publish(settings, generate.for_settings(settings, seed=12).messages(n), conf=conf,
                     topic="t.systemerror", started=started)
    assert FailsOnce.failed in ("flush", "poll")                    # the fault happened, messages outstanding
    assert report.producer_restarts == 1, report.summary()
    assert report.restart_reasons == [f"the client failed (SystemError from {FailsOnce.failed}())"], report.summary()
    assert (report.attempted, report.acked, report.failed) == (n, n, 0), report.summary()
    expected = Counter(v.encode() for _, _, v in generate.for_settings(settings, seed=12).messages(n))
    on_topic = sum(true_end_offsets(conf, "t.systemerror").values())
    got = Counter(m.value() for m in consume(conf, "t.systemerror", on_topic, timeout=60))
    assert len(got) and sum(got.values()) == on_topic >= n
    assert set(got) == set(expected) and all(got[v] >= c for v, c in expected.items())   # re-sent: duplicates allowed


def test_cli_produces_and_summarises(broker, tmp_path):
    env = cli_env(broker.bootstrap, tmp_path, STUDENTFLOW_TOPIC="t.cli")
    out = cli(env, "--count", "5000", "--seed", "8", "--malformed-rate", "0.05")
    assert out.returncode == 0, out.stderr.decode()
    lines = out.stdout.decode().strip().splitlines()
    assert lines[-1].startswith("5,000 of 5,000 messages acknowledged by t.cli")
    assert "failed: 0" in lines[-1]
    assert lines[0].startswith("kinds: ") and "valid" in lines[0]
    assert len(out.stderr.decode().splitlines()) <= 1                # no progress spam off a terminal
    got = consume({"bootstrap.servers": broker.bootstrap}, "t.cli", 5000)
    dry = cli(env, "--count", "5000", "--seed", "8", "--malformed-rate", "0.05", "--dry-run").stdout
    assert Counter(m.value() for m in got) == Counter(dry.split(b"\n")[:-1])


def test_cli_replays_captured_lines_verbatim(broker, tmp_path):
    env = cli_env(broker.bootstrap, tmp_path)
    captured = b'{"first_name": "Claire", "last_name": "Lemoine", "age": 21, "major": "Chimie"}\n' \
               b"Alice,Dupont,22,Informatique\nBob,Martin,age:19,Physique\nhello kafka\n\n  Biologie  \n"
    out = cli(env, "--from-file", "-", "--topic", "t.replay", stdin=captured)
    assert out.returncode == 0, out.stderr.decode()
    assert "6 of 6 messages acknowledged" in out.stdout.decode()
    got = consume({"bootstrap.servers": broker.bootstrap}, "t.replay", 6)
    assert Counter(m.value() for m in got) == Counter(captured.split(b"\n")[:-1])


def test_broker_gone_for_good_fails_in_bounded_time(broker, tmp_path):
    """The broker dies and never comes back: every message is counted failed, exit 1, no hang."""
    env = cli_env(broker.bootstrap, tmp_path)
    n = 60_000   # 3 s at the capped rate: the broker dies in the first second
    proc = subprocess.Popen([sys.executable, "-m", "studentflow.cli", "produce", "--count", str(n), "--rate", "20000",
                             "--timeout", "5", "--topic", "t.gone"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    from tests.support.topicwatch import wait_for_messages
    wait_for_messages(broker.bootstrap, "t.gone", 10_000, proc)   # mid-stream: some landed, most to come
    os.killpg(broker.proc.pid, signal.SIGKILL)   # kill -9: no goodbye to the clients
    stdout, stderr = proc.communicate(timeout=90)   # bounded: a hang fails here
    summary = stdout.decode().strip().splitlines()[-1]
    assert proc.returncode == 1, summary
    assert "failed: " in summary and "failed: 0" not in summary
    assert "delivery timeout" in summary
    assert "Traceback" not in stderr.decode()
    # every message handed to the producer is accounted for: acknowledged or failed, none lost
    m = re.search(r"^([\d,]+) of ([\d,]+) messages acknowledged .*?; failed: ([\d,]+)", summary)
    assert m, summary
    acked, sent, failed = (int(g.replace(",", "")) for g in m.groups())
    assert sent == n or "stopped early" in summary, summary
    assert acked + failed == sent and failed > 0, summary
    reasons = re.search(r"failed: [\d,]+ \((.*?)\)(;|$)", summary)
    assert reasons, summary
    assert sum(int(n.replace(",", "")) for n in re.findall(r" x([\d,]+)", reasons.group(1))) == failed, summary
