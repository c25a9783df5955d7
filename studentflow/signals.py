"""SIGTERM and Ctrl-C in the long-running commands: stop at a safe point, never inside a library.

A KeyboardInterrupt raised by a signal handler lands wherever the main thread happens to be.
Measured with `studentflow run` (a SIGTERM sent 0-12 s after its stack came up): inside a
PySpark call it became a Py4JJavaError with a traceback (exit 1), and py4j logged one more; a
run in CI even ended with exit 0, the interrupt lost in a library's callback. So a first signal
only asks to stop; the command checks at its safe points (between stages, between increments,
in its waiting loops) and unwinds from there like Ctrl-C. A second signal interrupts at once.
"""
from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager


class StopRequest(threading.Event):
    """Set by the first SIGTERM / Ctrl-C; ``check()`` at a safe point raises KeyboardInterrupt."""

    def check(self) -> None:
        if self.is_set():
            raise KeyboardInterrupt


@contextmanager
def stop_on_signal(stop: StopRequest, notice: str = "stopping at the next safe point"):
    """While inside: SIGTERM and SIGINT set ``stop`` (and say so); a second one raises KeyboardInterrupt."""
    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        # os.write, not print: a handler that prints can re-enter a print it interrupted.
        try:
            os.write(2, f"\nstudentflow: {signal.Signals(signum).name}: {notice} "
                          f"(send it again to stop at once)\n".encode())
        except OSError:
            pass
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


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
