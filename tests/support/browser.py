"""Debian's headless Chromium driven through the DevTools protocol, for the tests of the local page.

Chromium runs with ``--remote-debugging-pipe``: it reads the protocol's JSON messages (each ended
by a NUL byte) on its fd 3 and writes its answers and events on fd 4, so no port and no websocket
library are needed. What a test needs in the page (counting loaded images, the axe-core audit) is
evaluated from here: nothing test-only ships in the page.

    with Chromium(tmp_path) as browser:
        page = browser.open(url)               # waits for the load event and every image
        page.evaluate("document.title")
        page.audit()                           # axe-core's violations, from tests/browser/node_modules
"""
from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

AXE = Path(__file__).resolve().parents[1] / "browser" / "node_modules" / "axe-core" / "axe.min.js"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
IMAGES = """Promise.all(Array.from(document.images).map(i => i.complete ? 0 :
    new Promise(done => { i.addEventListener("load", done); i.addEventListener("error", done); })))
  .then(() => ({total: document.images.length,
                loaded: Array.from(document.images).filter(i => i.naturalWidth > 0).length,
                sources: Array.from(document.images).map(i => i.getAttribute("src"))}))"""
AUDIT = """axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations.map(v =>
    ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map(n => n.target.join(" "))})))"""


class Page:
    def __init__(self, browser: "Chromium", session: str) -> None:
        self.browser, self.session = browser, session

    def evaluate(self, expression: str):
        """The value of ``expression`` in the page (a promise is awaited); a page error fails the test."""
        res = self.browser.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                     "returnByValue": True}, self.session)
        assert "exceptionDetails" not in res, res["exceptionDetails"]
        return res["result"].get("value")

    def images(self) -> dict:
        """{"total", "loaded" (natural width > 0), "sources"} once every image has settled."""
        return self.evaluate(IMAGES)

    def audit(self) -> list[dict]:
        """axe-core's violations on the page as it is (every rule axe runs by default, contrast included)."""
        if not AXE.is_file():
            pytest.fail(f"axe-core is not installed ({AXE}): run `make setup` (npm ci in tests/browser)")
        self.evaluate(AXE.read_text(encoding="utf-8") + "\n;true")
        return self.evaluate(AUDIT)

    def screenshot(self, path: Path) -> None:
        import base64

        self.browser.call("Page.bringToFront", session=self.session)   # a tab in the background paints nothing
        res = self.browser.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, self.session)
        path.write_bytes(base64.b64decode(res["data"]))


class Chromium:
    def __init__(self, tmp_path: Path, timeout: float = 60) -> None:
        if not shutil.which("chromium"):
            pytest.skip("chromium is not installed (make setup installs it)")
        self.timeout = timeout
        profile = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
        to_r, self._to = os.pipe()
        self._from, from_w = os.pipe()

        def child_fds() -> None:   # the browser's fd 3 reads our commands, its fd 4 writes its messages
            high_r, high_w = fcntl.fcntl(to_r, fcntl.F_DUPFD, 10), fcntl.fcntl(from_w, fcntl.F_DUPFD, 10)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.proc = subprocess.Popen(["chromium", *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe",
                                      "--window-size=1280,2000", "about:blank"], preexec_fn=child_fds,
                                     close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_r)
        os.close(from_w)
        self._next, self._buffer, self.events = 0, b"", []

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.call("Browser.close", timeout=10)
            except (AssertionError, OSError):
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for fd in (self._to, self._from):
            try:
                os.close(fd)
            except OSError:
                pass

    def _message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._from], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(self._from, 1 << 20) if ready else b""
            assert chunk, "Chromium did not answer in time (or exited)"
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float | None = None) -> dict:
        self._next += 1
        msg = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            got = self._message(deadline)
            if got.get("id") == self._next:
                assert "error" not in got, f"{method}: {got['error']}"
                return got["result"]
            self.events.append(got)

    def wait_event(self, method: str, session: str) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            for i, ev in enumerate(self.events):
                if ev.get("method") == method and ev.get("sessionId") == session:
                    return self.events.pop(i)
            self.events.append(self._message(deadline))

    def open(self, url: str) -> Page:
        """A new tab on ``url``, after its load event and once its images have settled."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call("Page.enable", session=session)
        self.events.clear()
        self.call("Page.navigate", {"url": url}, session)
        self.wait_event("Page.loadEventFired", session)
        page = Page(self, session)
        page.images()
        return page
