"""The producing progress line, shared by `studentflow produce` and the run's produce stage."""
from __future__ import annotations

import time


class Progress:
    """A progress line with rate on stderr: redrawn every call on a terminal, one line every
    ``plain_every`` seconds otherwise (CI logs stay short)."""

    def __init__(self, total: int | None, stream, plain_every: float = 10.0) -> None:
        self.total, self.stream = total, stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.plain_every = plain_every
        self.last_plain = time.monotonic()
        self.drawn = False

    def __call__(self, report) -> None:
        rate = report.attempted / report.elapsed if report.elapsed > 0 else 0.0
        done = f"{report.attempted:,}" + (f"/{self.total:,}" if self.total else "")
        if self.total:
            share = min(1.0, report.attempted / self.total) if self.total else 1.0
            bar = "#" * int(share * 24)
            done = f"[{bar:<24}] {done} ({share:.0%})"
        line = f"producing {done}  {rate:,.0f} msg/s  acked {report.acked:,}  failed {report.failed:,}"
        if self.tty:
            self.stream.write("\r\033[K" + line)
            self.stream.flush()
            self.drawn = True
        elif time.monotonic() - self.last_plain >= self.plain_every:
            self.last_plain = time.monotonic()
            self.stream.write(line + "\n")
            self.stream.flush()

    def clear(self) -> None:
        if self.drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.drawn = False
