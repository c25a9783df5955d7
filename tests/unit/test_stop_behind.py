"""Runner.stop_engines_behind: once the last increment is committed, Spark (and the stack the run
started) stop on a thread while the later steps run; stop_started_stack waits for that thread and
raises what it raised. A stand-in for the session: no engine is needed to see the threads."""
from __future__ import annotations

import threading

import pytest

from studentflow.core import config
from studentflow.pipeline.runner import Runner
from studentflow.pipeline.summary import RunOptions


class Session:
    """The part of WarmSpark the runner calls: release(), held until ``go`` is set."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.go = threading.Event()
        self.released_on: str | None = None
        self.error = error

    def release(self) -> None:
        self.go.wait(10)
        self.released_on = threading.current_thread().name
        if self.error is not None:
            raise self.error


def _runner(tmp_path) -> Runner:
    settings = config.load(env={}, state_dir=str(tmp_path / "state"), data_dir=str(tmp_path / "data"))
    return Runner(settings, RunOptions(), progress=lambda _line: None)


def test_the_release_runs_beside_the_caller_and_the_end_of_the_run_waits_for_it(tmp_path):
    runner, session = _runner(tmp_path), Session()
    runner.stop_engines_behind(session)
    assert session.released_on is None          # the caller goes on (to dbt) while it is under way
    session.go.set()
    runner.stop_started_stack()
    assert session.released_on == "stop-engines"   # done, on its own thread, before the run ends


def test_what_the_release_raised_is_raised_where_the_run_waits(tmp_path):
    runner, session = _runner(tmp_path), Session(error=RuntimeError("the server went away"))
    session.go.set()
    runner.stop_engines_behind(session)
    with pytest.raises(RuntimeError, match="the server went away"):
        runner.stop_started_stack()
