"""The local page in a real browser: Debian's headless Chromium loads `studentflow docs serve`.

A warehouse built by real dbt (`studentflow transform`) and checked by real Great Expectations
(`studentflow validate`, which writes the Data Docs); then `studentflow docs serve` runs as a
process on a free 127.0.0.1 port. Chromium, driven through the DevTools protocol
(tests/support/browser.py), loads both languages, counts the images that loaded, takes a
screenshot, and runs axe-core's accessibility audit in the page (injected from the test; nothing
test-only ships in the page); the dbt docs, Data Docs and runs.csv links answer 200.
"""
from __future__ import annotations

import re
import subprocess
import sys
import urllib.request

import pytest

from studentflow.core import procs
from tests.conftest import needs
from tests.support import warehouse as aw
from tests.support.browser import Chromium
from tests.support.stackutil import REPO, sf, stack_env

pytestmark = pytest.mark.slow
@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The page served from one warehouse, shared by the tests that only read it."""
    needs("chromium")
    tmp_path = tmp_path_factory.mktemp("served")
    env = stack_env(tmp_path)
    aw.build(tmp_path / "data" / "warehouse.db", n=300, seed=5)
    sf(env, "transform", check=True, timeout=300)
    sf(env, "validate", check=True, timeout=300)
    proc = subprocess.Popen([sys.executable, "-m", "studentflow.cli", "docs", "serve"], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = None
        for line in proc.stdout:
            found = re.search(r"serving (http://127\.0\.0\.1:\d+/)", line)
            if found:
                url = found.group(1)
                break
        assert url, "docs serve did not print its URL"
        yield url
    finally:
        procs.stop_pid(proc.pid, timeout=10)
        proc.wait(timeout=10)
    assert proc.poll() is not None


def test_page_in_headless_chromium(served, tmp_path):
    url = served
    with Chromium(tmp_path) as browser:
        page = browser.open(url)
        dom = page.evaluate("document.documentElement.outerHTML")
        assert "<h2" in dom
        assert "Écart-type" in dom and "Médiane" in dom and "Filière" in dom
        images = page.images()
        assert images["total"] >= 4 and images["loaded"] == images["total"], images
        assert "Historique des exécutions" in dom and "run-0001" in dom

        hrefs = page.evaluate("Array.from(document.links).map(a => a.getAttribute('href'))")
        for wanted in ("dbt/index.html", "quality/index.html", "runs.csv"):
            assert wanted in hrefs, hrefs
            with urllib.request.urlopen(url + wanted, timeout=10) as resp:
                assert resp.status == 200 and len(resp.read()) > (1000 if wanted.endswith(".html") else 50)
        with urllib.request.urlopen(url + "dbt/manifest.json", timeout=10) as resp:  # what dbt's docs app fetches
            assert resp.status == 200

        english = browser.open(url + "en.html")
        text = english.evaluate("document.body.innerText")
        assert "Std dev" in text and "Run history" in text
        en_images = english.images()
        assert en_images["loaded"] == en_images["total"] == images["total"]
        # each language shows its own charts: none in common, and the English ones are *_en.png
        assert not set(images["sources"]) & set(en_images["sources"])
        assert all(src.endswith("_en.png") for src in en_images["sources"]), en_images["sources"]
        assert not any(src.endswith("_en.png") for src in images["sources"]), images["sources"]

        shot = tmp_path / "page.png"
        page.screenshot(shot)
        assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


@pytest.mark.parametrize("name", ["fr.html", "en.html"])
def test_axe_finds_no_serious_violation(served, tmp_path, name):
    """axe-core (npm, tests/browser) injected into the served page: no serious or critical
    violation of the rules it runs by default, colour contrast included."""
    with Chromium(tmp_path) as browser:
        page = browser.open(served + name)
        violations = page.audit()
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not bad, bad


def test_axe_sees_what_a_missing_docs_link_looks_like(tmp_path):
    """With no dbt docs and no Data Docs yet, the menu shows the `.missing` text: it stays readable."""
    env = stack_env(tmp_path)
    aw.build(tmp_path / "data" / "warehouse.db", n=100, seed=6)
    sf(env, "transform", check=True, timeout=300)
    sf(env, "docs", "build", "--no-dbt-docs", check=True, timeout=300)
    folder = tmp_path / "data" / "site"
    with Chromium(tmp_path) as browser:
        for name in ("fr.html", "en.html"):
            page = browser.open((folder / name).as_uri())
            assert page.evaluate("document.querySelectorAll('nav .missing').length") == 2
            bad = [v for v in page.audit() if v["impact"] in ("serious", "critical")]
            assert not bad, (name, bad)
