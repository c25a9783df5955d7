"""A sink connector's lag: its consumer group's committed offsets against the topic's true end.

The embedded broker (Tansu 0.6) reports as high watermark the start offset of the last batch
+ 1, not the last offset + 1, so ``high - committed`` can go negative. The true end of a
partition is found by reading from ``high - 1`` to EOF (docs/architecture.md). On a real Kafka this
costs one small fetch per partition and gives the same answer as the high watermark.
"""
from __future__ import annotations

import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass

from studentflow.core.errors import ConnectError, ExitCode


class LagTimeout(ConnectError):
    """The sink is still behind when the wait ends: a failed check (exit 1), not a connection error."""

    exit_code = ExitCode.FAILED


@dataclass
class PartitionLag:
    partition: int
    end: int
    committed: int

    @property
    def lag(self) -> int:
        return max(self.end - self.committed, 0)


def is_source(connector: str, settings=None) -> bool:
    """True when the connector file of that name is a source (it produces; it has no lag)."""
    from connect import rest
    from studentflow.core import config

    settings = settings or config.load()
    try:
        files = rest.connector_files(None, settings)
    except ConnectError:
        return False
    return any(cf.name == connector and cf.is_source for cf in files)


@contextmanager
def kafka_errors(what: str, client_conf: dict):
    """librdkafka failures (timeouts, broker gone) as one ConnectError line with a hint."""
    from confluent_kafka import KafkaException

    try:
        yield
    except KafkaException as exc:
        err = exc.args[0] if exc.args else None
        text = err.str() if hasattr(err, "str") else str(exc)
        raise ConnectError(f"{what} failed at {client_conf.get('bootstrap.servers')}: {text}",
                           "is the broker up? `studentflow stack status`; retry when it answers") from None


def group_for(connector: str) -> str:
    return f"connect-{connector}"  # Kafka Connect's sink consumer group naming


def true_end_offsets(client_conf: dict, topic: str, timeout: float = 10.0) -> dict[int, int]:
    from confluent_kafka import Consumer

    from studentflow.core.kafka import quiet_logger

    consumer = Consumer({**client_conf, "logger": quiet_logger(), "group.id": f"studentflow-lag-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "fetch.wait.max.ms": 10})
    try:
        with kafka_errors(f"reading the end offsets of {topic}", client_conf):
            return _read_ends(consumer, topic, timeout)
    finally:
        consumer.close()


def _read_ends(consumer, topic: str, timeout: float) -> dict[int, int]:
    from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition

    md = consumer.list_topics(topic, timeout=timeout)
    tmeta = md.topics.get(topic)
    if tmeta is None or tmeta.error is not None:
        raise ConnectError(f"topic {topic} does not exist", "produce events first (`studentflow produce`)")
    ends: dict[int, int] = {}
    assign = []
    for p in sorted(tmeta.partitions):
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
        ends[p] = max(high, 0)
        if high > 0:
            assign.append(TopicPartition(topic, p, max(high - 1, 0) if high > 0 else OFFSET_BEGINNING))
    if assign:
        consumer.assign(assign)
        pending = {tp.partition for tp in assign}
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=10000, timeout=0.5):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        ends[msg.partition()] = max(ends[msg.partition()], msg.offset())
                        pending.discard(msg.partition())
                    continue
                ends[msg.partition()] = max(ends[msg.partition()], msg.offset() + 1)
        if pending:
            raise ConnectError(f"could not read the end of partitions {sorted(pending)} of {topic}",
                               "the broker is slow or unreachable; retry")
    return ends


def committed_offsets(client_conf: dict, group: str, topic: str, partitions: list[int],
                      timeout: float = 10.0) -> dict[int, int]:
    from confluent_kafka import Consumer, TopicPartition

    from studentflow.core.kafka import quiet_logger

    consumer = Consumer({**client_conf, "logger": quiet_logger(), "group.id": group, "enable.auto.commit": False})
    try:
        with kafka_errors(f"reading the committed offsets of group {group}", client_conf):
            tps = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=timeout)
        return {tp.partition: max(tp.offset, 0) for tp in tps}
    finally:
        consumer.close()


def connector_lag(client_conf: dict, connector: str, topic: str) -> list[PartitionLag]:
    ends = true_end_offsets(client_conf, topic)
    committed = committed_offsets(client_conf, group_for(connector), topic, sorted(ends))
    return [PartitionLag(p, ends[p], committed.get(p, 0)) for p in sorted(ends)]


def wait_for_zero(client_conf: dict, connector: str, topic: str, timeout: float,
                  progress=None, interval: float = 0.5) -> list[PartitionLag]:
    """Block until the connector's total lag is 0; LagTimeout on timeout. A source: [] at once."""
    if is_source(connector):
        return []
    deadline = time.monotonic() + timeout
    ends = true_end_offsets(client_conf, topic)  # the target: what is on the topic now
    while True:
        committed = committed_offsets(client_conf, group_for(connector), topic, sorted(ends))
        lags = [PartitionLag(p, ends[p], committed.get(p, 0)) for p in sorted(ends)]
        total = sum(x.lag for x in lags)
        if progress:
            progress(total, sum(ends.values()))
        if total == 0:
            return lags
        if time.monotonic() > deadline:
            raise LagTimeout(f"connector {connector} still {total} messages behind after {timeout:.0f}s",
                               "check `studentflow connect status`, or raise --timeout")
        time.sleep(interval)
