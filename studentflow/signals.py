"""SIGTERM and Ctrl-C in the long-running commands: stop at a safe point, never inside a library.

A KeyboardInterrupt raised by a signal handler lands wherever the main thread happens to be.
Measured with `studentflow run` (a SIGTERM sent 0-12 s after its stack came up): inside a
PySpark call it became a Py4JJavaError with a traceback (exit 1), and py4j logged one more; a
run in CI even ended with exit 0, the interrupt lost in a library's callback. So a first signal
only asks to stop; the command checks at its safe points (between stages, between increments,
in its waiting loops) and unwinds from there like Ctrl-C.

A second signal within ``DUPLICATE_WINDOW`` of the first is the same request: GNU ``timeout``
signals the process and then its whole group, and a terminal's Ctrl-C reaches every process of
the foreground group, so one request often arrives twice within milliseconds. A later second
signal stops at once (KeyboardInterrupt where the main thread is); what the process started is
still stopped, because once the command is stopping what it started (``StopRequest.unwind``)
no signal interrupts it any more.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import contextmanager

DUPLICATE_WINDOW = 1.0   # seconds: a second signal this soon after the first is the same request


class StopRequest(threading.Event):
    """Set by the first SIGTERM / Ctrl-C; ``check()`` at a safe point raises KeyboardInterrupt.

    ``signal_name``: the signal that asked to stop; ``forced_by``: the later one that stopped at
    once; ``unwinding``: the command is stopping what it started (signals no longer interrupt)."""

    def __init__(self) -> None:
        super().__init__()
        self.signal_name: str | None = None
        self.first_at: float | None = None
        self.forced_by: str | None = None
        self.unwinding = False
        self._stopped_work = False   # a signal came before the command began to unwind

    def is_set(self) -> bool:
        # A plain attribute, not only the Event's flag: the handler never takes the Event's lock
        # (the main thread it interrupts may hold it, inside wait(): Event.set() there never returns).
        return self.signal_name is not None or super().is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Event.wait that also sees a signal's request within 0.1 s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
            if left <= 0:
                return False
            super().wait(left)
        return True

    def check(self) -> None:
        if self.is_set():
            raise KeyboardInterrupt

    @property
    def by_signal(self) -> bool:
        """A signal stopped the command's work (one that came only while it was already unwinding did not)."""
        return self.signal_name is not None and (self._stopped_work or not self.unwinding)

    def reason(self) -> str | None:
        """How a signal stopped the command, for the summary (None: no signal did)."""
        if not self.by_signal:
            return None
        if self.forced_by:
            return f"stopped at once by a second {self.forced_by}"
        return f"stopped by {self.signal_name}" if self.signal_name else None

    def unwind(self) -> None:
        """From here on the command stops what it started and prints its summary: a signal is noted, never raised."""
        if not self.unwinding:
            self._stopped_work = self.is_set()
        self.unwinding = True

    def on_signal(self, name: str, now: float) -> str:
        """Record a signal; what to do: "first" (ask to stop), "duplicate" (the same request),
        "force" (raise KeyboardInterrupt now), "hurry" (stop at once, but the command is already
        stopping what it started: no raise) or "again" (already stopping at once)."""
        if self.first_at is None:
            self.first_at, self.signal_name = now, name   # is_set() from here on
            return "first"
        if now - self.first_at < DUPLICATE_WINDOW:
            return "duplicate"
        if self.forced_by is not None:
            return "again"
        self.forced_by = name
        return "hurry" if self.unwinding else "force"


def _say(text: str) -> None:
    # os.write, not print: a handler that prints can re-enter a print it interrupted.
    try:
        os.write(2, f"\nstudentflow: {text}\n".encode())
    except OSError:
        pass


@contextmanager
def stop_on_signal(stop: StopRequest, notice: str = "stopping at the next safe point"):
    """While inside: SIGTERM and SIGINT set ``stop`` (and say so); a later second one raises
    KeyboardInterrupt (one within ``DUPLICATE_WINDOW`` of the first is ignored as the same request)."""
    def handler(signum, frame):
        name = signal.Signals(signum).name
        what = stop.on_signal(name, time.monotonic())
        if what == "first":
            _say(f"{name}: {notice} (send it again to stop at once)")
        elif what == "force":
            _say(f"{name} again: stopping at once (what this command started is still stopped)")
            raise KeyboardInterrupt
        elif what == "hurry":
            _say(f"{name} again: stopping at once what this command started, then the summary")
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def in_flight(exc: BaseException) -> str | None:
    """What to say of how the step in flight ended when a signal stopped the command: nothing for
    the KeyboardInterrupt of a safe point; for what a library made of a second signal's
    KeyboardInterrupt (wrapped, or a connection closed by a service the command was stopping),
    one line naming it as an effect of the stop, not as an error of the stack."""
    if isinstance(exc, KeyboardInterrupt):
        return None
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return (f"stopping: the step in flight ended with {type(exc).__name__}" + (f" ({first})" if first else "")
            + ", an effect of the stop")


@contextmanager
def sigterm_as_interrupt():
    """`kill <pid>` unwinds like Ctrl-C (for the benchmarks' child processes, which hold no warm engine)."""
    def handler(signum, frame):
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
