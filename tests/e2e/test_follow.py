"""The streaming pipeline with the real stack: overlapped `run`, `run --follow` stopped by SIGTERM,
killed with -9 and restarted, and a gate failure in the middle of the loop."""
from __future__ import annotations

import json
import signal
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bench.rss import parent_map
from studentflow.core.errors import ExitCode
from studentflow.core.procs import pid_alive
from studentflow.report.report import REPORT_NAMES
from tests.support import quality_worker
from tests.support.follow import sigterm, start_follow, wait_for
from tests.support.stackutil import query, sf, stack_env

pytestmark = pytest.mark.slow




def _tables(db: Path) -> dict[str, list[tuple]]:
    out = {}
    with sqlite3.connect(db) as conn:
        for t in ("clean_students", "quarantine_students"):
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({t})") if r[1] != "run_id"]
            out[t] = conn.execute(f"SELECT {', '.join(cols)} FROM {t} ORDER BY source_file, line_number").fetchall()
    return out


def _children(pid: int) -> dict[int, str]:
    """pid -> command line of the direct children of ``pid``."""
    out = {}
    for child, parent in parent_map().items():
        if parent == pid:
            try:
                out[child] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
    return out


def _staged_lines(env: dict) -> int:
    return sum(p.read_bytes().count(b"\n") for p in Path(env["STUDENTFLOW_STAGING_DIR"]).glob("*.txt"))


def test_overlapped_run_gives_the_tables_of_one_batch_normalize(tmp_path):
    env = stack_env(tmp_path)
    out = sf(env, "run", "--count", "60000", "--seed", "5", "--no-gate", "--json", timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["balance_ok"] is True and summary["counts"]["produced"] == 60_000
    assert summary["counts"]["lines_read"] == summary["counts"]["staged_this_run"] >= 60_000
    assert "Spark started in" in out.stderr and "increment(s)" in out.stderr
    db = Path(env["STUDENTFLOW_WAREHOUSE"])
    batch_db = tmp_path / "batch.db"
    batch = sf({**env, "STUDENTFLOW_WAREHOUSE": str(batch_db)}, "normalize", "--full-refresh", "--json", timeout=600)
    assert batch.returncode == 0, batch.stderr[-3000:]
    assert _tables(db) == _tables(batch_db)          # the same rows whatever the increments were
    runs = query(db, "SELECT count(*), sum(lines_read) FROM pipeline_runs")
    assert runs[0][1] == json.loads(batch.stdout.splitlines()[-1])["lines_read"]


def test_follow_with_traffic_stops_on_sigterm_with_a_balanced_summary(tmp_path):
    env = stack_env(tmp_path, own_quality=True)   # a stack of its own, so no quality worker
    db = Path(env["STUDENTFLOW_WAREHOUSE"])
    # the report once an hour: after the first increment, and once more after the last one
    proc = start_follow(env, "--generate-rate", "400", "--interval", "1", "--report-every", "3600")
    wait_for(lambda: len(query(db, "SELECT * FROM follow_increments")) >= 2, proc)
    # no quality worker: the gate and the report run in a child process of the run's
    # (studentflow/pipeline/quality_worker.py)
    helpers = [pid for pid, cmd in _children(proc.pid).items() if "multiprocessing" in cmd]   # + its resource tracker
    assert len([p for p in helpers if "spawn_main" in _children(proc.pid)[p]]) == 1, _children(proc.pid)
    out, err = sigterm(proc)
    assert proc.returncode == ExitCode.INTERRUPTED, err[-3000:]   # stopped by a signal, the summary printed
    assert "Traceback" not in err
    deadline = time.monotonic() + 10       # the resource tracker ends once its last client has
    while any(pid_alive(p) for p in helpers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in helpers if pid_alive(p)]   # stopped with their owner
    # the generator starts once the engines are warm: its first events meet a running loop
    assert "==> engines warm in" in err and err.index("==> engines warm in") < err.index("events sent")
    summary = json.loads(out.strip().splitlines()[-1])
    c = summary["counts"]
    assert summary["stop_reason"] == "stopped by SIGTERM" and summary["balance_ok"] is True
    assert c["increments"] >= 2 and c["produced"] > 0
    # every staged line is normalized or still waiting, nothing else
    assert c["lines_read"] + c["staged_not_yet_normalized"] == _staged_lines(env)
    rows = query(db, "SELECT lines, freshness_p50_s, freshness_p95_s, gate_passed FROM follow_increments")
    assert len(rows) == c["increments"] and all(r[1] is not None and 0 <= r[1] <= r[2] for r in rows)
    f = summary["freshness"]
    assert f["p95_s"] >= f["p50_s"] > 0
    # run-wide quantiles over every event (0.1 s buckets, rounded up): within the increments' own range
    assert f["p95_s"] <= max(r[2] for r in rows) + 0.1 and f["p50_s"] >= min(r[1] for r in rows)
    (timed,), = query(db, "SELECT count(*) FROM clean_students WHERE emitted_at IS NOT NULL AND run_id IN "
                           "(SELECT run_id FROM follow_increments)")
    assert f["events"] == timed
    assert {r[3] for r in rows} == {1}
    # where each increment's time went: the four phases, which add up to its seconds
    phases = query(db, "SELECT seconds, normalize_s, marts_s, gate_s, report_s FROM follow_increments ORDER BY rowid")
    assert all(min(r[1:4]) > 0 and abs(sum(p or 0 for p in r[1:]) - r[0]) < 1e-6 for r in phases)
    # every increment gated, only the first with its report; the last one got its report after the loop
    assert phases[0][4] > 0 and all(r[4] is None for r in phases[1:])
    (last_in_marts,), = query(db, "SELECT max(finished_at) FROM follow_increments")
    report = Path(summary["outputs"][REPORT_NAMES["fr"]])   # the default language
    written = datetime.fromtimestamp(report.stat().st_mtime, timezone.utc)
    assert written > datetime.fromisoformat(last_in_marts), (written, last_in_marts)
    # the marts hold every clean row of every recorded increment (not only the first one's)
    (in_marts,), = query(db, "SELECT sum(student_count) FROM major_age_stats")
    (recorded,), = query(db, "SELECT sum(clean_count) FROM pipeline_runs WHERE run_id IN "
                              "(SELECT run_id FROM follow_increments)")
    (clean,), = query(db, "SELECT count(*) FROM clean_students")
    assert recorded <= in_marts <= clean and len(rows) >= 2
    assert not json.loads(sf(env, "stack", "status", "--json").stdout)["running"]   # stopped what it started


def test_follow_killed_with_sigkill_resumes_from_the_watermarks(tmp_path):
    env = stack_env(tmp_path)
    db = Path(env["STUDENTFLOW_WAREHOUSE"])
    proc = start_follow(env, "--generate-rate", "1500", "--interval", "1", "--no-gate")
    marks = "SELECT coalesce(sum(lines), 0) FROM staging_watermarks"
    try:
        wait_for(lambda: len(query(db, "SELECT * FROM follow_increments")) >= 1, proc)
        # observed, not slept for: lines staged beyond what is normalized
        wait_for(lambda: _staged_lines(env) > query(db, marks)[0][0], proc)
        proc.kill()
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL               # the loop was running: our kill ended it
    # read after the kill: what the killed loop had committed, against what was staged by then
    normalized_at_kill = query(db, marks)[0][0]
    staged_at_kill = _staged_lines(env)
    assert 0 < normalized_at_kill < staged_at_kill          # the kill landed with lines still to normalize
    again = sf(env, "run", "--follow", "--json", "--duration", "6", "--interval", "1", "--no-gate", timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    staged = _staged_lines(env)
    (lines, clean, quar, dups, heads), = query(db, "SELECT sum(lines_read), sum(clean_count), "
                                                    "sum(quarantined_count), sum(duplicates_removed), "
                                                    "coalesce(sum(headers_skipped), 0) FROM pipeline_runs")
    assert lines == staged == clean + quar + dups + heads   # nothing lost, nothing read twice
    (rows, ids), = query(db, "SELECT count(*), count(DISTINCT event_id) FROM clean_students")
    (q_rows, q_lines), = query(db, "SELECT count(*), count(DISTINCT source_file || ':' || line_number) "
                                    "FROM quarantine_students")
    assert rows == ids == clean and q_rows == q_lines == quar


def test_a_gate_failure_mid_follow_is_recorded_and_the_loop_goes_on(tmp_path):
    env = stack_env(tmp_path)
    db = Path(env["STUDENTFLOW_WAREHOUSE"])
    proc = start_follow(env, "--generate-rate", "300", "--interval", "1")
    wait_for(lambda: len(query(db, "SELECT * FROM follow_increments WHERE gate_passed = 1")) >= 1, proc)
    # a row that breaks the age expectation, written straight into the warehouse (as a faulty
    # upstream tool would): the next gates fail, the increments still land
    with sqlite3.connect(db, timeout=30) as conn:
        conn.execute("INSERT INTO clean_students (event_id, first_name, last_name, age, major, rule) "
                     "VALUES ('bad-row', 'X', 'Y', 500, 'Chimie', 'json_strict')")
    wait_for(lambda: query(db, "SELECT count(*) FROM follow_increments WHERE gate_passed = 0")[0][0] >= 2, proc)
    out, err = sigterm(proc)
    assert proc.returncode == 1, err[-3000:]                # the exit status says a gate failed
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["gate_passed"] is False and summary["gate_failures"] >= 2
    assert "gate FAILED on increment" in err and "the loop goes on" in err
    failed_runs = [r[0] for r in query(db, "SELECT run_id FROM follow_increments WHERE gate_passed = 0")]
    committed = {r[0] for r in query(db, "SELECT run_id FROM pipeline_runs")}
    assert set(failed_runs) <= committed                     # the failing increments' rows were kept
    # the gates ran in the quality worker the run was given (as on a stack), not in a child of its own
    served = quality_worker.shared_log()
    assert all(f"the follow's check of {run_id} for {db}" in served for run_id in failed_runs)
    assert "a process of this run" not in err
