"""One step of the pipeline (produce, sink, normalize, transform, validate, report ...) and the
context the steps of one run share.

A step has a ``name`` (its key in the summary's stage timings), a ``title`` (its progress line),
``prepare`` (imports paid ahead of time, on a thread or in another process) and ``run``, which
fills the shared :class:`RunContext` and the step's :class:`StageTime`. `run`, `run --follow`
and the gate/report process compose the same step objects; :func:`timed` is the one place a
step's progress lines and timing are written.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from studentflow.core.config import Settings
from studentflow.pipeline.summary import RunOptions, RunSummary, StageTime
from studentflow.signals import StopRequest


@dataclass
class RunContext:
    """What the steps of one run share: settings, options, where progress goes, the summary they
    fill, the stop request, and the engines started for them."""

    settings: Settings
    options: RunOptions
    say: Callable[[str], None] = print
    summary: RunSummary = field(default_factory=RunSummary)
    stopping: StopRequest = field(default_factory=StopRequest)   # set by SIGTERM / Ctrl-C
    t0: float = field(default_factory=time.perf_counter)
    spark: Any = None          # studentflow.pipeline.warm.WarmSpark
    normalizer: Any = None     # studentflow.pipeline.warm.Normalizer, while events are produced and sunk
    quality: Any = None        # the quality worker the later steps go to (QualityClient; None: this process)
    producer: Any = None       # the Produce step's producer, started ahead (producer.tracked_producer)
    preload: threading.Thread | None = None   # the later steps' prepare(), during the last increment
    # called when the run's last increment has left Spark and begins its SQLite commit (one core)
    last_commit_starts: Callable[[], None] | None = None
    started_stack: bool = False
    staged_before: int = 0     # complete staged lines before this run produced anything
    last_increment: Any = None   # spark_jobs.job.NormalizeResult of the last increment (run id, phases)
    junit_suites: list = field(default_factory=list)   # studentflow.core.junit suites so far (--junit-xml)
    run_id: str | None = None    # validate only this normalize run's rows (an increment of run --follow)
    report_input: Any = None     # with run_id: the run summary the report prints (its owner's)
    gate_failed: list[str] = field(default_factory=list)   # "table.column expectation" per failure
    report_files: list[str] = field(default_factory=list)
    # called once the steps no longer read the warehouse (the report drawing from what it read):
    # `run --follow` may then rebuild the marts
    read_done: Callable[[], None] = lambda: None
    # given: the report hands its drawing (from what it read) to it instead of drawing in line
    draw_later: Callable[[Callable[[], None]], None] | None = None

    def note(self, message: str) -> None:
        """A progress line under the step's title."""
        self.say("    " + message)

    def wait_preload(self) -> None:
        if self.preload is not None:
            self.preload.join()


class Step:
    """One step: ``run`` fills the context and the step's timing record."""

    name = ""

    def title(self, ctx: RunContext) -> str:
        raise NotImplementedError

    def prepare(self, ctx: RunContext) -> None:
        """Imports paid ahead of time, so ``run`` only runs (nothing by default)."""

    def run(self, ctx: RunContext, st: StageTime) -> None:
        raise NotImplementedError


@contextmanager
def timed(ctx: RunContext, name: str, title: str) -> Iterator[StageTime]:
    """A stage: a safe point to stop before and after, its title, its time and detail in the summary."""
    ctx.stopping.check()
    ctx.say(f"==> {title}")
    t0 = time.perf_counter()
    record = StageTime(name, 0.0)
    yield record
    record.seconds = time.perf_counter() - t0
    ctx.summary.stages.append(record)
    ctx.say(f"    {name} done in {record.seconds:.1f}s" + (f": {record.detail}" if record.detail else ""))
    ctx.stopping.check()
