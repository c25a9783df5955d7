"""The publish loop's cadence: how often it leaves the hot path, the rate cap, the progress calls."""
from __future__ import annotations

import time
from typing import Callable

from producer.delivery import Delivery
from producer.delivery_report import DeliveryReport

POLL_EVERY = 1024             # messages between two polls (callbacks, progress, rate limit)


class Pacing:
    """What the loop does every :attr:`every` messages, besides polling: keep to ``rate`` messages
    per second (if set) and call ``progress(report)`` about every ``interval`` seconds."""

    def __init__(self, rate: float | None, progress: Callable[[DeliveryReport], None] | None,
                 interval: float) -> None:
        self.rate = rate
        # a capped rate checks its schedule about 50 times a second
        self.every = POLL_EVERY if not rate else max(1, min(POLL_EVERY, int(rate / 50)))
        self.progress, self.interval = progress, interval
        self.start = time.monotonic()
        self.next_progress = self.start + interval

    def wait(self, delivery: Delivery, attempted: int) -> None:
        """Hold back until ``attempted`` messages are due at the capped rate; report progress if due."""
        rate, start = self.rate, self.start
        now = time.monotonic()
        while rate and attempted / rate > now - start:   # poll() returns early on any event
            delivery.inst.poll(min(0.05, attempted / rate - (now - start)))
            now = time.monotonic()
        if self.progress is not None and now >= self.next_progress:
            delivery.report.elapsed = now - start
            delivery.sync()
            self.progress(delivery.report)
            self.next_progress = now + self.interval

    def elapsed(self) -> float:
        return time.monotonic() - self.start
