"""The local page follows the stream: `studentflow docs serve` and `run --follow` on the real stack
(embedded broker, Connect worker, Spark, dbt, GX), the served page loaded in headless Chromium
after one increment and again after more: its student count, run history and trend grow, in
both languages."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from studentflow.core import procs
from studentflow.core.errors import ExitCode
from studentflow.report.texts import TEXT
from tests.support.browser import Chromium
from tests.support.follow import sigterm, start_follow, wait_for
from tests.support.stackutil import REPO, query, stack_env

pytestmark = pytest.mark.slow

SHOWN = """(() => {
  const row = Array.from(document.querySelectorAll("tr")).find(r => r.cells[0] && r.cells[0].innerText === LABEL);
  const csv = document.querySelector("a[href='runs.csv']"), history = csv && csv.parentElement;
  return {students: row ? row.cells[1].innerText : null, history: history ? history.innerText : null,
          trend: Array.from(document.images).find(i => i.src.includes("runs_trend")).naturalWidth};
})()"""


def _number(text: str) -> int:
    return int(re.sub(r"[^\d]", "", text))


def _shown(browser: Chromium, url: str, lang: str) -> dict:
    page = browser.open(url)
    assert page.evaluate("document.documentElement.lang") == lang
    shown = page.evaluate(SHOWN.replace("LABEL", repr(TEXT[lang]["student_count"])))
    assert shown["students"] and shown["history"] and shown["trend"] > 0, shown
    # "The {shown} newest runs of {total}; ..." / "Les {shown} exécutions les plus récentes sur {total} ; ..."
    return {"students": _number(shown["students"]), "runs": int(re.findall(r"\d+", shown["history"])[1])}


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def _serve(env: dict) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "studentflow.cli", "docs", "serve", "--no-dbt-docs"], env=env,
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        found = re.search(r"serving (http://127\.0\.0\.1:\d+/)", line)
        if found:
            return proc, found.group(1)
    procs.stop_pid(proc.pid, timeout=10)
    raise AssertionError("docs serve did not print its URL")


def test_a_served_page_follows_the_increments_in_both_languages(tmp_path):
    env = stack_env(tmp_path)
    db = Path(env["STUDENTFLOW_WAREHOUSE"])
    server, url = _serve(env)   # before any data: the page says what to run; the loop rebuilds it
    follow = start_follow(env, "--generate-rate", "300", "--interval", "1", "--no-gate",
                          "--report-every", "0")   # the page with every increment
    try:
        increments = lambda: len(query(db, "SELECT run_id FROM follow_increments"))  # noqa: E731  (no table yet: 0)
        wait_for(lambda: increments() >= 1, follow)
        # an increment's row is written once its check answered; the page is drawn just after
        # (on the checker's thread: studentflow/pipeline/quality_worker.Drawer)
        site = Path(env["STUDENTFLOW_DATA_DIR"]) / "site"
        wait_for(lambda: all("runs_trend" in _text(site / f"{lang}.html") for lang in ("fr", "en")), follow)
        with Chromium(tmp_path) as browser:
            first = {lang: _shown(browser, url + f"{lang}.html", lang) for lang in ("fr", "en")}
            later = increments() + 2
            wait_for(lambda: increments() >= later, follow)
            second = {lang: _shown(browser, url + f"{lang}.html", lang) for lang in ("fr", "en")}
            index = browser.open(url).evaluate("document.documentElement.lang")
    finally:
        out, err = sigterm(follow)
        procs.stop_pid(server.pid, timeout=10)
        server.wait(timeout=10)
    assert follow.returncode == ExitCode.INTERRUPTED, err[-3000:]   # stopped by a signal, the summary printed
    # read once the loop has stopped: while it runs, dbt-sqlite rebuilds global_summary by dropping
    # the old table, then creating the new one (DDL outside a transaction): in between there is none
    (in_marts,), = query(db, "SELECT student_count FROM global_summary")
    assert index == "fr"   # the default language stays the front page
    for lang in ("fr", "en"):
        assert 0 < first[lang]["students"] < second[lang]["students"] <= in_marts, (first, second)
        assert first[lang]["runs"] < second[lang]["runs"], (first, second)
