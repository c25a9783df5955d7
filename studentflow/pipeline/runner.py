"""What `run` and `run --follow` share: one run context, a step run as a timed stage, the Spark
session started in the background, and stopping what the run started."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Callable

from studentflow.core.config import Settings
from studentflow.pipeline.step import RunContext, Step, timed
from studentflow.pipeline.summary import RunOptions, RunSummary
from studentflow.signals import in_flight


class Runner:
    def __init__(self, settings: Settings, options: RunOptions, progress: Callable[[str], None] = print) -> None:
        self.ctx = RunContext(settings, options, progress)
        self._stopper: threading.Thread | None = None   # stop_engines_behind's thread
        self._stopped: list[str] = []
        self._stop_error: BaseException | None = None

    # the context's parts the callers (the CLI, the benchmarks) read
    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    @property
    def options(self) -> RunOptions:
        return self.ctx.options

    @property
    def summary(self) -> RunSummary:
        return self.ctx.summary

    @property
    def stopping(self):
        """The stop request SIGTERM / Ctrl-C set; the run unwinds at its next safe point."""
        return self.ctx.stopping

    @property
    def last_increment(self):
        return self.ctx.last_increment

    @contextmanager
    def stage(self, name: str, title: str):
        with timed(self.ctx, name, title) as record:
            yield record

    def run_step(self, step: Step) -> None:
        with self.stage(step.name, step.title(self.ctx)) as record:
            step.run(self.ctx, record)

    def start_spark(self, *, quick_jit: bool = False):
        """The Spark session, attached in the background while the stack comes up and events flow.
        A server started now is the stack's when the stack outlives the run; else it is this run's."""
        from studentflow.core.endpoints import stack_up
        from studentflow.pipeline.warm import WarmSpark

        keep = self.options.keep_stack or stack_up(self.settings)
        self.ctx.spark = WarmSpark(self.settings, keep_server=keep, quick_jit=quick_jit and not keep,
                                   progress=self.ctx.note).start()
        return self.ctx.spark

    def start_quality(self):
        """Where this run's transform, validate and report go: the configured quality worker, or
        the stack's (started now when missing, so its imports overlap the run's first stages);
        None (this process) when the stack is the run's own or ``warm_quality`` is off."""
        from studentflow.core.endpoints import stack_up
        from studentflow.pipeline.quality_service import QualityClient

        s = self.settings
        if s.quality_remote or (s.warm_quality and (self.options.keep_stack or stack_up(s))):
            self.ctx.quality = QualityClient.for_run(s, self.ctx.note)
        return self.ctx.quality

    def stopped_in_flight(self, exc: BaseException) -> None:
        """A signal stopped the run: said as what it is, never as a failure of the stack."""
        note = in_flight(exc)
        if note:
            self.ctx.note(note)

    def stop_engines_behind(self, spark) -> None:
        """Once the last increment is committed, the later steps read the warehouse only: Spark (a
        server this run started: GBs after a big run) and the stack this run started stop on a
        thread while dbt, GX and the report run, instead of after them (about 1 s of `run --count
        10000`); :meth:`stop_started_stack` waits for that thread."""
        def work() -> None:
            try:
                try:
                    spark.release()
                finally:
                    self._stopped = self._down()
            except BaseException as exc:  # noqa: BLE001  (raised where the run waits for this thread)
                self._stop_error = exc

        self._stopper = threading.Thread(target=work, name="stop-engines")
        self._stopper.start()

    def stop_started_stack(self) -> None:
        if self._stopper is not None:
            self._stopper.join()
            if self._stop_error is not None:
                raise self._stop_error
            stopped = self._stopped
        else:
            stopped = self._down()
        if stopped:
            self.ctx.say(f"==> stopped the stack this run started ({', '.join(stopped)})")

    def _down(self) -> list[str]:
        if self.ctx.started_stack and not self.options.keep_stack:
            from studentflow import stack
            return stack.down(self.settings)
        return []

    def finish(self, stop_reason: str | None = None) -> RunSummary:
        self.summary.stop_reason = self.stopping.reason() or stop_reason or ""
        self.summary.total_seconds = time.perf_counter() - self.ctx.t0
        return self.summary
