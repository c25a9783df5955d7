"""`studentflow docs serve`: one local page with the report, its charts, the run history, and the
dbt docs and Great Expectations Data Docs, served on 127.0.0.1.

Layout of what is served (nothing is copied; each prefix maps to the folder that holds it):

    /              index.html (the page, default language), fr.html, en.html   <data_dir>/site/
    /report/...    the charts (PNG)                                            <data_dir>/report/
    /dbt/...       dbt docs (index.html, manifest.json, catalog.json)          <data_dir>/dbt/target/
    /quality/...   GX Data Docs                                                <data_dir>/quality/docs/
"""
from __future__ import annotations

import datetime as dt
import functools
import http.server
import posixpath
import urllib.parse
from pathlib import Path

from core.config import Settings
from studentflow.report import charts, data as data_mod, render, sections
from core.errors import WarehouseNotReady
from core.warehouse import SOURCE_TABLES, quality_paths, require_tables
from studentflow.report.report import report_paths
from studentflow.report.texts import LANGS, TEXT

REASONS_CHART = "quarantine_reasons.png"
TREND_CHART = "runs_trend.png"


def folders(settings: Settings) -> dict[str, Path]:
    from studentflow import dbt_runner

    target, _ = dbt_runner.dbt_paths(settings)
    return {"": settings.data_dir / "site", "report": settings.data_dir / "report", "dbt": target,
            "quality": quality_paths(settings)[0]}


def generate_dbt_docs(settings: Settings) -> bool:
    """`dbt docs generate` into <data_dir>/dbt/target when the warehouse has the Spark tables."""
    from studentflow import dbt_runner

    try:
        require_tables(settings.warehouse, SOURCE_TABLES, "")
    except WarehouseNotReady:
        return False
    return dbt_runner.run_dbt(settings, ["docs", "generate"]).ok


def build(settings: Settings, default_lang: str = "fr", refresh: int = 0) -> dict[str, Path]:
    """Write the page in both languages (index.html in the default one); returns the folders."""
    where = folders(settings)
    where[""].mkdir(parents=True, exist_ok=True)
    try:
        data = data_mod.read(settings)
    except WarehouseNotReady:
        data = None
    now = dt.datetime.now(dt.timezone.utc)
    for lang in LANGS:
        t = TEXT[lang]
        blocks: list[dict] = []
        if data is not None:
            paths = report_paths(settings, lang)
            paths.directory.mkdir(parents=True, exist_ok=True)
            charts.draw_boxplot(data, paths.boxplot, t, lang)
            charts.draw_bar_chart(data, paths.bar_chart, t, lang)
            charts.draw_reasons_chart(data, paths.directory / REASONS_CHART, t, lang)
            charts.draw_trend_chart(data, paths.directory / TREND_CHART, t, lang, sections.run_seconds)
            blocks = sections.report_blocks(settings, data, paths, lang, None, now)
            for b in blocks:
                if b["k"] == "img":
                    b["src"] = f"report/{b['src']}"
            at = next(i for i, b in enumerate(blocks) if b["k"] == "h2" and b["text"] == t["quality"])
            blocks[at:at] = [sections.img(t["reasons_title"], f"report/{REASONS_CHART}")]
            at = next(i for i, b in enumerate(blocks) if b["k"] == "h2" and b["text"] == t["charts"])
            blocks[at:at] = sections.history_blocks(data, t, lang) + [sections.img(t["trend_title"], f"report/{TREND_CHART}")]
        links = [
            {"href": "dbt/index.html", "label": t["dbt_docs"], "ok": (where["dbt"] / "index.html").is_file(),
             "missing": t["missing_docs"].format(cmd="`studentflow transform` then `studentflow docs serve`")},
            {"href": "quality/index.html", "label": t["gx_docs"], "ok": (where["quality"] / "index.html").is_file(),
             "missing": t["missing_docs"].format(cmd="`studentflow validate`")},
        ]
        other = "en" if lang == "fr" else "fr"
        html = render.page(lang=lang, t=t, blocks=blocks, links=links, refresh=refresh,
                           path=f"`{settings.warehouse}`", other_lang_href=f"{other}.html",
                           other_lang_label="English" if other == "en" else "Français")
        (where[""] / f"{lang}.html").write_text(html, encoding="utf-8")
        if lang == default_lang:
            (where[""] / "index.html").write_text(html, encoding="utf-8")
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
