"""Fault injection by observed progress: wait until a topic really holds N messages."""
from __future__ import annotations

import time


def topic_size(bootstrap: str, topic: str) -> int:
    """Messages on ``topic`` as the sum of its partitions' high watermarks (0 if it does not exist yet).

    On the embedded broker the high watermark is the start of the last batch + 1 (a lower bound of
    the true end): enough to know that at least this many messages have landed.
    """
    from confluent_kafka import Consumer, TopicPartition

    from studentflow.broker import quiet_logger

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
