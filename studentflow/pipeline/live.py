"""The parts of `run --follow` around its loop: freshness (emitted_at -> row in the marts, per
increment and merged over the run), the generated traffic (``--rate``), the sink's lag for the
status line (each increment's row goes to ``follow_increments``, a table of spark_jobs/warehouse.sql).
"""
from __future__ import annotations

import math
import sqlite3
import threading
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime

from studentflow.core.config import Settings

PHASES = ("normalize", "marts", "gate", "report")   # an increment's phases, each a <phase>_s column


@dataclass
class Freshness:
    rows: int
    p50: float
    p95: float
    max: float
    tenths: Counter        # delay rounded up to 0.1 s -> rows: merged across increments for the run's quantiles


def _quantile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(round(q * (len(sorted_values) - 1))))]


def histogram_quantile(tenths: Counter, q: float) -> float:
    """The ``q`` quantile (seconds, 0.1 s resolution, rounded up) of a merged delay histogram."""
    total = sum(tenths.values())
    rank, seen = min(total - 1, int(round(q * (total - 1)))), 0
    for bucket in sorted(tenths):
        seen += tenths[bucket]
        if seen > rank:
            return bucket / 10
    raise ValueError("empty histogram")


def freshness(db, run_id: str, now: datetime) -> Freshness | None:
    """Seconds from each clean row's emitted_at to ``now``, for one increment (None: no timestamps)."""
    with closing(sqlite3.connect(db)) as conn:
        stamps = [r[0] for r in conn.execute("SELECT emitted_at FROM clean_students WHERE run_id = ? "
                                             "AND emitted_at IS NOT NULL", (run_id,))]
    delays = []
    for s in stamps:
        try:
            t = datetime.fromisoformat(s.replace("Z", "+00:00"))
        except ValueError:
            continue
        delays.append(max(0.0, (now - t).total_seconds()))
    if not delays:
        return None
    delays.sort()
    tenths = Counter(math.ceil(d * 10) for d in delays)
    return Freshness(len(delays), _quantile(delays, 0.5), _quantile(delays, 0.95), delays[-1], tenths)


class Traffic(threading.Thread):
    """Generated events at ``rate`` per second, until stopped (emitted_at = the real clock)."""

    def __init__(self, settings: Settings, rate: float, malformed_rate: float) -> None:
        super().__init__(name="traffic", daemon=True)
        self.settings, self.rate, self.malformed_rate = settings, rate, malformed_rate
        self.stopping = threading.Event()
        self.acked = 0
        self.error: BaseException | None = None

    def _messages(self, gen):
        while not self.stopping.is_set():
            yield from gen.messages(max(1, int(self.rate // 5)))

    def run(self) -> None:
        from producer import generate
        from producer.publish import publish
        from studentflow.core import endpoints

        try:
            gen = generate.for_settings(self.settings, seed=None, malformed_rate=self.malformed_rate)

            def progress(report) -> None:
                self.acked = report.acked
            report = publish(self.settings, self._messages(gen), conf=endpoints.kafka_conf(self.settings),
                             rate=self.rate, progress=progress, delivery_timeout=self.settings.delivery_timeout)
            self.acked = report.acked
        except BaseException as exc:  # noqa: BLE001  (reported in the summary)
            self.error = exc

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=60)


class LagWatch(threading.Thread):
    """The sink's lag for the status line, asked every ``every`` seconds on a thread of its own:
    each question opens two Kafka clients and reads the partitions' ends, which the loop's thread
    (the increments) should not wait for."""

    def __init__(self, settings: Settings, every: float = 2.0) -> None:
        super().__init__(name="follow-lag", daemon=True)
        self.settings, self.every = settings, every
        self.text = "?"
        self.stopping = threading.Event()

    def run(self) -> None:
        while True:
            self.text = self.ask()
            if self.stopping.wait(self.every):
                return

    def ask(self) -> str:
        from connect import lag, rest
        from studentflow.core import endpoints

        try:
            sinks = [cf for cf in rest.connector_files(None, self.settings) if not cf.is_source]
            total = sum(x.lag for cf in sinks for x in lag.connector_lag(endpoints.kafka_conf(self.settings), cf.name,
                                                                       self.settings.topic))
            return f"{total:,}"
        except Exception:  # noqa: BLE001  (a status line never stops the loop)
            return "?"

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)


def run_freshness(delays: Counter, increments: list[dict]) -> dict[str, float]:
    """The run's freshness over every event (not a quantile of per-increment quantiles); {} without any."""
    if not delays:
        return {}
    return {"p50_s": histogram_quantile(delays, 0.5), "p95_s": histogram_quantile(delays, 0.95),
            "max_s": max(r["freshness_max_s"] for r in increments if r["freshness_max_s"] is not None),
            "events": sum(delays.values())}
