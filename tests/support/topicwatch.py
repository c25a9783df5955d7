"""Fault injection by observed progress: wait until a topic really holds N messages; read a topic whole."""
from __future__ import annotations

import time
import uuid
from typing import Iterator


def topic_size(bootstrap: str, topic: str) -> int:
    """Messages on ``topic`` as the sum of its partitions' high watermarks (0 if it does not exist yet).

    On the embedded broker the high watermark is the start of the last batch + 1 (a lower bound of
    the true end): enough to know that at least this many messages have landed.
    """
    from confluent_kafka import Consumer, TopicPartition

    from studentflow.core.kafka import quiet_logger

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "topicwatch", "logger": quiet_logger()})
    try:
        md = c.list_topics(topic, timeout=5)
        meta = md.topics.get(topic)
        if meta is None or meta.error is not None:
            return 0
        return sum(max(c.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1], 0) for p in meta.partitions)
    finally:
        c.close()


def wait_for_messages(bootstrap: str, topic: str, n: int, proc=None, timeout: float = 120) -> int:
    """Block until ``topic`` holds at least ``n`` messages; fail if ``proc`` (the producer) exits first."""
    deadline = time.monotonic() + timeout
    while True:
        size = topic_size(bootstrap, topic)
        if size >= n:
            return size
        assert proc is None or proc.poll() is None, "the producer finished before the fault could be injected"
        assert time.monotonic() < deadline, f"only {size} of {n} messages reached {topic}"
        time.sleep(0.1)


def topic_values(bootstrap: str, topic: str, timeout: float = 120) -> Iterator[bytes]:
    """Every message value of ``topic`` (b"" for a null one), all partitions from the start to their
    end, read by a plain consumer of its own; fails if the end is not reached within ``timeout`` seconds.
    The fetch limits let a 10 MB message through (the hostile producer's huge line)."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"topicwatch-{uuid.uuid4()}",
                  "enable.partition.eof": True, "enable.auto.commit": False, "fetch.max.bytes": 64 << 20,
                  "max.partition.fetch.bytes": 32 << 20, "receive.message.max.bytes": 100 << 20})
    try:
        parts = list(c.list_topics(topic, timeout=30).topics[topic].partitions)
        c.assign([TopicPartition(topic, p, 0) for p in parts])
        open_parts, deadline = set(parts), time.monotonic() + timeout
        while open_parts:
            assert time.monotonic() < deadline, f"reading {topic} did not reach the end of {sorted(open_parts)}"
            for m in c.consume(10_000, 1.0):
                if m.error():
                    assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
                    open_parts.discard(m.partition())
                else:
                    yield m.value() or b""
    finally:
        c.close()
