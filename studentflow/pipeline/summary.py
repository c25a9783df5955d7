"""What a run is asked to do (:class:`RunOptions`) and what it says it did (:class:`RunSummary`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studentflow.core.config import Settings


@dataclass
class StageTime:
    name: str
    seconds: float
    count: int | None = None
    detail: str = ""


@dataclass
class RunSummary:
    stages: list[StageTime] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    gate_passed: bool | None = None
    total_seconds: float = 0.0
    run_id: str | None = None                                   # the last normalize increment's
    freshness: dict[str, float] = field(default_factory=dict)   # p50_s, p95_s, max_s, events (run --follow)
    gate_failures: int = 0
    stop_reason: str = ""

    def as_json(self) -> dict[str, Any]:
        """The machine-readable summary (`run --json`): counts, balance, stages, freshness, gate."""
        c = self.counts
        balanced = None
        if "lines_read" in c:
            balanced = c["lines_read"] == (c.get("clean", 0) + c.get("quarantined", 0)
                                           + c.get("duplicates_removed", 0) + c.get("headers", 0))
        return {"counts": dict(c), "run_id": self.run_id, "balance_ok": balanced,
                "stages": {s.name: round(s.seconds, 3) for s in self.stages},
                "total_seconds": round(self.total_seconds, 3), "freshness": self.freshness,
                "gate_passed": self.gate_passed, "gate_failures": self.gate_failures,
                "stop_reason": self.stop_reason or None, "outputs": dict(self.outputs)}

    def as_report_input(self, total_seconds: float | None = None):
        """The typed run summary the report prints (``total_seconds``: so far, when the report is
        written before the run ends)."""
        from studentflow.report.data import ReportRun, StageRun

        return ReportRun(stages=tuple(StageRun(s.name, s.seconds, s.count, s.detail) for s in self.stages),
                         counts=dict(self.counts),
                         total_seconds=self.total_seconds if total_seconds is None else total_seconds,
                         run_id=self.run_id)


@dataclass
class RunOptions:
    count: int = 10_000
    malformed_rate: float = 0.05
    seed: int | None = None
    produce: bool = True
    keep_stack: bool = False
    fresh: bool = False
    lang: str = "fr"
    sink_timeout: float = 600.0
    gate: bool = True
    rate: float = 0.0             # cap on events/s while producing (0: as fast as the broker takes them)
    junit_xml: Path | None = None  # dbt's tests and the gate's expectations as JUnit XML, for CI


def staged_lines(settings: Settings) -> int:
    """Complete lines in the staging files: the same lister and count normalize uses."""
    from studentflow.core import staging

    return staging.count_lines(staging.staging_files(settings.staging_dir, must_exist=False))
