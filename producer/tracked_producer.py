"""One confluent-kafka Producer with its delivery bookkeeping, and the signs that it is lost.

Delivery reports come for failures only (``delivery.report.only.error``): a message accepted by
``produce()`` and not reported failed when the producer is done was acknowledged, so the count
costs no Python call per message. A producer is lost when librdkafka says so (a fatal error, from
``error_cb``, a delivery report or ``poll()``) or when its ``eos`` debug log keeps repeating
"unknown producer id" (the broker restarted and forgot the idempotent producer's id).
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

UNKNOWN_PID_THRESHOLD = 5     # "unknown producer id" log lines before the producer is declared lost
FLUSH_SLICE = 0.1             # seconds per client flush() call: under confluent-kafka's 200 ms chunks (see flush)


class LogWatch(logging.Handler):
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


class TrackedProducer:
    """One confluent-kafka Producer and its bookkeeping."""

    counter = 0

    def __init__(self, conf: dict, on_error: Callable[[Any], None] | None) -> None:
        from confluent_kafka import Producer

        TrackedProducer.counter += 1
        self.watch = LogWatch()
        self.logger = logging.getLogger(f"studentflow.kafka.producer{TrackedProducer.counter}")
        self.logger.handlers[:] = [self.watch]
        self.logger.setLevel(logging.DEBUG)
        self.logger.propagate = False
        self.queued = 0        # produce() calls accepted by this instance
        self.errors = 0        # delivery reports with an error (each message reports once)
        self.failed: list[tuple[str, str, Any, Any]] = []   # (code, text, key, value)
        self.fatal = ""
        self.broken = ""       # a call on the client failed without saying why (see _guard)
        self.client_errors: list[tuple[str, str]] = []     # (code name, text) from error_cb
        self.on_error = on_error
        self.conf = conf
        self.producer = Producer({**conf, "logger": self.logger, "on_delivery": self._delivered,
                                  "error_cb": self._error})
        self._connect()

    def _connect(self, timeout: float = 1.0) -> None:
        """One metadata request, so the connection is up before the first produce(). An idempotent
        producer that gets its first message before any broker is up asks for its producer id only
        half a second later (measured on the embedded broker: 10k messages acknowledged in 0.51 s
        from a new producer, in 0.013 s after this request, which takes about 0.05 s). A broker
        that does not answer costs ``timeout`` here; the messages then wait and report as before."""
        from confluent_kafka import KafkaException

        try:
            self.producer.list_topics(timeout=timeout)
        except KafkaException:
            pass

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
        if self.on_error is not None:
            self.on_error(err)

    def poll(self, timeout: float) -> None:
        """producer.poll(); a fatal error raised from it (librdkafka does) marks the producer lost."""
        self._guard(self.producer.poll, timeout)

    def flush(self, timeout: float) -> None:
        """producer.flush() for up to ``timeout``, in calls shorter than 200 ms. confluent-kafka splits
        a longer call into 200 ms chunks and goes on after a callback failed. The fatal event fails
        that way (it is raised, never passed to error_cb) and leaves its exception set, so the next
        delivery report ran with it pending and died at err.name() (SystemError) after counting the
        error but before recording the message: never re-sent, and reported "not sent (producer
        lost)" (seen once in the suite, test_producer_restart; reproduced on librdkafka's mock
        cluster with a forced fatal error: in 8 runs of 8 before, in none of 8 after). A short call
        stops at the failed callback and raises here (_guard), before any other callback runs."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            started = time.monotonic()
            self._guard(self.producer.flush, min(FLUSH_SLICE, max(0.0, deadline - started)))
            if not len(self.producer) or time.monotonic() >= deadline:
                return
            if time.monotonic() - started < FLUSH_SLICE / 2:   # it raised at once: no hot loop
                time.sleep(0.005)

    def _guard(self, call, timeout: float) -> None:
        from confluent_kafka import KafkaException

        try:
            call(timeout)
        except KafkaException as exc:
            if not self.lost_by(exc.args[0]):
                raise
        except SystemError as exc:
            # The client returned an error without its exception ("returned NULL without setting an
            # exception"), seen once from flush() while the broker restarted under load: an exception
            # raised inside one of its callbacks was lost. Its state is unknown: the instance is
            # dropped like a lost one (unacknowledged messages purged and sent again by a new one).
            self.broken = self.broken or f"{type(exc).__name__} from {getattr(call, '__name__', 'a call')}()"

    def lost_by(self, err) -> bool:
        """Whether ``err`` (raised by a call on the producer) says the instance is in its fatal state;
        if so it is marked lost. produce() on such an instance raises _FATAL ("Unable to produce
        message: Local: Fatal error") without the fatal flag, before the fatal event has been served."""
        if not (err.fatal() or err.name() == "_FATAL"):
            return False
        self.fatal = self.fatal or f"{err.name()}: {err.str()}"
        return True

    @property
    def lost(self) -> str:
        """Why this producer can no longer deliver, or ''."""
        if self.fatal:
            return f"fatal error {self.fatal.split(':', 1)[0]}"
        if self.broken:
            return f"the client failed ({self.broken})"
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
