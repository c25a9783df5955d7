"""One publish's deliveries: the current producer, re-sending after a producer loss, the accounting.

Every message handed over ends up counted once in the :class:`DeliveryReport`, acknowledged or
failed with a reason. When the producer is lost (see :mod:`producer.tracked_producer`), its
unacknowledged messages are purged and re-sent through a new producer (duplicates possible;
downstream deduplicates on ``event_id``), or, with ``resend=False``, counted as failed.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Any

from producer.delivery_report import DeliveryReport
from producer.tracked_producer import TrackedProducer
from studentflow.core.kafka import short

DESTROY_WAIT = 1.0            # seconds release() waits for the producers' destruction (normally instant)
# Failure codes of a dropped producer's messages that a new producer may send again.
RESEND_CODES = {"_PURGE_QUEUE", "_PURGE_INFLIGHT", "_FATAL", "_MSG_TIMED_OUT", "UNKNOWN_PRODUCER_ID",
                "OUT_OF_ORDER_SEQUENCE_NUMBER", "INVALID_PRODUCER_EPOCH"}
NOT_SENT = "not sent (producer lost)"


class Stop(Exception):
    """The producer was lost more often than allowed: stop reading the source."""


class Delivery:
    """One publish() call: the current producer instance, the re-send backlog, the report."""

    def __init__(self, pconf: dict, topic: str, report: DeliveryReport, *, resend: bool, max_restarts: int,
                 on_error, started: TrackedProducer | None = None) -> None:
        self.pconf, self.topic, self.report = pconf, topic, report
        self.resend, self.max_restarts, self.on_error = resend, max_restarts, on_error
        self.settled_acked = 0
        self.backlog: deque[tuple[Any, Any]] = deque()
        if started is not None and started.conf == pconf and started.queued == 0:   # started ahead, unused
            started.on_error, self.inst = on_error, started
        else:
            self.inst = TrackedProducer(pconf, on_error)
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
                if self.inst.lost_by(err):
                    continue   # swapped at the top of the loop, this message sent again by the new producer
                self.fail(err.name(), err.str())
                return

    def checkpoint(self) -> None:
        """Serve the callbacks; swap the producer if it is lost."""
        self.inst.poll(0)
        if self.inst.lost:
            self.swap()

    def fail(self, reason: str, text: str) -> None:
        self.report.failed += 1
        self.report.failures[reason] += 1
        self.report.failure_examples.setdefault(reason, short(text))

    def settle(self, old: TrackedProducer, *, dropping: bool) -> None:
        """Account for a finished instance: acked = queued - failed reports; failures re-sent or counted."""
        self.settled_acked += old.queued - old.errors
        for code, text, key, value in old.failed:
            if dropping and self.resend and code in RESEND_CODES:
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
            raise Stop(f"producer lost {self.report.producer_restarts + 1} times, last: {reason}")
        self.inst.close(0)
        self.settle(self.inst, dropping=True)
        self.report.producer_restarts += 1
        self.report.restart_reasons.append(reason)
        self.finished.append(self.inst.producer)
        self.inst.producer = None
        self.inst = TrackedProducer(self.pconf, self.on_error)
        while self.backlog:
            self.send(*self.backlog.popleft())

    def drain(self, timeout: float) -> None:
        """Wait (bounded) for the last acknowledgements, through as many producers as it takes."""
        while True:
            self.inst.close(timeout)
            if not self.inst.lost:
                self.settle(self.inst, dropping=False)
                return
            self.swap()

    def stopped(self, stop: Stop) -> None:
        """The source is abandoned: what the producer still holds, and the backlog, count as failed."""
        self.report.stopped_early = str(stop)
        self.inst.close(0)
        self.resend = False
        self.settle(self.inst, dropping=True)
        for _key, _value in self.backlog:
            self.fail("lost with its producer (not re-sent)", "")
        self.backlog.clear()

    def sync(self) -> None:
        """Bring the report's acked/pending up to date (live estimate while running)."""
        pending = len(self.inst.producer) if self.inst.producer is not None else 0
        self.report.pending = pending
        self.report.acked = self.settled_acked + max(0, self.inst.queued - self.inst.errors - pending)

    def finish(self) -> None:
        """Final figures: a message taken from the source and never handed over counts as failed."""
        self.sync()
        report = self.report
        report.pending = 0
        missing = report.attempted - report.acked - report.failed   # e.g. the message in hand when we stopped
        if missing > 0:
            self.fail(NOT_SENT, "")
            report.failures[NOT_SENT] += missing - 1
            report.failed += missing - 1
        self.release()

    def release(self) -> None:
        """Destroy every producer of this run on a daemon thread, waiting at most DESTROY_WAIT.

        librdkafka's destroy of a producer whose broker went away and came back can block forever
        in thrd_join (a known librdkafka hang; seen here at interpreter exit, after the summary was
        printed). Left to the garbage collector, that destroy runs on the main thread; here it runs
        where a hang costs nothing (the GIL is released while librdkafka waits, and a daemon thread
        does not hold the process's exit).
        The thread must hold the last references, so callers drop theirs first.
        """
        if self.inst.producer is not None:
            self.finished.append(self.inst.producer)
            self.inst.producer = None
        doomed, self.finished = self.finished, []
        worker = threading.Thread(target=doomed.clear, name="studentflow-producer-destroy", daemon=True)
        worker.start()
        worker.join(DESTROY_WAIT)


def _reason(code: str, dropping: bool) -> str:
    if dropping and code in RESEND_CODES:
        return "may have been lost with the dropped producer"
    return {"_MSG_TIMED_OUT": "not acknowledged within the delivery timeout",
            "_PURGE_QUEUE": "not sent within the delivery timeout",
            "_PURGE_INFLIGHT": "no answer within the delivery timeout"}.get(code, code)
