"""The pipeline's report: a markdown file plus PNG charts, built from the warehouse marts.

``build_report(settings, lang="fr", run_summary=None)`` reads the SQLite warehouse (data.py: the
dbt marts ``major_age_stats``, ``major_avg_age_over_20``, ``global_summary`` and
``major_age_distribution``, any other mart of dbt's manifest as a table (marts.py), plus
``quarantine_students`` and ``pipeline_runs``) and the Great
Expectations summary ``<data_dir>/quality/validation.json`` when present, and writes under
``<data_dir>/report/``:

* ``rapport.md`` (French, the default) or ``report.md`` (``lang="en"``);
* ``age_boxplot.png``: age distribution by major (box = quartiles, whiskers = 1.5 IQR, ◆ = mean);
* ``major_counts.png``: number of students by major.

Each language has its own charts (their titles and labels are in that language): the French ones
carry the names above, the English ones ``age_boxplot_en.png`` and ``major_counts_en.png``.

The text is built once as blocks (sections.py) and rendered with a Jinja2 template
(templates/report.md.j2); the local page (site.py) renders the same blocks as HTML. Every
figure comes straight from the marts, formatted with two decimals. Kafka settings are printed
through ``Settings.redacted()``: secrets never appear.

``run_summary`` (optional, given by ``studentflow run``) adds per-stage counts and times: a
:class:`~studentflow.report.data.ReportRun` (stages, counts, total time, run id), or a dict::

    {"run_id": "...",                                    # optional
     "counts": {"produced": 10000, "staged": 10000, "clean": 9500,
                "quarantined": 400, "duplicates": 100},  # any subset
     "stages": [{"name": "produce", "seconds": 1.2, "count": 10000, "detail": "..."}, ...],
     "total_seconds": 42.0}                              # optional

``stages`` may also be a mapping ``{name: {"seconds": .., "count": .., "detail": ..}}`` or
``{name: seconds}``.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studentflow.core.config import Settings
from studentflow.core.errors import DataError
from studentflow.report import charts, data as data_mod, render, sections
from studentflow.report.data import ReportRun
from studentflow.report.texts import LANGS, TEXT

REPORT_NAMES = {"fr": "rapport.md", "en": "report.md"}
BOXPLOT_NAME = "age_boxplot.png"
BAR_CHART_NAME = "major_counts.png"


@dataclass(frozen=True)
class ReportPaths:
    """Where the report's files were written."""

    directory: Path
    markdown: Path
    boxplot: Path
    bar_chart: Path

    def files(self) -> list[Path]:
        return [self.markdown, self.boxplot, self.bar_chart]


def chart_name(name: str, lang: str) -> str:
    """A chart's file name in ``lang``: the French (default) one as is, ``<stem>_<lang>.png`` else."""
    if lang == LANGS[0]:
        return name
    stem, dot, ext = name.rpartition(".")
    return f"{stem}_{lang}{dot}{ext}"


def report_paths(settings: Settings, lang: str) -> ReportPaths:
    directory = settings.paths.report
    return ReportPaths(directory=directory, markdown=directory / REPORT_NAMES[lang],
                       boxplot=directory / chart_name(BOXPLOT_NAME, lang),
                       bar_chart=directory / chart_name(BAR_CHART_NAME, lang))


def check_lang(lang: str) -> None:
    if lang not in LANGS:
        raise DataError(f"unknown report language {lang!r}", "use --lang fr or --lang en")


def build_report(settings: Settings, lang: str = "fr", run_summary: ReportRun | dict[str, Any] | None = None,
                 *, now: dt.datetime | None = None, data: data_mod.ReportData | None = None) -> ReportPaths:
    """Write the markdown report and its two PNG charts under ``<data_dir>/report/`` (``data``:
    what :func:`data.read` returned, when the caller already read it)."""
    check_lang(lang)
    data = data or data_mod.read(settings)
    paths = report_paths(settings, lang)
    paths.directory.mkdir(parents=True, exist_ok=True)
    t = TEXT[lang]
    charts.draw_boxplot(data, paths.boxplot, t, lang)
    charts.draw_bar_chart(data, paths.bar_chart, t, lang)
    now = now or dt.datetime.now(dt.timezone.utc)
    text = render.markdown(sections.report_blocks(settings, data, paths, lang, ReportRun.of(run_summary), now))
    tmp = paths.markdown.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(paths.markdown)
    return paths
