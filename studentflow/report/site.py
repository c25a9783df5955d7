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
from typing import Any

from studentflow.core.config import Settings
from studentflow.report import charts, data as data_mod, render
from studentflow.core.errors import WarehouseNotReady
from studentflow.report.report import chart_name, report_paths
from studentflow.report.sections import fmt_int, fmt_number, fmt_percent, h2, img, link, p, report_blocks, table
from studentflow.report.texts import LANGS, MISSING, TEXT

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


def _history_blocks(data: data_mod.ReportData, t: dict[str, str], lang: str, csv_href: str = "") -> list[dict]:
    """The page's own section: the newest runs of pipeline_runs (newest first), and a link to
    ``csv_href``, the whole history."""
    rows = []
    for r in reversed(data.runs):
        read, quar = r.get("lines_read"), r.get("quarantined_count")
        clean = r.get("clean_count")
        rate = quar / (quar + clean) if isinstance(quar, int) and isinstance(clean, int) and quar + clean else None
        seconds = _run_seconds(r)
        rows.append([f"`{r.get('run_id')}`", str(r.get("finished_at") or MISSING), fmt_int(read, lang),
                     fmt_int(clean, lang), fmt_int(quar, lang), fmt_int(r.get("duplicates_removed"), lang),
                     fmt_percent(rate, lang), fmt_number(seconds, 1, lang), str(r.get("status") or MISSING)])
    if not rows:
        return [h2(t["history"]), p(t["no_runs"])]
    out = [h2(t["history"])]
    if csv_href:
        total = max(data.runs_total, len(rows))
        out.append(link(t["history_shown"].format(shown=fmt_int(len(rows), lang), total=fmt_int(total, lang)),
                        t["history_csv"], csv_href))
    return out + [table([t["run"], t["finished"], t["lines_read"], t["clean_count"], t["quarantined_count"],
                         t["duplicates_removed"], t["rate"], t["seconds"], t["status"]], rows, "llrrrrrrl")]


def _run_seconds(run: dict[str, Any]) -> float | None:
    try:
        start = dt.datetime.fromisoformat(str(run["started_at"]).replace("Z", "+00:00"))
        end = dt.datetime.fromisoformat(str(run["finished_at"]).replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError):
        return None
    return (end - start).total_seconds()


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
    charts.draw_trend_chart(data, paths.directory / trend, t, lang, _run_seconds)
    blocks = report_blocks(settings, data, paths, lang, None, now)
    for b in blocks:
        if b["k"] == "img":
            b["src"] = f"report/{b['src']}"
    at = next(i for i, b in enumerate(blocks) if b["k"] == "h2" and b["text"] == t["quality"])
    blocks[at:at] = [img(t["reasons_title"], f"report/{reasons}")]
    at = next(i for i, b in enumerate(blocks) if b["k"] == "h2" and b["text"] == t["charts"])
    blocks[at:at] = _history_blocks(data, t, lang, RUNS_CSV) + [img(t["trend_title"], f"report/{trend}")]
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
