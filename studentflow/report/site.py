"""`studentflow docs serve`: one local page with the report, its charts, the run history, and the
dbt docs and Great Expectations Data Docs, served on 127.0.0.1.

Layout of what is served (nothing is copied; each prefix maps to the folder that holds it):

    /              index.html (the page, default language), fr.html, en.html,  <data_dir>/site/
                   runs.csv (every run; the page shows the newest)
    /report/...    the charts (PNG, one set per language)                      <data_dir>/report/
    /dbt/...       dbt docs (index.html, manifest.json, catalog.json)          <data_dir>/dbt/target/
    /quality/...   GX Data Docs                                                <data_dir>/quality/docs/
"""
from __future__ import annotations

import datetime as dt
import functools
import http.server
import json
import posixpath
import urllib.parse
from pathlib import Path

from studentflow.core.config import Settings
from studentflow.report import charts, data as data_mod, render, sections
from studentflow.core.errors import WarehouseNotReady
from studentflow.report.report import chart_name, report_paths
from studentflow.report.texts import LANGS, TEXT

REASONS_CHART = "quarantine_reasons.png"
TREND_CHART = "runs_trend.png"
RUNS_CSV = "runs.csv"            # every run of pipeline_runs, beside the page (which shows the newest)
PAGE_OPTIONS = "page.json"       # the default language and reload period of the last docs build/serve


def folders(settings: Settings) -> dict[str, Path]:
    paths = settings.paths
    return {"": paths.site, "report": paths.report, "dbt": paths.dbt_target, "quality": paths.quality_docs}


def page_options(settings: Settings, default_lang: str | None = None, refresh: int | None = None) -> dict:
    """The page's language and reload period: given (docs build/serve), they are kept in
    <data_dir>/site/page.json; not given (the continuous mode rebuilding the page), read from it."""
    path = folders(settings)[""] / PAGE_OPTIONS
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        kept = {}
    options = {"default_lang": kept.get("default_lang") if kept.get("default_lang") in LANGS else LANGS[0],
               "refresh": kept.get("refresh") if isinstance(kept.get("refresh"), int) else 0}
    if default_lang is not None or refresh is not None:
        options.update({k: v for k, v in (("default_lang", default_lang), ("refresh", refresh)) if v is not None})
        path.parent.mkdir(parents=True, exist_ok=True)
        _write(path, json.dumps(options))
    return options


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _blocks(settings: Settings, data, lang: str, drawn: bool, now: dt.datetime) -> list[dict]:
    """The report's blocks for the page, with its own charts: quarantine reasons, run history, trend."""
    t = TEXT[lang]
    paths = report_paths(settings, lang)
    paths.directory.mkdir(parents=True, exist_ok=True)
    if not drawn:   # the report of this language drew them from the same data just before
        charts.draw_boxplot(data, paths.boxplot, t, lang)
        charts.draw_bar_chart(data, paths.bar_chart, t, lang)
    reasons, trend = chart_name(REASONS_CHART, lang), chart_name(TREND_CHART, lang)
    charts.draw_reasons_chart(data, paths.directory / reasons, t, lang)
    charts.draw_trend_chart(data, paths.directory / trend, t, lang, sections.run_seconds)
    blocks = sections.report_blocks(settings, data, paths, lang, None, now)
    for b in blocks:
        if b["k"] == "img":
            b["src"] = f"report/{b['src']}"
    at = next(i for i, b in enumerate(blocks) if b["k"] == "h2" and b["text"] == t["quality"])
    blocks[at:at] = [sections.img(t["reasons_title"], f"report/{reasons}")]
    at = next(i for i, b in enumerate(blocks) if b["k"] == "h2" and b["text"] == t["charts"])
    blocks[at:at] = sections.history_blocks(data, t, lang, RUNS_CSV) + [sections.img(t["trend_title"], f"report/{trend}")]
    return blocks


def build(settings: Settings, default_lang: str | None = None, refresh: int | None = None, *,
          data=None, drawn: frozenset[str] | set[str] = frozenset()) -> dict[str, Path]:
    """Write the page in both languages (index.html in the default one) and runs.csv; returns the
    folders. ``default_lang``/``refresh`` not given: those of the last docs build/serve. ``data``:
    already read by the caller; ``drawn``: languages whose boxplot and bar chart the caller's
    report just drew from that data (the continuous mode: not drawn twice)."""
    where = folders(settings)
    where[""].mkdir(parents=True, exist_ok=True)
    options = page_options(settings, default_lang, refresh)
    if data is None:
        try:
            data = data_mod.read(settings)
        except WarehouseNotReady:
            data = None
    if data is not None:
        data_mod.write_runs_csv(settings, where[""] / RUNS_CSV)
    now = dt.datetime.now(dt.timezone.utc)
    for lang in LANGS:
        t = TEXT[lang]
        blocks = [] if data is None else _blocks(settings, data, lang, lang in drawn, now)
        links = [
            {"href": "dbt/index.html", "label": t["dbt_docs"], "ok": (where["dbt"] / "index.html").is_file(),
             "missing": t["missing_docs"].format(cmd="`studentflow transform` then `studentflow docs serve`")},
            {"href": "quality/index.html", "label": t["gx_docs"], "ok": (where["quality"] / "index.html").is_file(),
             "missing": t["missing_docs"].format(cmd="`studentflow validate`")},
        ]
        other = "en" if lang == "fr" else "fr"
        html = render.page(lang=lang, t=t, blocks=blocks, links=links, refresh=options["refresh"],
                           path=f"`{settings.warehouse}`", other_lang_href=f"{other}.html",
                           other_lang_label="English" if other == "en" else "Français")
        _write(where[""] / f"{lang}.html", html)
        if lang == options["default_lang"]:
            _write(where[""] / "index.html", html)
    return where


class _Handler(http.server.SimpleHTTPRequestHandler):
    roots: dict[str, Path] = {}

    def translate_path(self, path: str) -> str:
        path = posixpath.normpath(urllib.parse.unquote(urllib.parse.urlsplit(path).path))
        parts = [p for p in path.split("/") if p and p not in (".", "..")]
        if parts and parts[0] in self.roots and parts[0]:
            root, parts = self.roots[parts[0]], parts[1:]
        else:
            root = self.roots[""]
        return str(root.joinpath(*parts)) if parts else str(root)

    def log_message(self, format, *args):  # noqa: A002 - http.server's signature
        pass


def make_server(settings: Settings, port: int = 0) -> http.server.ThreadingHTTPServer:
    """A server on 127.0.0.1 (port 0: a free one) for what build() wrote."""
    handler = type("Handler", (_Handler,), {"roots": folders(settings)})
    return http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(handler))
