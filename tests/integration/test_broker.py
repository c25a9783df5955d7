"""The embedded broker answers the Kafka protocol: produce and consume with confluent-kafka."""
import pytest
from confluent_kafka import Consumer, Producer

from studentflow import broker as broker_mod
from studentflow.core import kafka, procs

pytestmark = pytest.mark.slow


def test_produce_and_consume_roundtrip(broker):
    assert kafka.ensure_topic({"bootstrap.servers": broker.bootstrap}, "t.roundtrip", 2) is True
    assert kafka.ensure_topic({"bootstrap.servers": broker.bootstrap}, "t.roundtrip", 2) is False
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "enable.idempotence": True})
    for i in range(100):
        p.produce("t.roundtrip", key=str(i % 7), value=f"msg-{i}")
    assert p.flush(10) == 0
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "g", "auto.offset.reset": "earliest",
                  "session.timeout.ms": 6000})
    c.subscribe(["t.roundtrip"])
    seen = set()
    for _ in range(200):
        m = c.poll(0.5)
        if m is not None and not m.error():
            seen.add(m.value().decode())
        if len(seen) == 100:
            break
    c.close()
    assert seen == {f"msg-{i}" for i in range(100)}


def test_broker_stops_completely(broker):
    pid = broker.proc.pid
    broker.stop()
    assert not procs.pid_alive(pid)
