"""The local page in a real browser: Debian's headless Chromium loads `studentflow docs serve`.

A warehouse built by real dbt (`studentflow transform`) and checked by real Great Expectations
(`studentflow validate`, which writes the Data Docs); then `studentflow docs serve` runs as a
process on a free 127.0.0.1 port. Chromium dumps the DOM after load (the page marks how many of
its images loaded) and takes a screenshot; the dbt docs and Data Docs links answer 200.
"""
from __future__ import annotations

import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from core import procs
from tests.conftest import needs
from studentflow import testing as aw
from tests.integration.stackutil import REPO, sf, stack_env

pytestmark = pytest.mark.slow
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
    return subprocess.run(["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture()
def served(tmp_path):
    needs("chromium")
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
    res = _chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", url)
    dom = res.stdout
    assert "<h2" in dom, res.stderr[-2000:]
    assert "Écart-type" in dom and "Médiane" in dom and "Filière" in dom
    loaded = re.search(r'data-images="(\d+)/(\d+)"', dom)
    assert loaded, "the page's load script did not run"
    ok, total = int(loaded.group(1)), int(loaded.group(2))
    assert total >= 4 and ok == total, f"only {ok} of {total} images loaded"
    assert "Historique des exécutions" in dom and "run-0001" in dom

    hrefs = re.findall(r'href="([^"]+)"', dom)
    for wanted in ("dbt/index.html", "quality/index.html"):
        assert wanted in hrefs, hrefs
        with urllib.request.urlopen(url + wanted, timeout=10) as resp:
            assert resp.status == 200 and len(resp.read()) > 1000
    with urllib.request.urlopen(url + "dbt/manifest.json", timeout=10) as resp:  # what dbt's docs app fetches
        assert resp.status == 200

    english = _chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", url + "en.html").stdout
    assert "Std dev" in english and "Run history" in english

    shot = tmp_path / "page.png"
    _chromium(tmp_path, "--virtual-time-budget=10000", "--window-size=1280,4000", f"--screenshot={shot}", url)
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
