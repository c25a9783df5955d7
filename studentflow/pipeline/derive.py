"""The steps that derive from the warehouse: dbt's marts and tests, the Great Expectations gate,
the report. `run` runs them once; `run --follow` runs validate and report on every increment in
its gate/report process (studentflow/pipeline/quality_worker.py), with the same objects."""
from __future__ import annotations

import time
from pathlib import Path

from studentflow.core.errors import DataError
from studentflow.pipeline.step import RunContext, Step
from studentflow.pipeline.summary import StageTime


class Transform(Step):
    """dbt build: staging, marts and their tests (a failing test stops the run here)."""

    name = "transform"

    def __init__(self, *, keep_parse: bool = False) -> None:
        # Build on the project this process parsed last (runner.parsed_manifest): the stack's
        # quality worker, which serves many runs, and a `run` that parsed it ahead (Pipeline's
        # preload) while its last increment was normalized. Without either, one `dbt build`
        # parses and builds in one invocation (a parse, then a build, would be two).
        self.keep_parse = keep_parse

    def title(self, ctx: RunContext) -> str:
        return "dbt build (staging, marts, tests)"

    def run(self, ctx: RunContext, st: StageTime) -> None:
        from studentflow.transform import runner as transform

        outcome = transform.run_dbt(ctx.settings, ["build"], reuse_parse=self.keep_parse)
        for line in transform.summarize(outcome):
            ctx.note(line)
        if ctx.options.junit_xml:   # written now too: a failing dbt test stops the run here
            from studentflow.transform import junit as dbt_junit
            ctx.junit_suites = dbt_junit.junit_suites(outcome.results, ctx.settings.paths.dbt_target)
            write_junit(ctx)
        if not outcome.ok:
            raise DataError("dbt build failed", "see the failing models/tests above; `studentflow transform` reruns it")
        st.count = outcome.count("success") + outcome.count("pass")
        st.detail = f"{outcome.count('success')} models/seeds, {outcome.count('pass')} tests passed"


class Validate(Step):
    """The Great Expectations gate: the whole warehouse with its Data Docs, or, when the context
    names a normalize run (an increment of `run --follow`), that run's rows only, in memory."""

    name = "validate"

    def title(self, ctx: RunContext) -> str:
        return "Great Expectations gate"

    def prepare(self, ctx: RunContext) -> None:
        from expectations import gate
        gate.preload()

    def run(self, ctx: RunContext, st: StageTime) -> None:
        from expectations import gate

        ctx.wait_preload()
        if ctx.run_id is None:
            result = gate.run(ctx.settings)
        else:
            result = gate.run(ctx.settings, docs=False, run_id=ctx.run_id)
        for line in gate.table_lines(result):
            ctx.note(line)
        failed = len(result.failed)
        st.count = len(result.outcomes)
        st.detail = f"{len(result.outcomes) - failed}/{len(result.outcomes)} expectations passed"
        ctx.summary.gate_passed = result.success
        ctx.gate_failed = [f"{o.table}.{o.column or ''} {o.expectation}" for o in result.failed]
        if result.docs_index:
            ctx.summary.outputs["data_docs"] = str(result.docs_index)
        if ctx.options.junit_xml:
            from expectations import ci
            ctx.junit_suites = [*ctx.junit_suites, *ci.junit_suites(result)]
            write_junit(ctx)


class Report(Step):
    """The markdown report and its charts; with ``site``, the local page too (both languages, as
    `docs serve` serves it), drawn from the same read of the warehouse."""

    name = "report"

    def __init__(self, *, site: bool = False) -> None:
        self.site = site

    def title(self, ctx: RunContext) -> str:
        return "report (markdown + plots)"

    def prepare(self, ctx: RunContext) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401  (what report/charts.py draws with)
        from matplotlib.figure import Figure  # noqa: F401

        from studentflow.report import report  # noqa: F401  (matplotlib, Jinja)

    def run(self, ctx: RunContext, st: StageTime) -> None:
        from studentflow.report import data as report_data
        from studentflow.report.report import build_report, check_lang, report_paths

        ctx.wait_preload()
        if ctx.run_id is None:   # this run's own summary; the report is its last stage
            run_summary = ctx.summary.as_report_input(time.perf_counter() - ctx.t0)
        else:                    # an increment: the summary its owner keeps (or None)
            run_summary = ctx.report_input
        data = report_data.read(ctx.settings, as_of=ctx.run_id)   # once, for the report and the page
        ctx.read_done()
        check_lang(ctx.options.lang)
        paths = report_paths(ctx.settings, ctx.options.lang)

        def draw() -> None:
            build_report(ctx.settings, lang=ctx.options.lang, run_summary=run_summary, data=data)
            if self.site:
                from studentflow.report import site
                site.build(ctx.settings, data=data, drawn={ctx.options.lang})

        if ctx.draw_later is not None:   # run --follow's increments: see quality_worker.Drawer
            ctx.draw_later(draw)
        else:
            draw()
        files = paths.files()
        st.count = len(files)
        st.detail = f"{len(files)} files in {paths.directory}"
        ctx.report_files = [str(f) for f in files]
        for f in files:
            ctx.summary.outputs[Path(f).name] = str(f)
        ctx.summary.outputs["warehouse"] = str(ctx.settings.warehouse)


def write_junit(ctx: RunContext) -> None:
    """What ran of dbt's tests and the gate's expectations, as one JUnit XML file for CI."""
    from studentflow.core import junit

    path = junit.write(ctx.options.junit_xml, ctx.junit_suites, "studentflow run (dbt tests, Great Expectations)")
    ctx.summary.outputs["junit_xml"] = str(path)
