"""The local page (studentflow/report/site.py) and the charts of each language, built from a real
SQLite warehouse (Spark's tables and the marts, filled here) with real matplotlib and Jinja2."""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import re
import sqlite3

import pytest

from tests.support import warehouse as aw
from studentflow.report import data as data_mod, site
from studentflow.report import report as rep
from tests.support.report_warehouse import make_warehouse


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def add_runs(path, n: int) -> list[str]:
    """``n`` more runs in pipeline_runs, one a day before 2026-11-26 (older than make_warehouse's)."""
    ids = [f"hist-{i:03d}" for i in range(n)]
    con = sqlite3.connect(path)
    aw.insert(con, "pipeline_runs", aw.RUN_COLUMNS, [
        (run_id, f"2026-{1 + i // 28:02d}-{1 + i % 28:02d}T08:00:00Z", f"2026-{1 + i // 28:02d}-{1 + i % 28:02d}T08:00:30Z",
         10 + i, 9, 1, 0, "students.raw.txt", "success") for i, run_id in enumerate(ids)])
    con.commit()
    con.close()
    return ids


@pytest.fixture()
def page(settings):
    make_warehouse(settings.warehouse)
    where = site.build(settings, "fr", 0)
    return settings, where[""]


def test_each_language_has_its_own_charts(page):
    settings, folder = page
    fr, en = (folder / "fr.html").read_text(encoding="utf-8"), (folder / "en.html").read_text(encoding="utf-8")
    report = settings.data_dir / "report"
    for name in (rep.BOXPLOT_NAME, rep.BAR_CHART_NAME, site.REASONS_CHART, site.TREND_CHART):
        french, english = report / name, report / rep.chart_name(name, "en")
        assert french != english and french.is_file() and english.is_file()
        assert digest(french) != digest(english), f"{name}: the English chart is the French one"
        assert f'src="report/{french.name}"' in fr and f'src="report/{english.name}"' not in fr
        assert f'src="report/{english.name}"' in en and f'src="report/{french.name}"' not in en
    assert (folder / "index.html").read_text(encoding="utf-8") == fr


def test_each_markdown_report_links_its_own_charts(settings):
    make_warehouse(settings.warehouse)
    fr, en = rep.build_report(settings, "fr"), rep.build_report(settings, "en")
    assert digest(fr.boxplot) != digest(en.boxplot) and digest(fr.bar_chart) != digest(en.bar_chart)
    french, english = fr.markdown.read_text(encoding="utf-8"), en.markdown.read_text(encoding="utf-8")
    assert f"({fr.boxplot.name})" in french and f"({en.boxplot.name})" not in french
    assert f"({en.boxplot.name})" in english and f"({fr.boxplot.name})" not in english


def test_the_history_shows_the_newest_runs_and_links_every_run_as_csv(settings):
    make_warehouse(settings.warehouse)
    older = add_runs(settings.warehouse, 40)
    small = dataclasses.replace(settings, report_history_runs=5)
    folder = site.build(small, "en", 0)[""]
    html = (folder / "en.html").read_text(encoding="utf-8")
    history = html.split('id="run-history-pipeline-runs"')[1].split("</table>")[0]
    shown = re.findall(r"<tr><td class=\"l\"><code>([^<]+)</code>", history)
    assert shown == ["run-2", "run-1", older[-1], older[-2], older[-3]]   # newest first, five of them
    assert "The 5 newest runs of 42" in history and '<a href="runs.csv">' in history
    with (folder / "runs.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["run_id"] for r in rows] == older + ["run-1", "run-2"]   # every run, oldest first
    assert rows[0]["lines_read"] == "10" and rows[-1]["status"] == "success"
    assert len(data_mod.read(small).runs) == 5


def test_an_increment_s_report_shows_the_runs_committed_up_to_its_own(settings):
    """`run --follow` reports on increment N while N+1 may already have committed its run (its rows
    not yet in the marts read): the history and the last run's counts stop at N."""
    make_warehouse(settings.warehouse)
    later = add_runs(settings.warehouse, 2)   # committed after run-2
    data = data_mod.read(settings, as_of="run-1")
    assert (data.runs_total, [r["run_id"] for r in data.runs], data.last_run["run_id"]) == (1, ["run-1"], "run-1")
    data = data_mod.read(settings, as_of=later[0])
    assert data.runs_total == 3 and {r["run_id"] for r in data.runs} == {"run-1", "run-2", later[0]}
    for every in (data_mod.read(settings), data_mod.read(settings, as_of="not-a-run")):   # a whole report
        assert every.runs_total == 4 and len(every.runs) == 4


def test_the_page_ships_no_script_and_the_menu_text_is_readable(page):
    _, folder = page
    for name in ("fr.html", "en.html", "index.html"):
        html = (folder / name).read_text(encoding="utf-8")
        assert "<script" not in html.lower() and "data-images" not in html
        color = re.search(r"\.missing \{ color: #([0-9a-f]{6})", html).group(1)
        assert contrast(color, "f4f6f8") >= 4.5, color   # WCAG AA on the menu's background


def contrast(fg: str, bg: str) -> float:
    def luminance(hex6: str) -> float:
        def channel(c: float) -> float:
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
        r, g, b = (channel(int(hex6[i:i + 2], 16) / 255) for i in (0, 2, 4))
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    hi, lo = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_a_rebuild_keeps_the_language_and_reload_of_the_last_docs_build(settings):
    make_warehouse(settings.warehouse)
    folder = site.build(settings, "en", 7)[""]   # docs serve --lang en --refresh 7
    site.build(settings)                          # the continuous mode, after an increment
    index = (folder / "index.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in index and 'content="7"' in index
    assert 'content="7"' in (folder / "fr.html").read_text(encoding="utf-8")


def test_charts_the_report_just_drew_are_not_drawn_again(settings):
    make_warehouse(settings.warehouse)
    data = data_mod.read(settings)
    paths = rep.build_report(settings, "en", data=data)
    paths.boxplot.unlink()   # were the page to draw it again, it would be back
    site.build(settings, data=data, drawn={"en"})
    assert not paths.boxplot.exists()
    assert rep.report_paths(settings, "fr").boxplot.is_file()   # the French one is drawn by the page
