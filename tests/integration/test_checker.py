"""The gate and the report of `run --follow` in a process of their own (studentflow/pipeline/quality_worker.py):
the same verdicts as the gate run in this process, errors that reach the owner, and a child that
never outlives its owner. Real Great Expectations, real dbt marts, a real SQLite file."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from studentflow.core.procs import pid_alive as alive
from studentflow.pipeline.increment_checks import IncrementChecks
from studentflow.pipeline.step import RunContext
from studentflow.pipeline.summary import RunOptions
from tests.support import warehouse as aw
from studentflow.pipeline.quality_worker import Checker, CheckerError
from tests.support import analytics_cli
from tests.support.stackutil import query
from tests.support.dbt_warehouse import add_rows, built, settings_in

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def test_the_checker_gives_the_gates_verdicts_and_writes_the_report_in_another_process(tmp_path):
    from expectations import gate

    settings, rows = built(tmp_path, n=200)   # the marts, on good rows
    # then two increments' rows (the gate reads them by run_id)
    add_rows(settings, rows[0], [dict(event_id="old-bad-age", age=140, run_id="run-old")]
             + [dict(event_id=f"new-{i}", age=30, run_id="run-new") for i in range(3)])

    checker = Checker(settings).start()
    try:
        assert checker.pid is not None and checker.pid != os.getpid() and alive(checker.pid)
        new = checker.check("run-new", gate=True, lang="en", run_summary=None)
        old = checker.check("run-old", gate=True, lang="en", run_summary=None)
        # the same verdicts as the gate in this process, on the same rows
        here_new, here_old = gate.run(settings, docs=False, run_id="run-new"), gate.run(settings, docs=False, run_id="run-old")
        assert new.passed is here_new.success is True and new.failed == []
        assert old.passed is here_old.success is False
        assert old.failed == [f"{o.table}.{o.column or ''} {o.expectation}" for o in here_old.failed] == [
            "clean_students.age expect_column_values_to_be_between"]
        report = settings.data_dir / "report" / "report.md"
        assert str(report) in old.files and report.is_file() and (settings.data_dir / "report" / "age_boxplot_en.png").is_file()
        # and the local page, both languages, each with its own charts (what `docs serve` serves)
        site = settings.data_dir / "site"
        assert 'src="report/age_boxplot_en.png"' in (site / "en.html").read_text(encoding="utf-8")
        assert 'src="report/age_boxplot.png"' in (site / "fr.html").read_text(encoding="utf-8")
        assert (settings.data_dir / "report" / "runs_trend.png").is_file() and (site / "runs.csv").is_file()
        assert set(old.seconds) == {"gate", "report"} and all(s > 0 for s in old.seconds.values())
        # an increment the owner sends without its report (--report-every): gated, nothing rewritten
        written = {p: p.stat().st_mtime_ns for p in (report, site / "en.html", site / "fr.html")}
        told = []
        gated = checker.check("run-old", gate=True, lang="en", run_summary=None, report=False,
                              on_read=lambda: told.append("read"))
        assert gated.passed is False and set(gated.seconds) == {"gate"} and gated.files == []
        assert {p: p.stat().st_mtime_ns for p in written} == written and told == ["read"]
        # with the report: the owner is told once the warehouse is read, before the report is drawn
        # (run --follow's next marts wait for that, not for the drawing)
        told.clear()
        checker.check("run-new", gate=True, lang="en", run_summary=None,
                      on_read=lambda: told.append(report.stat().st_mtime_ns))
        assert told == [written[report]] and report.stat().st_mtime_ns > written[report]
        # run --follow's bookkeeping on this child (IncrementChecks): an increment's check answers
        # once the report's data is read and the drawing goes on in the child (the next gate need
        # not wait for the charts); the drawing's seconds reach the increment's row with the
        # follow's last check, which waits for the drawing
        checks = IncrementChecks(RunContext(settings, RunOptions(gate=True, lang="en")), worker=checker)
        before = report.stat().st_mtime_ns
        checks.start(SimpleNamespace(run_id="run-new", lines_read=3), True, None, datetime.now(timezone.utc),
                     {"normalize": 0.1, "marts": 0.1})
        checks.join()
        row = lambda: query(settings.warehouse, "SELECT report_s, seconds, gate_passed FROM follow_increments "  # noqa: E731
                                                   "WHERE run_id = 'run-new'")[0]
        read_only = row()
        assert checks.drawing == ["run-new"] and read_only[2] == 1 and read_only[0] > 0
        checks.final_report()
        drawn = row()
        assert checks.drawing == [] and report.stat().st_mtime_ns > before
        assert drawn[0] > read_only[0] and drawn[1] - read_only[1] == pytest.approx(drawn[0] - read_only[0])
        # Ctrl-C reaches the whole process group on a terminal: the child ignores it, the owner decides
        os.kill(checker.pid, signal.SIGINT)
        os.kill(checker.pid, signal.SIGTERM)
        time.sleep(0.5)
        off = checker.check("run-old", gate=False, lang="en", run_summary=None)
        assert off.passed is None and off.failed == [] and alive(checker.pid)
    finally:
        checker.stop()
    assert not alive(checker.pid) and checker._proc.exitcode == 0


def test_an_error_in_the_checker_reaches_the_owner_and_the_next_increment_is_still_checked(tmp_path):
    settings = settings_in(tmp_path)
    aw.build(settings.warehouse, n=50)          # clean_students, but no marts yet: the gate refuses
    checker = Checker(settings).start()
    try:
        with pytest.raises(CheckerError, match="studentflow transform"):
            checker.check("run-0001", gate=True, lang="en", run_summary=None)
        code, err = analytics_cli.run(["transform"], settings)
        assert code == 0, err
        assert checker.check("run-0001", gate=True, lang="en", run_summary=None).passed is True
    finally:
        checker.stop()


OWNER = """
import sys, time
from studentflow.core import config
from studentflow.pipeline.quality_worker import Checker
checker = Checker(config.load(env={}, data_dir=sys.argv[1], state_dir=sys.argv[1])).start()
checker.wait_ready()
print(checker.pid, flush=True)
time.sleep(600)
"""


def test_the_checker_ends_when_its_owner_is_killed(tmp_path):
    owner = subprocess.Popen([sys.executable, "-c", OWNER, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        child = int(owner.stdout.readline())
        assert alive(child)
        owner.kill()                              # kill -9: no chance to stop its child
        owner.wait(timeout=10)
        deadline = time.monotonic() + 15
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(child), "the checker outlived its owner"
    finally:
        if owner.poll() is None:
            owner.kill()


def test_the_quality_worker_checks_as_the_child_does_and_a_worker_gone_mid_check_falls_back_to_one(tmp_path):
    """`run --follow` on a stack hands each increment's gate and report to the stack's quality
    worker (RemoteChecker): the same verdicts and files as the gate here. A worker killed during a
    check (after it said the warehouse was read, before its answer) costs the check nothing: the
    follow says so and the check runs again in a checker child of its own."""
    from expectations import gate
    from studentflow.core import procs
    from studentflow.pipeline.quality_service import QualityClient, RemoteChecker
    from tests.support import quality_worker

    settings, rows = built(tmp_path, n=200)
    add_rows(settings, rows[0], [dict(event_id="old-bad-age", age=140, run_id="run-old")]
             + [dict(event_id=f"new-{i}", age=30, run_id="run-new") for i in range(3)])
    proc, address, key = quality_worker.start(tmp_path)
    said: list[str] = []
    checker = RemoteChecker(QualityClient(address, key, proc.pid), settings, gate=True, say=said.append)
    try:
        checker.wait_ready()
        new = checker.check("run-new", gate=True, lang="en", run_summary=None)
        old = checker.check("run-old", gate=True, lang="en", run_summary=None)
        here_old = gate.run(settings, docs=False, run_id="run-old")
        assert new.passed is True and new.failed == []
        assert old.passed is here_old.success is False
        assert old.failed == [f"{o.table}.{o.column or ''} {o.expectation}" for o in here_old.failed]
        report = settings.data_dir / "report" / "report.md"
        assert str(report) in old.files and report.is_file() and set(old.seconds) == {"gate", "report"}
        assert checker.local is None and said == []
        # the drawing in the worker's background, as in the child (test above)
        before = report.stat().st_mtime_ns
        assert checker.check("run-new", gate=False, lang="en", run_summary=None, background=True).drawn == {}
        last = checker.check("run-new", gate=False, lang="en", run_summary=None, report=False, drawn_for=["run-new"])
        assert set(last.drawn) == {"run-new"} and report.stat().st_mtime_ns > before
        log = (tmp_path / "quality.log").read_text()
        assert "the follow's check of run-new" in log and "the follow's check of run-old" in log

        reads: list[bool] = []

        def kill_on_first_read() -> None:   # the worker has gated and read; the report is still to come
            reads.append(procs.pid_alive(proc.pid))
            if len(reads) == 1:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

        again = checker.check("run-old", gate=True, lang="en", run_summary=None, on_read=kill_on_first_read)
        assert reads == [True, False], "the kill did not land during the worker's check"
        assert again.passed is False and again.failed == old.failed and str(report) in again.files
        assert checker.local is not None and alive(checker.pid) and checker.pid != proc.pid
        assert len(said) == 1 and "went away during a check" in said[0] and "a process of this run" in said[0]
    finally:
        checker.stop()
        procs.stop_pid(proc.pid, timeout=5)
    assert not alive(checker.pid)
