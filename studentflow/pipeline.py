"""`studentflow run`: the whole pipeline, stage after stage, with counts that must add up.

produce -> Kafka topic -> Connect file sink -> staging file(s) -> Spark normalize ->
clean_students + quarantine_students -> dbt marts -> Great Expectations gate -> report.

Staging is the landing zone and accumulates across runs (like a data lake folder); normalize
reads it in increments (per-file watermarks), deduplicated by event_id against the warehouse.
The stages overlap: Spark starts in the background at once, and increments run while events
are produced and the sink drains. Each run checks two balances: this run's acknowledged events
all reached staging (extra lines are the sink's at-least-once duplicates), and every line
normalized is clean, quarantined, a removed duplicate or a CSV header.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from studentflow.core.config import Settings
from studentflow.core.errors import DataError, StudentflowError
from studentflow import shortfall
from studentflow.signals import StopRequest, in_flight, stop_on_signal


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


class Pipeline:
    def __init__(self, settings: Settings, options: RunOptions, progress: Callable[[str], None] = print) -> None:
        self.settings = settings
        self.options = options
        self.say = progress
        self.summary = RunSummary()
        self.started_stack = False
        self.stopping = StopRequest()  # set by SIGTERM / Ctrl-C; the run unwinds at its next safe point
        self.t0 = time.perf_counter()
        self.last_increment = None  # spark_jobs.job.NormalizeResult of the last increment (run id, phases)
        self.normalizer = None        # studentflow.engines.Normalizer, while events are produced
        self.spark = None             # studentflow.engines.WarmSpark
        self.preload = None           # a thread importing GX and the report's libraries during normalize
        self.staged_before = 0
        self.junit_suites: list = []  # studentflow.core.junit suites so far (--junit-xml)

    # -- stage plumbing --------------------------------------------------------------------
    @contextmanager
    def stage(self, name: str, title: str):
        self.stopping.check()
        self.say(f"==> {title}")
        t0 = time.perf_counter()
        record = StageTime(name, 0.0)
        yield record
        record.seconds = time.perf_counter() - t0
        self.summary.stages.append(record)
        self.say(f"    {name} done in {record.seconds:.1f}s" + (f": {record.detail}" if record.detail else ""))
        self.stopping.check()

    def run(self) -> RunSummary:
        t0 = self.t0 = time.perf_counter()
        # SIGTERM / Ctrl-C: the run unwinds at its next safe point (see studentflow.signals), the
        # stack it started is stopped, and the exit says it was interrupted.
        # A signal makes the run end with a summary saying how it stopped (the CLI exits 130).
        with stop_on_signal(self.stopping, "the run stops after its current step, and stops what it started"):
            try:
                self._run()
            except BaseException as exc:
                if not self.stopping.is_set():
                    raise
                self.stopped_in_flight(exc)
            finally:
                self.stopping.unwind()   # from here on a signal never interrupts stopping what the run started
                if self.normalizer is not None and "lines_read" not in self.summary.counts:
                    self.summary.counts.update(self.normalizer.totals.counts())   # committed before a stop
                if self.started_stack and not self.options.keep_stack:
                    from studentflow import stack
                    stopped = stack.down(self.settings)
                    if stopped:
                        self.say(f"==> stopped the stack this run started ({', '.join(stopped)})")
        self.summary.stop_reason = self.stopping.reason() or ""
        self.summary.total_seconds = time.perf_counter() - t0
        return self.summary

    def stopped_in_flight(self, exc: BaseException) -> None:
        """A signal stopped the run: said as what it is, never as a failure of the stack."""
        note = in_flight(exc)
        if note:
            self.say("    " + note)

    def _run(self) -> None:
        from studentflow.engines import WarmSpark

        if self.options.fresh:
            self._fresh()
        # Overlap: the Spark JVM starts now, in the background, while the stack comes up and events
        # flow; increments run while the sink drains, so only a small one is left at the end.
        # A server started now is the stack's when the stack outlives the run; else it is this run's.
        from studentflow.core.endpoints import stack_up
        from spark_jobs.session import QUICK_JIT_LINES
        keep = self.options.keep_stack or stack_up(self.settings)
        quick = not keep and self.options.produce and self.options.count < QUICK_JIT_LINES
        self.spark = WarmSpark(self.settings, keep_server=keep, quick_jit=quick,
                               progress=lambda m: self.say("    " + m)).start()
        try:
            if self.options.produce:
                self._stack()
                self._start_normalizer()
                self._produce()
                self._sink()
            elif worker_died(self.settings):
                self.say("==> --no-produce: the stack's Connect worker is not running: restarting it, then draining "
                         "the topic into staging")
                self._stack()
                self._start_normalizer()
                self._sink()
            elif stack_reachable(self.settings):
                self.say("==> --no-produce: draining what is on the topic into staging")
                self._start_normalizer()
                self._sink()
            else:
                self.say("==> --no-produce and no stack running: normalizing what is already in staging")
            self._preload()   # GX's imports while this process mostly waits on the Spark server
            self._normalize()
        except BaseException:
            if self.stopping.is_set():
                self.stopping.unwind()   # stopped: releasing Spark below is not interrupted by a later signal
            raise
        finally:
            if self.normalizer is not None:
                self.normalizer.abandon()
            self.spark.release()   # a server this run started (GBs after a big run) is gone before dbt, GX and the report
        self._transform()
        if self.options.gate:
            self._validate()
        self._report()

    def _start_normalizer(self) -> None:
        """Increments from here on, while events arrive and the sink drains (once Spark is warm)."""
        from studentflow.engines import Normalizer

        self.normalizer = Normalizer(self.settings, self.spark, lambda m: self.say("    " + m)).start()

    # -- stages ----------------------------------------------------------------------------
    def _fresh(self) -> None:
        from studentflow import stack
        if stack.running(self.settings):
            raise StudentflowError("--fresh would delete staging files the running sink is writing",
                                   "run `studentflow stack down` first")
        from studentflow.core import staging
        for f in staging.staging_files(self.settings.staging_dir, must_exist=False):
            f.unlink()
        self.settings.warehouse.unlink(missing_ok=True)
        self.say("==> fresh start: staging files and warehouse removed")

    def _stack(self) -> None:
        from connect import rest
        from studentflow import stack
        from studentflow.core import endpoints, kafka

        with self.stage("stack", "local stack and connectors") as st:
            if self.settings.embedded_connect:
                # A stack found with its broker running is not this run's: a worker restarted in it
                # is neither tied to this process nor stopped at the end (the broker keeps its topic).
                found = broker_running(self.settings)
                state, started = stack.up(self.settings, tie_to_parent=not (self.options.keep_stack or found),
                                          spark=False, progress=lambda m: self.say("    " + m))
                self.started_stack = started and not found
                if not started:
                    self.say(f"    reusing the running stack ({state.bootstrap}, {state.connect_url})")
            conf = endpoints.kafka_conf(self.settings)
            if kafka.ensure_topic(conf, self.settings.topic, self.settings.topic_partitions,
                                  replication=self.settings.topic_replication):
                self.say(f"    created topic {self.settings.topic} ({self.settings.topic_partitions} partitions)")
            client = rest.client(self.settings, endpoints.connect_url(self.settings))
            st.detail = "; ".join(rest.apply_all(client, rest.connector_files(None, self.settings)))
        self.staged_before = staged_lines(self.settings)

    def _produce(self) -> None:
        import sys

        from producer import generate
        from producer.cli import Progress
        from producer.publish import publish
        from studentflow.core import endpoints

        with self.stage("produce", f"producing {self.options.count:,} events "
                                   f"({self.options.malformed_rate:.0%} malformed) to {self.settings.topic}") as st:
            gen = generate.for_settings(self.settings, seed=self.options.seed, malformed_rate=self.options.malformed_rate)
            progress = Progress(self.options.count, sys.stderr)
            report = publish(self.settings, gen.messages(self.options.count), conf=endpoints.kafka_conf(self.settings),
                             rate=self.options.rate or None,
                             progress=lambda r: (self.stopping.check(), progress(r)))
            progress.clear()
            st.count = report.acked
            st.detail = report.summary()
            self.summary.counts["produced"] = report.acked
            if gen.counts:
                self.say("    kinds: " + ", ".join(f"{k} {n:,}" for k, n in sorted(gen.counts.items())))
            if not report.ok and shortfall.broker_stopped(self.settings):
                self.say(f"    {report.summary()}")
                raise self._lost_with_broker(report.acked, report.attempted)
            if not report.ok:
                raise DataError(f"not every event was delivered: {report.summary()}",
                                "check the broker (`studentflow stack status`) and rerun")

    def _sink(self) -> None:
        from connect import lag, rest
        from studentflow.core import endpoints

        with self.stage("sink", "waiting for the staging sink to catch up") as st:
            _import_in_background("dbt.cli.main")   # dbt builds in this process next; this stage only polls
            produced = self.summary.counts.get("produced")
            try:
                conf = endpoints.kafka_conf(self.settings)
                for cf in rest.connector_files(None, self.settings):
                    if cf.is_source:
                        continue
                    lag.wait_for_zero(conf, cf.name, self.settings.topic, timeout=self.options.sink_timeout,
                                      interval=0.1,   # a committed-offsets query: cheap, and the stage ends sooner
                                      progress=lambda _lag, _end: self.stopping.check())
            except StudentflowError:   # the sink did not catch up: a cause we can name comes first
                if produced is not None:
                    self._shortfall(produced)
                raise
            # The sink commits offsets after flushing its file, so lag 0 means the lines are on disk.
            staged = staged_lines(self.settings)
            st.count = staged
            new = staged - self.staged_before
            self.summary.counts["staged_total"] = staged
            self.summary.counts["staged_this_run"] = new
            if produced is not None:
                if new < produced:
                    self._shortfall(produced)
                    raise DataError(f"only {new:,} of {produced:,} acknowledged events reached staging",
                                    "check `studentflow connect status`; the worker log says why")
                self.summary.counts["sink_duplicates"] = new - produced
            st.detail = f"{staged:,} lines staged ({new:,} this run)"

    def _lost_with_broker(self, acked: int, attempted: int | None = None) -> DataError:
        staged = shortfall.settled_lines(self.settings) - self.staged_before
        self.summary.counts["staged_this_run"] = staged
        self.summary.counts["lost_with_broker"] = max(acked - staged, 0)
        return shortfall.broker_lost(acked, staged, attempted)

    def _shortfall(self, produced: int) -> None:
        """Raise the error naming why acknowledged events are missing from staging, if it can be seen."""
        if shortfall.broker_stopped(self.settings):
            raise self._lost_with_broker(produced) from None
        full = shortfall.disk_full(self.settings, staged_lines(self.settings) - self.staged_before, produced)
        if full is not None:
            raise full from None

    def _normalize(self) -> None:
        from studentflow.engines import Totals, increment

        with self.stage("normalize", "Spark: staging -> clean_students + quarantine_students") as st:
            if self.normalizer is not None:
                totals = self.normalizer.finish()
            else:
                totals = Totals()
                totals.add(increment(self.settings, self.spark.get(), lambda m: self.say("    " + m)))
            counts = totals.counts()
            self.last_increment = totals.increments[-1] if totals.increments else None
            st.count = counts["lines_read"]
            st.detail = (f"{counts['clean']:,} clean, {counts['quarantined']:,} quarantined, "
                         f"{counts['duplicates_removed']:,} duplicates removed, in {len(totals.increments)} "
                         f"increment(s); Spark started in {self.spark.startup_seconds or 0:.1f} s in the background")
            self.summary.counts.update(counts)
            if self.last_increment is not None:
                self.summary.run_id = self.last_increment.run_id

    def _preload(self) -> None:
        """GX's and the report's imports (about 3 s of one core) in a thread while the last increment
        is normalized (this process mostly waits on the Spark server then; dbt, which runs in this
        process next, would share the GIL with them); the validate and report stages then only
        validate and draw."""
        import threading

        def work() -> None:
            try:
                if self.options.gate:
                    from expectations import gate
                    gate.preload()
                from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401  (what report/charts.py draws with)
                from matplotlib.figure import Figure  # noqa: F401

                from studentflow.report import report  # noqa: F401
            except Exception:  # noqa: BLE001  (the stage imports it again and says what is wrong)
                pass
        self.preload = threading.Thread(target=work, name="preload", daemon=True)
        self.preload.start()

    def _transform(self) -> None:
        from studentflow.transform import runner as transform

        with self.stage("transform", "dbt build (staging, marts, tests)") as st:
            outcome = transform.run_dbt(self.settings, ["build"])
            for line in transform.summarize(outcome):
                self.say("    " + line)
            if self.options.junit_xml:   # written now too: a failing dbt test stops the run here
                from studentflow.transform import junit as dbt_junit
                self.junit_suites = dbt_junit.junit_suites(outcome.results, transform.dbt_paths(self.settings)[0])
                self._write_junit()
            if not outcome.ok:
                raise DataError("dbt build failed", "see the failing models/tests above; `studentflow transform` reruns it")
            st.count = outcome.count("success") + outcome.count("pass")
            st.detail = f"{outcome.count('success')} models/seeds, {outcome.count('pass')} tests passed"

    def _validate(self) -> None:
        from expectations import gate

        with self.stage("validate", "Great Expectations gate") as st:
            if self.preload is not None:
                self.preload.join()
            result = gate.run(self.settings)
            for line in gate.table_lines(result):
                self.say("    " + line)
            failed = len(result.failed)
            st.count = len(result.outcomes)
            st.detail = f"{len(result.outcomes) - failed}/{len(result.outcomes)} expectations passed"
            self.summary.gate_passed = result.success
            if result.docs_index:
                self.summary.outputs["data_docs"] = str(result.docs_index)
            if self.options.junit_xml:
                from expectations import ci
                self.junit_suites = [*self.junit_suites, *ci.junit_suites(result)]
                self._write_junit()

    def _write_junit(self) -> None:
        """What ran of dbt's tests and the gate's expectations, as one JUnit XML file for CI."""
        from studentflow.core import junit

        path = junit.write(self.options.junit_xml, self.junit_suites, "studentflow run (dbt tests, Great Expectations)")
        self.summary.outputs["junit_xml"] = str(path)

    def _report(self) -> None:
        from studentflow.report.report import build_report

        with self.stage("report", "report (markdown + plots)") as st:
            if self.preload is not None:
                self.preload.join()
            so_far = time.perf_counter() - self.t0   # the report is the last stage
            paths = build_report(self.settings, lang=self.options.lang,
                                 run_summary=self.summary.as_report_input(so_far))
            files = paths.files()
            st.count = len(files)
            st.detail = f"{len(files)} files in {paths.directory}"
            for f in files:
                self.summary.outputs[Path(f).name] = str(f)
        self.summary.outputs["warehouse"] = str(self.settings.warehouse)


def broker_running(settings: Settings) -> bool:
    """A recorded embedded stack whose broker (or the hosted Kafka it points at) is still there."""
    from studentflow.core import procs
    from studentflow.core.endpoints import StackState

    state = StackState.read(settings)
    return bool(state and (not state.broker_pid or procs.pid_alive(state.broker_pid)))


def worker_died(settings: Settings) -> bool:
    """With --no-produce: the recorded stack's broker runs but its embedded Connect worker is dead."""
    from studentflow.core import procs
    from studentflow.core.endpoints import StackState

    if not settings.embedded_connect or not broker_running(settings):
        return False
    state = StackState.read(settings)
    return bool(state and not procs.pid_alive(state.connect_pid))


def stack_reachable(settings: Settings) -> bool:
    """With --no-produce: is there a topic/connector to drain before normalizing?"""
    from studentflow.core import endpoints
    try:
        endpoints.kafka_conf(settings)
        endpoints.connect_url(settings)
        return True
    except StudentflowError:
        return False


def _import_in_background(module: str) -> None:
    """Import ``module`` on a daemon thread (dbt's imports take about 1.5 s of one core)."""
    import importlib
    import threading

    threading.Thread(target=importlib.import_module, args=(module,), name=f"import-{module}", daemon=True).start()
