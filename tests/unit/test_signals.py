"""The first SIGTERM asks to stop and says so on the process's stderr; a second one within a
second is the same request (GNU timeout and a terminal's Ctrl-C signal the process and its
group); a later second one interrupts at once, except while the command stops what it started."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from studentflow.signals import DUPLICATE_WINDOW, StopRequest, in_flight

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import os, signal, sys, time
from studentflow.signals import DUPLICATE_WINDOW, StopRequest, stop_on_signal

stop = StopRequest()
with stop_on_signal(stop, "stopping soon"):
    os.kill(os.getpid(), signal.SIGTERM)
    print("stop set:", stop.is_set(), flush=True)
    os.kill(os.getpid(), signal.SIGTERM)          # the group's copy of the same request
    print("duplicate ignored:", stop.forced_by is None, flush=True)
    time.sleep(DUPLICATE_WINDOW + 0.2)
    try:
        os.kill(os.getpid(), signal.SIGINT)
        print("later signal ignored", flush=True)
    except KeyboardInterrupt:
        print("later signal interrupted:", stop.reason(), flush=True)
    stop.unwind()
    os.kill(os.getpid(), signal.SIGTERM)          # a third one while unwinding: noted, never raised
    print("while unwinding: still here", flush=True)
print("handler restored:", signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, flush=True)
"""


def test_a_duplicate_is_ignored_a_later_signal_interrupts_and_unwinding_is_never_interrupted():
    out = subprocess.run([sys.executable, "-c", CHILD], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "studentflow: SIGTERM: stopping soon (send it again to stop at once)" in out.stderr
    assert "studentflow: SIGINT again: stopping at once" in out.stderr
    assert out.stdout.splitlines() == ["stop set: True", "duplicate ignored: True",
                                       "later signal interrupted: stopped at once by a second SIGINT",
                                       "while unwinding: still here", "handler restored: True"]


def test_the_request_says_how_it_stopped():
    stop = StopRequest()
    assert stop.reason() is None and not stop.by_signal
    assert stop.on_signal("SIGTERM", 100.0) == "first" and stop.is_set()
    assert stop.on_signal("SIGTERM", 100.0 + DUPLICATE_WINDOW / 2) == "duplicate"
    assert stop.reason() == "stopped by SIGTERM"
    assert stop.on_signal("SIGINT", 100.0 + DUPLICATE_WINDOW + 0.01) == "force"
    assert stop.reason() == "stopped at once by a second SIGINT"
    assert stop.on_signal("SIGINT", 200.0) == "again"


def test_a_later_signal_while_unwinding_hurries_without_raising():
    stop = StopRequest()
    stop.on_signal("SIGINT", 0.0)
    stop.unwind()
    assert stop.on_signal("SIGINT", 5.0) == "hurry"
    assert stop.forced_by == "SIGINT" and stop.reason() == "stopped at once by a second SIGINT"


def test_a_signal_that_comes_only_while_unwinding_did_not_stop_the_work():
    stop = StopRequest()
    stop.unwind()                       # the run ended by itself and is stopping what it started
    assert stop.on_signal("SIGTERM", 1.0) == "first"
    assert not stop.by_signal and stop.reason() is None


def test_what_a_library_made_of_the_interrupt_is_named_as_an_effect_of_the_stop():
    assert in_flight(KeyboardInterrupt()) is None
    note = in_flight(ConnectionRefusedError(111, "Connection refused"))
    assert note.startswith("stopping: the step in flight ended with ConnectionRefusedError")
    assert "connection failed" not in note and "stack up" not in note


HOLDING_THE_LOCK = """
import os, signal
from studentflow.signals import StopRequest, stop_on_signal

stop = StopRequest()
with stop_on_signal(stop, "stopping soon"):
    with stop._cond:              # where the main thread is inside Event.wait()
        os.kill(os.getpid(), signal.SIGTERM)
    print("set:", stop.is_set(), "wait:", stop.wait(5), flush=True)
"""


def test_a_signal_while_the_main_thread_holds_the_events_lock_does_not_hang():
    """The handler takes no lock: Event.set() from a handler that interrupted Event.wait() holding
    the Event's lock would wait for itself forever."""
    out = subprocess.run([sys.executable, "-c", HOLDING_THE_LOCK], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.splitlines() == ["set: True wait: True"], out.stderr
