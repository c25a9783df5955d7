"""`studentflow run`: the steps in order, stage after stage, with counts that must add up.

The stages overlap: Spark starts in the background at once, and increments run (the background
Normalizer) while events are produced and the sink drains. On a running stack, transform,
validate and report run in the stack's quality worker (their libraries already imported);
otherwise here, the validate and report steps' imports paid on a thread during the last increment.
"""
from __future__ import annotations

import time

from studentflow.core.errors import StudentflowError
from studentflow.pipeline.derive import Report, Transform, Validate
from studentflow.pipeline.ingest import Normalize, Produce, Sink, Stack, start_producer
from studentflow.pipeline.runner import Runner
from studentflow.pipeline.summary import RunSummary, staged_lines
from studentflow.signals import stop_on_signal


class Pipeline(Runner):
    """stack -> produce -> sink -> normalize -> transform -> validate -> report."""

    def run(self) -> RunSummary:
        self.ctx.t0 = time.perf_counter()
        # SIGTERM / Ctrl-C: the run unwinds at its next safe point (see studentflow.signals), the
        # stack it started is stopped, and the summary says how it stopped (the CLI exits 130).
        with stop_on_signal(self.stopping, "the run stops after its current step, and stops what it started"):
            try:
                self._run()
            except BaseException as exc:
                if not self.stopping.is_set():
                    raise
                self.stopped_in_flight(exc)
            finally:
                self.stopping.unwind()   # from here on a signal never interrupts stopping what the run started
                normalizer = self.ctx.normalizer
                if normalizer is not None and "lines_read" not in self.summary.counts:
                    self.summary.counts.update(normalizer.totals.counts())   # committed before a stop
                self.stop_started_stack()
        return self.finish()

    def _run(self) -> None:
        from spark_jobs.session import QUICK_JIT_LINES

        if self.options.fresh:
            self._fresh()
        # Overlap: the Spark JVM starts now, in the background, while the stack comes up and events
        # flow; increments run while the sink drains, so only a small one is left at the end.
        quality = self.start_quality()
        spark = self.start_spark(quick_jit=self.options.produce and self.options.count < QUICK_JIT_LINES)
        # here, transform builds on the parse made while normalize ran (see _preload)
        later = [Transform(keep_parse=quality is None), *([Validate()] if self.options.gate else []), Report()]
        if self.options.produce:
            start_producer(self.ctx)   # its id arrives while the stack step runs
        normalized = False
        try:
            self._ingest()
            if quality is None:
                self._preload(later[1:])   # dbt's parse, GX's imports while this process mostly waits on Spark
            else:   # the worker parses dbt's project on the core the last commit leaves free
                self.ctx.last_commit_starts = lambda: self._prepare_worker(quality)
            self.run_step(Normalize())
            normalized = True
        except BaseException:
            if self.stopping.is_set():
                self.stopping.unwind()   # stopped: releasing Spark below is not interrupted by a later signal
            raise
        finally:
            if self.ctx.normalizer is not None:
                self.ctx.normalizer.abandon()
            if normalized:
                self.stop_engines_behind(spark)
            else:
                spark.release()
        if quality is not None and quality.run_steps(self.ctx, later):
            return
        for step in later:
            self.run_step(step)

    def _ingest(self) -> None:
        """The stack and the events into staging, as far as this run has them to bring."""
        from studentflow.core.endpoints import stack_health

        health = None if self.options.produce else stack_health(self.settings)
        if health is not None and not health.worker_died:
            if not health.reachable:
                self.ctx.say("==> --no-produce and no stack running: normalizing what is already in staging")
                return
            self.ctx.say("==> --no-produce: draining what is on the topic into staging")
        else:
            if health is not None:
                self.ctx.say("==> --no-produce: the stack's Connect worker is not running: restarting it, then "
                             "draining the topic into staging")
            self.run_step(Stack(producer_ahead=self.options.produce))
            self.ctx.staged_before = staged_lines(self.settings)
        self._start_normalizer()
        if self.options.produce:
            self.run_step(Produce())
        self.run_step(Sink())

    def _start_normalizer(self) -> None:
        """Increments from here on, while events arrive and the sink drains (once Spark is warm)."""
        from studentflow.pipeline.warm import Normalizer

        self.ctx.normalizer = Normalizer(self.settings, self.ctx.spark, self.ctx.note).start()

    def _fresh(self) -> None:
        from studentflow import stack
        if stack.running(self.settings):
            raise StudentflowError("--fresh would delete staging files the running sink is writing",
                                   "run `studentflow stack down` first")
        from studentflow.core import staging
        for f in staging.staging_files(self.settings.staging_dir, must_exist=False):
            f.unlink()
        self.settings.warehouse.unlink(missing_ok=True)
        self.ctx.say("==> fresh start: staging files and warehouse removed")

    def _prepare_worker(self, quality) -> None:
        """The quality worker parses this run's dbt project during the last increment's commit:
        its first job otherwise begins with the parse when the project changed (about 2 s, and the
        first dbt invocation of the worker's life about 1 s more). Not earlier: while Spark
        transforms the increment on both cores, the parse slowed the normalize about as much as
        it saved (1M events, `bench.run`). On a thread: the transform job queues behind it."""
        import threading

        threading.Thread(target=quality.prepare, args=(self.settings,), name="prepare-worker", daemon=True).start()

    def _preload(self, steps) -> None:
        """In a thread while the last increment is normalized (this process mostly waits on the
        Spark server then): dbt's parse of the project (about 2 s on a fresh clone; the build then
        only builds), then the later steps' imports (GX's and the report's, about 2 s of one
        core). In that order: the build comes first and waits for the parse (runner's parse lock)."""
        import threading

        from studentflow.transform import runner as dbt_runner

        def work() -> None:
            try:
                dbt_runner.parsed_manifest(self.settings)
            except Exception:  # noqa: BLE001  (the build parses again and says what is wrong)
                pass
            for step in steps:
                try:
                    step.prepare(self.ctx)
                except Exception:  # noqa: BLE001  (the step does it again and says what is wrong)
                    continue
        self.ctx.preload = threading.Thread(target=work, name="preload", daemon=True)
        self.ctx.preload.start()
