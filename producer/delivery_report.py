"""The summary of a publish: what happened to every message handed to ``producer.publish.publish``."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class DeliveryReport:
    """What happened to the messages handed to :func:`producer.publish.publish`."""

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
