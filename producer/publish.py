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
"""
from __future__ import annotations

import logging
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from producer.events import Message  # key/value are str, bytes or None (value None is never sent: see below)
from studentflow.core.config import redact  # noqa: F401  (part of this module's API)
from studentflow.core.errors import StackError
from studentflow.core.kafka import preflight, short as _short  # noqa: F401  (preflight: part of this module's API)

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
UNKNOWN_PID_THRESHOLD = 5     # "unknown producer id" log lines before the producer is declared lost
POLL_EVERY = 1024             # messages between two polls (callbacks, progress, rate limit)
DESTROY_WAIT = 1.0            # seconds publish() waits for its producers' destruction (normally instant)
_RESEND_CODES = {"_PURGE_QUEUE", "_PURGE_INFLIGHT", "_FATAL", "_MSG_TIMED_OUT", "UNKNOWN_PRODUCER_ID",
                 "OUT_OF_ORDER_SEQUENCE_NUMBER", "INVALID_PRODUCER_EPOCH"}
@dataclass
class DeliveryReport:
    """What happened to the messages handed to :func:`publish`."""

    topic: str
    bootstrap: str = ""
    attempted: int = 0          # messages taken from the source
    acked: int = 0              # acknowledged by the cluster (acks=all)
    failed: int = 0             # definitively not delivered
    failures: Counter = field(default_factory=Counter)          # reason -> count
    failure_examples: dict[str, str] = field(default_factory=dict)  # reason -> one librdkafka message
    resent: int = 0             # unacknowledged messages re-sent after a producer was lost
    producer_restarts: int = 0
    restart_reasons: list[str] = field(default_factory=list)
    stopped_early: str = ""     # set when the source was not read to its end
    elapsed: float = 0.0
    pending: int = 0            # in the client's queue (only non-zero while running)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and not self.stopped_early and self.acked == self.attempted

    @property
    def rate(self) -> float:
        return self.acked / self.elapsed if self.elapsed > 0 else 0.0

    def summary(self) -> str:
        """One line: the CLI's last word."""
        head = (f"{self.acked:,} of {self.attempted:,} messages acknowledged by {self.topic} "
                f"in {self.elapsed:.1f} s ({self.rate:,.0f}/s); failed: {self.failed:,}")
        if self.failures:
            head += " (" + ", ".join(f"{reason} x{n:,}" for reason, n in self.failures.most_common()) + ")"
        if self.producer_restarts:
            head += f"; producer recreated {self.producer_restarts}x ({'; '.join(dict.fromkeys(self.restart_reasons))})"
            if self.resent:
                head += f", {self.resent:,} unacknowledged messages re-sent (duplicates possible)"
        if self.stopped_early:
            head += f"; stopped early: {self.stopped_early}"
        return head


class _LogWatch(logging.Handler):
    """Receives librdkafka's log (served on poll) and watches for a lost producer id."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.unknown_pid = 0
        self.warnings: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if "unknown producer id" in msg.lower():
            self.unknown_pid += 1
        if record.levelno >= logging.WARNING and len(self.warnings) < 50:
            self.warnings.append(msg)


class _Instance:
    """One confluent-kafka Producer and its bookkeeping."""

    counter = 0

    def __init__(self, conf: dict, on_error: Callable[[Any], None] | None) -> None:
        from confluent_kafka import Producer

        _Instance.counter += 1
        self.watch = _LogWatch()
        self.logger = logging.getLogger(f"studentflow.kafka.producer{_Instance.counter}")
        self.logger.handlers[:] = [self.watch]
        self.logger.setLevel(logging.DEBUG)
        self.logger.propagate = False
        self.queued = 0        # produce() calls accepted by this instance
        self.errors = 0        # delivery reports with an error (each message reports once)
        self.failed: list[tuple[str, str, Any, Any]] = []   # (code, text, key, value)
        self.fatal = ""
        self.client_errors: list[tuple[str, str]] = []     # (code name, text) from error_cb
        self._on_error = on_error
        self.producer = Producer({**conf, "logger": self.logger, "on_delivery": self._delivered,
                                  "error_cb": self._error})

    def _delivered(self, err, msg) -> None:
        if err is not None:
            self.errors += 1
            self.failed.append((err.name(), err.str(), msg.key(), msg.value()))
            if err.name() == "_FATAL":   # the instance is in its fatal state: its error event may come later
                self.fatal = self.fatal or f"{err.name()}: {err.str()}"

    def _error(self, err) -> None:
        if err.fatal():
            self.fatal = f"{err.name()}: {err.str()}"
        self.client_errors.append((err.name(), err.str()))
        if self._on_error is not None:
            self._on_error(err)

    def poll(self, timeout: float) -> None:
        """producer.poll(); a fatal error raised from it (librdkafka does) marks the producer lost."""
        self._guard(self.producer.poll, timeout)

    def flush(self, timeout: float) -> None:
        self._guard(self.producer.flush, timeout)

    def _guard(self, call, timeout: float) -> None:
        from confluent_kafka import KafkaException

        try:
            call(timeout)
        except KafkaException as exc:
            err = exc.args[0]
            if not err.fatal():
                raise
            self.fatal = self.fatal or f"{err.name()}: {err.str()}"

    @property
    def lost(self) -> str:
        """Why this producer can no longer deliver, or ''."""
        if self.fatal:
            return f"fatal error {self.fatal.split(':', 1)[0]}"
        if self.watch.unknown_pid >= UNKNOWN_PID_THRESHOLD:
            return "broker forgot the producer id (UNKNOWN_PRODUCER_ID, broker restarted?)"
        return ""

    def close(self, timeout: float) -> None:
        """Wait up to ``timeout`` for outstanding deliveries, then purge what is left (reported as failed)."""
        p = self.producer
        deadline = time.monotonic() + max(0.0, timeout)
        while len(p) and time.monotonic() < deadline and not self.lost:
            self.flush(min(0.5, max(0.0, deadline - time.monotonic())))
        if len(p):
            p.purge(in_queue=True, in_flight=True)
            self.flush(5)     # serves the purge reports; purged messages report at once
        self.poll(0)


class _Stop(Exception):
    """The producer was lost more often than allowed: stop reading the source."""


class _Run:
    """One publish() call: the current producer instance, the re-send backlog, the report."""

    def __init__(self, pconf: dict, topic: str, report: DeliveryReport, *, resend: bool, max_restarts: int,
                 on_error) -> None:
        self.pconf, self.topic, self.report = pconf, topic, report
        self.resend, self.max_restarts, self.on_error = resend, max_restarts, on_error
        self.settled_acked = 0
        self.backlog: deque[tuple[Any, Any]] = deque()
        self.inst = _Instance(pconf, on_error)
        self.finished: list[Any] = []   # dropped producers, destroyed by release()

    def send(self, key: Any, value: Any) -> None:
        """Queue one message: waits (bounded) while the queue is full, swaps a lost producer."""
        from confluent_kafka import KafkaException

        while True:
            if self.inst.lost:
                self.swap()
            try:
                self.inst.producer.produce(self.topic, value, key)
                self.inst.queued += 1
                return
            except BufferError:   # queue full: messages leave it by delivery or by timeout
                self.inst.poll(0.005)
            except KafkaException as exc:
                err = exc.args[0]
                if err.fatal():
                    self.inst.fatal = self.inst.fatal or f"{err.name()}: {err.str()}"
                    continue
                self.fail(err.name(), err.str())
                return

    def fail(self, reason: str, text: str) -> None:
        self.report.failed += 1
        self.report.failures[reason] += 1
        self.report.failure_examples.setdefault(reason, _short(text))

    def settle(self, old: _Instance, *, dropping: bool) -> None:
        """Account for a finished instance: acked = queued - failed reports; failures re-sent or counted."""
        self.settled_acked += old.queued - old.errors
        for code, text, key, value in old.failed:
            if dropping and self.resend and code in _RESEND_CODES:
                self.backlog.append((key, value))
                self.report.resent += 1
            else:
                self.fail(_reason(code, dropping), text)
        old.failed.clear()
        old.queued = old.errors = 0

    def swap(self) -> None:
        """Drop the lost producer (its unacknowledged messages go to the backlog) and start a new one."""
        reason = self.inst.lost
        if self.report.producer_restarts >= self.max_restarts:
            raise _Stop(f"producer lost {self.report.producer_restarts + 1} times, last: {reason}")
        self.inst.close(0)
        self.settle(self.inst, dropping=True)
        self.report.producer_restarts += 1
        self.report.restart_reasons.append(reason)
        self.finished.append(self.inst.producer)
        self.inst.producer = None
        self.inst = _Instance(self.pconf, self.on_error)
        while self.backlog:
            self.send(*self.backlog.popleft())

    def drain(self, timeout: float) -> None:
        while True:
            self.inst.close(timeout)
            if not self.inst.lost:
                self.settle(self.inst, dropping=False)
                return
            self.swap()

    def sync(self) -> None:
        """Bring the report's acked/pending up to date (live estimate while running)."""
        pending = len(self.inst.producer) if self.inst.producer is not None else 0
        self.report.pending = pending
        self.report.acked = self.settled_acked + max(0, self.inst.queued - self.inst.errors - pending)

    def release(self) -> None:
        """Destroy every producer of this run on a daemon thread, waiting at most DESTROY_WAIT.

        librdkafka's destroy of a producer whose broker went away and came back can block forever
        in thrd_join (a known librdkafka hang, e.g. confluentinc/librdkafka#4674; seen here at
        interpreter exit, after the summary was printed). Left to the garbage collector, that
        destroy runs on the main thread; here it runs where a hang costs nothing (the GIL is
        released while librdkafka waits, and a daemon thread does not hold the process's exit).
        The thread must hold the last references, so callers drop theirs first.
        """
        if self.inst.producer is not None:
            self.finished.append(self.inst.producer)
            self.inst.producer = None
        doomed, self.finished = self.finished, []
        worker = threading.Thread(target=doomed.clear, name="studentflow-producer-destroy", daemon=True)
        worker.start()
        worker.join(DESTROY_WAIT)


def publish(settings, messages: Iterable[Message], *, topic: str | None = None, conf: dict | None = None,
            extra_conf: dict | None = None, delivery_timeout: float = 30.0, rate: float | None = None,
            resend: bool = True, max_restarts: int = 3, create_topic: bool = True,
            progress: Callable[[DeliveryReport], None] | None = None, progress_interval: float = 0.5,
            on_error: Callable[[Any], None] | None = None) -> DeliveryReport:
    """Send ``(kind, key, value)`` messages to ``topic`` (default ``settings.topic``); return the report.

    ``conf`` is the client configuration (default ``studentflow.core.endpoints.kafka_conf(settings)``);
    ``extra_conf`` overrides producer settings. ``rate`` caps messages per second.
    ``progress(report)`` is called about every ``progress_interval`` seconds (``acked`` is a live
    estimate then); ``on_error(KafkaError)`` for each client-level error (connection lost, ...).
    A value of ``None`` is sent as an empty value, never as a tombstone.
    Raises ``StackError`` (one clear line) if the cluster cannot be reached at all.
    """
    from confluent_kafka import KafkaException

    if conf is None:
        from studentflow.core.endpoints import kafka_conf
        conf = kafka_conf(settings)
    topic = topic or settings.topic
    # A rate cap trickles messages: with the default linger each batch holds a few dozen, and the
    # embedded broker's cost per fetch grows with the number of batches it holds (measured with
    # `run --follow --rate 5000`: its CPU went from 7 to 60 CPU-s per minute over ten minutes with
    # 20 ms, 3 to 14 with 100 ms). 100 ms more latency is nothing at a capped rate.
    linger = {"linger.ms": RATE_CAPPED_LINGER_MS} if rate else {}
    pconf = {**conf, **PRODUCER_DEFAULTS, **linger, "message.timeout.ms": int(delivery_timeout * 1000),
             **(extra_conf or {})}
    report = DeliveryReport(topic=topic, bootstrap=str(conf.get("bootstrap.servers", "")))
    # The producer starts connecting (and acquiring its idempotent producer id, which takes a
    # timer tick) while the preflight checks the cluster and the topic.
    run = _Run(pconf, topic, report, resend=resend, max_restarts=max_restarts, on_error=on_error)
    if create_topic:
        try:
            preflight(conf, topic, settings.topic_partitions, replication=settings.topic_replication)
        except BaseException:
            run.inst._on_error = None   # the preflight's one-line error says it all
            run.inst.close(0)
            run.release()
            raise

    start = time.monotonic()
    every = POLL_EVERY if not rate else max(1, min(POLL_EVERY, int(rate / 50)))
    next_progress = start + progress_interval
    attempted = 0
    try:
        # The hot loop: one produce() per message; everything else every `every` messages.
        produce, queued, n = run.inst.producer.produce, 0, 0
        for _, key, value in messages:
            attempted += 1
            try:
                produce(topic, value or b"", key)
                queued += 1
            except (BufferError, KafkaException):
                run.inst.queued += queued
                queued = 0
                run.send(key, value or b"")      # slow path: waits for room, swaps a lost producer
                produce = run.inst.producer.produce
            n += 1
            if n >= every:
                run.inst.queued += queued
                report.attempted = attempted
                queued = n = 0
                run.inst.poll(0)
                if run.inst.lost:
                    run.swap()
                    produce = run.inst.producer.produce
                now = time.monotonic()
                while rate and attempted / rate > now - start:   # poll() returns early on any event
                    run.inst.poll(min(0.05, attempted / rate - (now - start)))
                    now = time.monotonic()
                if progress is not None and now >= next_progress:
                    report.elapsed = now - start
                    run.sync()
                    progress(report)
                    next_progress = now + progress_interval
        run.inst.queued += queued
        report.attempted = attempted
        run.drain(delivery_timeout + 5)
    except _Stop as stop:
        report.attempted = attempted
        report.stopped_early = str(stop)
        run.inst.close(0)
        run.resend = False
        run.settle(run.inst, dropping=True)
        for _key, _value in run.backlog:
            run.fail("lost with its producer (not re-sent)", "")
        run.backlog.clear()
    finally:
        report.elapsed = time.monotonic() - start
        produce = None   # publish's own reference to the last producer: release() must hold the last one
        if sys.exc_info()[0] is not None:
            run.release()
    run.sync()
    report.pending = 0
    missing = report.attempted - report.acked - report.failed   # e.g. the message in hand when we stopped
    if missing > 0:
        run.fail("not sent (producer lost)", "")
        report.failures["not sent (producer lost)"] += missing - 1
        report.failed += missing - 1
    run.release()
    return report


def _reason(code: str, dropping: bool) -> str:
    if dropping and code in _RESEND_CODES:
        return "may have been lost with the dropped producer"
    return {"_MSG_TIMED_OUT": "not acknowledged within the delivery timeout",
            "_PURGE_QUEUE": "not sent within the delivery timeout",
            "_PURGE_INFLIGHT": "no answer within the delivery timeout"}.get(code, code)
