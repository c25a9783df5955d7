"""The steps that bring events into the warehouse: the stack and its connectors, produce, the
staging sink, Spark normalize. The sink step checks that this run's acknowledged events all
reached staging, and names a cause it can see when they did not (studentflow/pipeline/balance.py).
"""
from __future__ import annotations

from studentflow.core.errors import DataError, StudentflowError
from studentflow.pipeline import balance
from studentflow.pipeline.step import RunContext, Step
from studentflow.pipeline.summary import StageTime, staged_lines


class Stack(Step):
    """The embedded stack up (or the configured cluster), the topic, the connectors applied."""

    name = "stack"

    def __init__(self, *, producer_ahead: bool = False) -> None:
        self.producer_ahead = producer_ahead   # start the Produce step's producer once the broker is up

    def title(self, ctx: RunContext) -> str:
        return "local stack and connectors"

    def run(self, ctx: RunContext, st: StageTime) -> None:
        from connect import rest
        from studentflow import stack
        from studentflow.core import endpoints, kafka

        settings = ctx.settings
        if settings.embedded_connect:
            # A stack found with its broker running is not this run's: a worker restarted in it
            # is neither tied to this process nor stopped at the end (the broker keeps its topic).
            found = endpoints.stack_health(settings).broker
            state, started = stack.up(settings, tie_to_parent=not (ctx.options.keep_stack or found),
                                      spark=False, progress=ctx.note)
            ctx.started_stack = started and not found
            if not started:
                ctx.note(f"reusing the running stack ({state.bootstrap}, {state.connect_url})")
            if self.producer_ahead and ctx.producer is None:
                # a new idempotent producer waits about 0.5 s for its producer id: meanwhile the
                # connectors are applied (the run could not start it before the broker was up)
                start_producer(ctx)
        conf = endpoints.kafka_conf(settings)
        if kafka.ensure_topic(conf, settings.topic, settings.topic_partitions, replication=settings.topic_replication):
            ctx.note(f"created topic {settings.topic} ({settings.topic_partitions} partitions)")
        client = rest.client(settings, endpoints.connect_url(settings))
        st.detail = "; ".join(rest.apply_all(client, rest.connector_files(None, settings)))


class Produce(Step):
    """The demo events, to the topic; every one acknowledged, or an error naming why not."""

    name = "produce"

    def title(self, ctx: RunContext) -> str:
        o = ctx.options
        return f"producing {o.count:,} events ({o.malformed_rate:.0%} malformed) to {ctx.settings.topic}"

    def run(self, ctx: RunContext, st: StageTime) -> None:
        import sys

        from producer import generate
        from producer.progress import Progress
        from producer.publish import publish
        from studentflow.core import endpoints

        o = ctx.options
        gen = generate.for_settings(ctx.settings, seed=o.seed, malformed_rate=o.malformed_rate)
        progress = Progress(o.count, sys.stderr)
        report = publish(ctx.settings, gen.messages(o.count), conf=endpoints.kafka_conf(ctx.settings),
                         rate=o.rate or None, progress=lambda r: (ctx.stopping.check(), progress(r)),
                         started=ctx.producer, delivery_timeout=ctx.settings.delivery_timeout)
        progress.clear()
        st.count = report.acked
        st.detail = report.summary()
        ctx.summary.counts["produced"] = report.acked
        if gen.counts:
            ctx.note("kinds: " + ", ".join(f"{k} {n:,}" for k, n in sorted(gen.counts.items())))
        if not report.ok and _broker_stopped(ctx):
            ctx.note(report.summary())
            raise _lost_with_broker(ctx, report.acked, report.attempted)
        if not report.ok:
            raise DataError(f"not every event was delivered: {report.summary()}",
                            "check the broker (`studentflow stack status`) and rerun")


def start_producer(ctx: RunContext) -> None:
    """The Produce step's producer, started before the steps ahead of it when Kafka is already
    reachable (a running stack, or a hosted cluster): see producer.publish.start_producer."""
    from producer.publish import start_producer
    from studentflow.core import endpoints

    if ctx.settings.embedded_kafka and not endpoints.stack_health(ctx.settings).kafka_reachable:
        return
    ctx.producer = start_producer(endpoints.kafka_conf(ctx.settings), rate=ctx.options.rate or None,
                                  delivery_timeout=ctx.settings.delivery_timeout)


class Sink(Step):
    """Wait for the staging sink's lag to reach zero; this run's events must all be staged."""

    name = "sink"

    def title(self, ctx: RunContext) -> str:
        return "waiting for the staging sink to catch up"

    def run(self, ctx: RunContext, st: StageTime) -> None:
        if ctx.quality is None:   # dbt builds in this process next; this stage only polls
            _import_in_background("dbt.cli.main")
        produced = ctx.summary.counts.get("produced")
        try:
            _wait_for_the_sink(ctx)
        except StudentflowError:   # the sink did not catch up: a cause we can name comes first
            if produced is not None:
                _shortfall(ctx, produced)
            raise
        # The sink commits offsets after flushing its file, so lag 0 means the lines are on disk.
        staged = staged_lines(ctx.settings)
        st.count = staged
        new = staged - ctx.staged_before
        ctx.summary.counts["staged_total"] = staged
        ctx.summary.counts["staged_this_run"] = new
        if produced is not None:
            if new < produced:
                _shortfall(ctx, produced)
                raise DataError(f"only {new:,} of {produced:,} acknowledged events reached staging",
                                "check `studentflow connect status`; the worker log says why")
            ctx.summary.counts["sink_duplicates"] = new - produced
        st.detail = f"{staged:,} lines staged ({new:,} this run)"


class Normalize(Step):
    """Spark: what is staged beyond the watermarks -> clean_students + quarantine_students (the
    background Normalizer's last increment, or one increment when nothing ran beside the sink)."""

    name = "normalize"

    def title(self, ctx: RunContext) -> str:
        return "Spark: staging -> clean_students + quarantine_students"

    def run(self, ctx: RunContext, st: StageTime) -> None:
        from studentflow.pipeline.warm import Totals, increment

        if ctx.normalizer is not None:
            totals = ctx.normalizer.finish(ctx.last_commit_starts)
        else:
            totals = Totals()
            totals.add(increment(ctx.settings, ctx.spark.get(), ctx.note, ctx.last_commit_starts))
        counts = totals.counts()
        ctx.last_increment = totals.increments[-1] if totals.increments else None
        st.count = counts["lines_read"]
        st.detail = (f"{counts['clean']:,} clean, {counts['quarantined']:,} quarantined, "
                     f"{counts['duplicates_removed']:,} duplicates removed, in {len(totals.increments)} "
                     f"increment(s); Spark started in {ctx.spark.startup_seconds or 0:.1f} s in the background")
        ctx.summary.counts.update(counts)
        if ctx.last_increment is not None:
            ctx.summary.run_id = ctx.last_increment.run_id


def _wait_for_the_sink(ctx: RunContext) -> None:
    from connect import lag, rest
    from studentflow.core import endpoints

    conf = endpoints.kafka_conf(ctx.settings)
    for cf in rest.connector_files(None, ctx.settings):
        if cf.is_source:
            continue
        lag.wait_for_zero(conf, cf.name, ctx.settings.topic, timeout=ctx.options.sink_timeout,
                          interval=0.1,   # a committed-offsets query: cheap, and the stage ends sooner
                          progress=lambda _lag, _end: ctx.stopping.check())


def _broker_stopped(ctx: RunContext) -> bool:
    from studentflow.core.endpoints import stack_health

    return stack_health(ctx.settings).broker_stopped


def _lost_with_broker(ctx: RunContext, acked: int, attempted: int | None = None) -> DataError:
    staged = balance.settled_lines(ctx.settings) - ctx.staged_before
    ctx.summary.counts["staged_this_run"] = staged
    ctx.summary.counts["lost_with_broker"] = max(acked - staged, 0)
    return balance.broker_lost(acked, staged, attempted)


def _shortfall(ctx: RunContext, produced: int) -> None:
    """Raise the error naming why acknowledged events are missing from staging, if it can be seen."""
    if _broker_stopped(ctx):
        raise _lost_with_broker(ctx, produced) from None
    full = balance.disk_full(ctx.settings, staged_lines(ctx.settings) - ctx.staged_before, produced)
    if full is not None:
        raise full from None


def _import_in_background(module: str) -> None:
    """Import ``module`` on a daemon thread (dbt's imports take about 1.5 s of one core)."""
    import importlib
    import threading

    threading.Thread(target=importlib.import_module, args=(module,), name=f"import-{module}", daemon=True).start()
