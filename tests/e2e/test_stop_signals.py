"""Stopping `run` and `run --follow` the way people and supervisors do: GNU timeout (a SIGTERM to
the process, then one to its group, milliseconds apart) and Ctrl-C in a terminal (SIGINT to the
whole foreground process group, pressed twice). Each ends with the JSON summary saying how it
stopped, exit 130, no "connection failed", nothing of the run left running, and a warehouse whose
counts add up."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.rss import descendants, parent_map
from studentflow.core.errors import ExitCode
from studentflow.core.procs import pid_alive, stop_pid
from studentflow.signals import DUPLICATE_WINDOW
from tests.support.stackutil import REPO, query, force_down, stack_env

pytestmark = pytest.mark.slow


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "studentflow.cli", *args]




def _mentions(pid: int, text: str) -> bool:
    """Whether the process's command line or environment names ``text`` (the test's tmp path:
    every process a run starts inherits STUDENTFLOW_STATE_DIR, most name it on their command line)."""
    for part in ("cmdline", "environ"):
        try:
            if text.encode() in Path(f"/proc/{pid}/{part}").read_bytes():
                return True
        except OSError:
            pass
    return False


class Watch:
    """The processes of one run: its descendants and the stack's recorded PIDs, gathered while it
    runs, and every process naming the test's tmp path, found afterwards."""

    def __init__(self, proc: subprocess.Popen, tmp_path: Path) -> None:
        self.proc, self.tmp = proc, tmp_path
        self.seen: set[int] = set()

    def look(self) -> None:
        self.seen |= set(descendants(self.proc.pid, parent_map()))
        for name, keys in (("stack.json", ("broker_pid", "connect_pid")), ("spark.json", ("pid",))):
            try:
                state = json.loads((self.tmp / "state" / name).read_text())
            except (OSError, ValueError):
                continue
            self.seen |= {state[k] for k in keys if state.get(k)}

    def wait_for(self, predicate, what: str, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert self.proc.poll() is None, f"the run ended before {what}:\n{self.proc.communicate()[1][-3000:]}"
            assert time.monotonic() < deadline, f"no {what} in {timeout:.0f} s"
            self.look()
            time.sleep(0.3)
        self.look()

    def left_running(self, grace: float = 20) -> dict[int, str]:
        """What is still alive of the run (a multiprocessing resource tracker ends just after its clients)."""
        deadline = time.monotonic() + grace
        while True:
            mine = {int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
                    and int(p.name) != os.getpid() and _mentions(int(p.name), str(self.tmp))}
            alive = {p for p in self.seen | mine if pid_alive(p)}
            if not alive or time.monotonic() > deadline:
                return {p: Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ")[:160].decode(errors="replace")
                        for p in alive if Path(f"/proc/{p}").exists()}
            time.sleep(0.3)

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
        for p in self.seen:
            stop_pid(p, timeout=2)


def _spark_servers(tmp_path: Path) -> list:
    """The Spark Connect servers running with this test's state folder (the run's own)."""
    from studentflow.core.procs import pid_cmdline
    from spark_jobs.server import SERVER_CLASS

    return [p for p in (int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit())
            if SERVER_CLASS in pid_cmdline(p) and str(tmp_path) in pid_cmdline(p)]


def _summary(out: str) -> dict:
    lines = out.strip().splitlines()
    assert lines, "no summary on stdout"
    return json.loads(lines[-1])


def _warehouse_balances(db: Path) -> tuple[int, int]:
    """(lines normalized, lines staged): every normalized line is clean, quarantined, a removed
    duplicate or a header, each quarantined line and clean event once."""
    (read, clean, quar, dups, heads), = query(db, "SELECT coalesce(sum(lines_read), 0), coalesce(sum(clean_count), 0), "
                                                   "coalesce(sum(quarantined_count), 0), coalesce(sum(duplicates_removed), 0), "
                                                   "coalesce(sum(headers_skipped), 0) FROM pipeline_runs") or [(0,) * 5]
    assert read == clean + quar + dups + heads
    if read:
        (rows, ids), = query(db, "SELECT count(*), count(DISTINCT event_id) FROM clean_students")
        (q_rows, q_lines), = query(db, "SELECT count(*), count(DISTINCT source_file || ':' || line_number) "
                                        "FROM quarantine_students")
        assert rows == ids == clean and q_rows == q_lines == quar
    staged = sum(p.read_bytes().count(b"\n") for p in (db.parent / "staging").glob("*.txt"))
    return read, staged


def _assert_clean_stop(proc: subprocess.Popen, out: str, err: str, reason: str) -> dict:
    assert proc.returncode == ExitCode.INTERRUPTED, err[-3000:]
    summary = _summary(out)
    assert summary["stop_reason"] == reason, err[-3000:]
    assert "connection failed" not in err and "Traceback" not in err, err[-3000:]
    assert f"studentflow: interrupted ({reason})" in err
    assert summary["balance_ok"] is not False
    return summary


def test_timeout_around_follow_is_one_request_with_a_summary_and_stops_all_it_started(tmp_path):
    """GNU timeout at its deadline: SIGTERM to the run, SIGTERM to its group (SIGALRM to timeout
    is its deadline, sent once the loop runs increments). The Spark server is the run's own."""
    env = stack_env(tmp_path, own_spark=True)
    db = tmp_path / "data" / "warehouse.db"
    proc = subprocess.Popen(["timeout", "--preserve-status", "-s", "TERM", "3600",
                             *_cli("run", "--follow", "--generate-rate", "5000", "--interval", "1", "--json")],
                            env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watch = Watch(proc, tmp_path)
    try:
        watch.wait_for(lambda: len(query(db, "SELECT * FROM follow_increments")) >= 1, "increment")
        services = [json.loads((tmp_path / "state" / "stack.json").read_text())[k] for k in ("broker_pid", "connect_pid")]
        services += _spark_servers(tmp_path)
        assert len(services) == 3 and set(services) <= watch.seen
        # the services are in sessions of their own: the group's signal reaches only the run
        run_pid = next(p for p in descendants(proc.pid, parent_map()) if "studentflow.cli" in
                       Path(f"/proc/{p}/cmdline").read_bytes().decode(errors="replace"))
        assert all(os.getpgid(p) != os.getpgid(run_pid) for p in services)
        os.kill(proc.pid, signal.SIGALRM)                 # timeout's deadline, now
        out, err = proc.communicate(timeout=600)
        left = watch.left_running()
    finally:
        watch.cleanup()
    summary = _assert_clean_stop(proc, out, err, "stopped by SIGTERM")
    assert err.count("studentflow: SIGTERM: the loop ends") == 1 and "SIGTERM again" not in err   # one request
    assert not left, f"still running after the run stopped: {left}"
    read, staged = _warehouse_balances(db)
    c = summary["counts"]
    assert c["increments"] >= 1 and c["lines_read"] == read > 0       # one request: the increment in flight committed
    assert c["lines_read"] + c["staged_not_yet_normalized"] == staged
    assert "stopped the stack this run started" in err
    # warm_spark off (stack_env): the server the run started took no warm-up query
    assert "(dbt parsed, Spark started, gate and report ready)" in err


def test_ctrl_c_twice_to_the_process_group_stops_at_once_with_a_summary(tmp_path):
    """A terminal's Ctrl-C signals the whole foreground group; pressed again after the first
    second it is a second request: stop at once, still stopping what the run started (the broker
    and the worker; the gates ran in the test worker's quality worker and Spark on the test run's
    server: the run's own server is stopped in the test above)."""
    env = stack_env(tmp_path)
    db = tmp_path / "data" / "warehouse.db"
    proc = subprocess.Popen(_cli("run", "--follow", "--generate-rate", "5000", "--interval", "1", "--json"), env=env,
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    watch = Watch(proc, tmp_path)
    forced = False
    try:
        watch.wait_for(lambda: len(query(db, "SELECT * FROM follow_increments")) >= 1, "increment")
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(DUPLICATE_WINDOW + 0.3)
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGINT)
                forced = True
            except ProcessLookupError:   # it had already stopped: the first request was enough
                pass
        out, err = proc.communicate(timeout=600)
        left = watch.left_running()
    finally:
        watch.cleanup()
    reason = "stopped at once by a second SIGINT" if forced else "stopped by SIGINT"
    _assert_clean_stop(proc, out, err, reason)
    assert not left, f"still running after the run stopped: {left}"
    _warehouse_balances(db)


def test_plain_run_interrupted_by_two_quick_signals_prints_its_summary(tmp_path):
    env = stack_env(tmp_path)
    staged = tmp_path / "data" / "staging" / "students.raw.txt"
    proc = subprocess.Popen(["timeout", "--preserve-status", "-s", "TERM", "3600",
                             *_cli("run", "--count", "400000", "--json")],
                            env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watch = Watch(proc, tmp_path)
    try:
        watch.wait_for(lambda: staged.exists() and staged.stat().st_size > 0, "event staged")
        os.kill(proc.pid, signal.SIGALRM)                 # timeout's deadline: two SIGTERMs
        out, err = proc.communicate(timeout=600)
        left = watch.left_running()
    finally:
        watch.cleanup()
        force_down(env)
    summary = _assert_clean_stop(proc, out, err, "stopped by SIGTERM")
    assert "SIGTERM again" not in err
    assert "stack" in summary["stages"] and "transform" not in summary["stages"]   # stopped before dbt
    assert not left, f"still running after the run stopped: {left}"
    read, _staged = _warehouse_balances(tmp_path / "data" / "warehouse.db")
    assert summary["counts"].get("lines_read", 0) == read            # the increments that committed, counted
