"""The drawing of `run --follow`'s reports on a thread of the checking process
(studentflow/pipeline/quality_worker.Drawer): the check that hands it over is not held by it, two
drawings never overlap, their seconds come back to whoever asks for their run id, a failure comes
back as the owner's error. Real threads; the drawings are functions that wait on events."""
from __future__ import annotations

import threading

import pytest

from studentflow.pipeline.quality_worker import CheckerError, Drawer


def test_a_drawing_goes_on_after_submit_and_the_next_one_waits_for_it():
    drawer, release, order = Drawer(), threading.Event(), []

    def first() -> None:
        order.append("first starts")
        release.wait(30)
        order.append("first ends")

    drawer.submit("run-1", first)   # returns with the drawing still blocked
    assert not release.is_set() and drawer.collect(["run-1"]) == {}
    second = threading.Thread(target=drawer.submit, args=("run-2", lambda: order.append("second")))
    second.start()
    second.join(0.5)
    assert second.is_alive(), "a second drawing did not wait for the one in flight"
    release.set()
    second.join(30)
    drawer.wait()
    assert order == ["first starts", "first ends", "second"]
    done = drawer.collect(["run-1", "run-2", "run-never-drawn"])
    assert set(done) == {"run-1", "run-2"} and all(s >= 0 for s in done.values())
    assert drawer.collect(["run-1"]) == {}   # handed over once


def test_a_failed_drawing_comes_back_as_an_error_naming_its_increment_to_the_one_who_asks():
    drawer = Drawer()

    def broken() -> None:
        raise OSError("No space left on device")

    drawer.submit("run-7", broken)
    drawer.submit("run-8", lambda: None)   # waits for run-7's end; run-7's failure is kept
    drawer.wait()
    assert set(drawer.collect(["run-8"])) == {"run-8"}   # another run id: not this one's error
    with pytest.raises(CheckerError, match=r"report of increment run-7 could not be drawn: OSError: No space left"):
        drawer.collect(["run-7"])
    assert drawer.collect(["run-7"]) == {}


def test_results_nobody_asks_for_are_not_kept_forever():
    drawer = Drawer()
    for i in range(Drawer.KEEP + 10):
        drawer.submit(f"run-{i}", lambda: None)
    drawer.wait()
    kept = drawer.collect([f"run-{i}" for i in range(Drawer.KEEP + 10)])
    assert len(kept) == Drawer.KEEP and "run-0" not in kept and f"run-{Drawer.KEEP + 9}" in kept
