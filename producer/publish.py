"""Delivery: messages -> Kafka with confluent-kafka, every message accounted for.

``publish(settings, messages)`` is the producer's core, used by ``studentflow produce``, the
pipeline's ``run`` and the benchmark. It returns a :class:`DeliveryReport`: how many messages
were acknowledged (``acks=all``), how many failed and why. It never hangs: every wait is
bounded (``delivery_timeout`` per message, then the undelivered rest is purged and counted).

Producer loss. The embedded broker keeps everything in memory; after it restarts it no longer
knows the idempotent producer's id. librdkafka then either raises a fatal error or loops
bumping its epoch ("unknown producer id") until the messages time out. Both are detected (the
fatal error through ``error_cb``, the loop through librdkafka's ``eos`` debug log): the
producer is dropped, its unacknowledged messages are purged and re-sent through a new producer
(so they may be duplicated; downstream deduplicates on ``event_id``), and the report says how
many. With ``resend=False`` they are counted as failed instead ("may have been lost").

Here: the producer's settings and the loop that hands the messages over. The bookkeeping is in
:mod:`producer.delivery` (re-sending, accounting) and :mod:`producer.tracked_producer` (one
producer and the signs that it is lost), the cadence in :mod:`producer.pacing`, the report in
:mod:`producer.delivery_report`.
"""
from __future__ import annotations

import sys
from typing import Any, Callable, Iterable

from producer.delivery import Delivery, Stop
from producer.delivery_report import DeliveryReport
from producer.events import Message  # key/value are str, bytes or None (value None is never sent: see below)
from producer.pacing import Pacing
from producer.tracked_producer import TrackedProducer
from studentflow.core.kafka import preflight

# Throughput settings measured on the embedded broker (docs/architecture.md); a user's extra_conf wins.
PRODUCER_DEFAULTS: dict[str, Any] = {
    "acks": "all",
    "enable.idempotence": True,
    "linger.ms": 20,
    "batch.size": 1_000_000,
    "batch.num.messages": 10_000,
    "queue.buffering.max.messages": 500_000,
    "delivery.report.only.error": True,   # acked = handed over - failed: no Python call per message
    "debug": "eos",                        # idempotence state changes: how a lost producer id shows
}
RATE_CAPPED_LINGER_MS = 100   # linger.ms when publish() caps the rate: fewer, bigger batches


def publish(settings, messages: Iterable[Message], *, topic: str | None = None, conf: dict | None = None,
            extra_conf: dict | None = None, delivery_timeout: float = 30.0, rate: float | None = None,
            resend: bool = True, max_restarts: int = 3, create_topic: bool = True,
            progress: Callable[[DeliveryReport], None] | None = None, progress_interval: float = 0.5,
            on_error: Callable[[Any], None] | None = None, started: TrackedProducer | None = None) -> DeliveryReport:
    """Send ``(kind, key, value)`` messages to ``topic`` (default ``settings.topic``); return the report.

    ``conf`` is the client configuration (default ``studentflow.core.endpoints.kafka_conf(settings)``);
    ``extra_conf`` overrides producer settings. ``rate`` caps messages per second.
    ``progress(report)`` is called about every ``progress_interval`` seconds (``acked`` is a live
    estimate then); ``on_error(KafkaError)`` for each client-level error (connection lost, ...).
    A value of ``None`` is sent as an empty value, never as a tombstone. ``started``: a producer
    from :func:`start_producer` with the same settings, used instead of a new one.
    Raises ``StackError`` (one clear line) if the cluster cannot be reached at all.
    """
    if conf is None:
        from studentflow.core.endpoints import kafka_conf
        conf = kafka_conf(settings)
    topic = topic or settings.topic
    report = DeliveryReport(topic=topic, bootstrap=str(conf.get("bootstrap.servers", "")))
    # The producer starts connecting (and acquiring its idempotent producer id, which takes a
    # timer tick) while the preflight checks the cluster and the topic.
    delivery = Delivery(_producer_conf(conf, rate=rate, delivery_timeout=delivery_timeout, extra_conf=extra_conf),
                        topic, report, resend=resend, max_restarts=max_restarts, on_error=on_error, started=started)
    if create_topic:
        _preflight(delivery, conf, topic, settings)
    pacing = Pacing(rate, progress, progress_interval)
    try:
        _hand_over(delivery, messages, pacing)
        delivery.drain(delivery_timeout + 5)
    except Stop as stop:
        delivery.stopped(stop)
    finally:
        report.elapsed = pacing.elapsed()
        if sys.exc_info()[0] is not None:
            delivery.release()
    delivery.finish()
    return report


def start_producer(conf: dict, *, rate: float | None = None, delivery_timeout: float = 30.0,
                   extra_conf: dict | None = None) -> TrackedProducer:
    """A producer for a later publish() with the same arguments (``started=``), started now: the
    idempotent producer's id arrives 0.5-1 s after the producer is made (librdkafka asks for it on
    a 500 ms timer, the first time before any broker connection is up), and a caller that has
    other work first (a run's stack step) spends that time there instead of in publish()."""
    return TrackedProducer(_producer_conf(conf, rate=rate, delivery_timeout=delivery_timeout, extra_conf=extra_conf),
                           None)


def _producer_conf(conf: dict, *, rate: float | None, delivery_timeout: float, extra_conf: dict | None) -> dict:
    """The producer's configuration: the client's, the throughput defaults, then ``extra_conf``."""
    # A rate cap trickles messages: with the default linger each batch holds a few dozen, and the
    # embedded broker's cost per fetch grows with the number of batches it holds (measured with
    # `run --follow --rate 5000`: its CPU went from 7 to 60 CPU-s per minute over ten minutes with
    # 20 ms, 3 to 14 with 100 ms). 100 ms more latency is nothing at a capped rate.
    linger = {"linger.ms": RATE_CAPPED_LINGER_MS} if rate else {}
    return {**conf, **PRODUCER_DEFAULTS, **linger, "message.timeout.ms": int(delivery_timeout * 1000),
            **(extra_conf or {})}


def _preflight(delivery: Delivery, conf: dict, topic: str, settings) -> None:
    """Check the cluster and create the topic; on failure, close the new producer quietly."""
    try:
        preflight(conf, topic, settings.topic_partitions, replication=settings.topic_replication)
    except BaseException:
        delivery.inst.on_error = None   # the preflight's one-line error says it all
        delivery.inst.close(0)
        delivery.release()
        raise


def _hand_over(delivery: Delivery, messages: Iterable[Message], pacing: Pacing) -> None:
    """The hot loop: one produce() per message; everything else every ``pacing.every`` messages."""
    from confluent_kafka import KafkaException

    topic, report, every = delivery.topic, delivery.report, pacing.every
    produce, queued, n, attempted = delivery.inst.producer.produce, 0, 0, 0
    try:
        for _, key, value in messages:
            attempted += 1
            try:
                produce(topic, value or b"", key)
                queued += 1
            except (BufferError, KafkaException):
                delivery.inst.queued += queued
                queued = 0
                delivery.send(key, value or b"")      # slow path: waits for room, swaps a lost producer
                produce = delivery.inst.producer.produce
            n += 1
            if n >= every:
                delivery.inst.queued += queued
                report.attempted = attempted
                queued = n = 0
                delivery.checkpoint()
                produce = delivery.inst.producer.produce
                pacing.wait(delivery, attempted)
        delivery.inst.queued += queued
    finally:
        report.attempted = attempted
        produce = None   # this frame's reference to the producer: release() must hold the last one
