"""The fault matrix: each fault injected at observed progress into a real stack, proven to have
landed where it targets, and ended with exact conservation against independent counts.

Plain functions taking the event count, so the slow tests (100k) and the 1M runner
(``python -m tests.faults``) run the very same code. Each returns its measured counts.
"""
from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from studentflow.core import procs
from tests.faults import harness as h
from tests.support.stackutil import REPO, sf, status
from tests.support.topicwatch import topic_size

SINK_FILE = REPO / "connect" / "connectors" / "staging-sink.json"


def _cli(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "studentflow.cli", *args], env={**env, "PYTHONUNBUFFERED": "1"},
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _slow_sink(tmp: Path) -> Path:
    """The staging sink taking small bites (500 records a poll), so a drain lasts long enough to be cut."""
    doc = json.loads(SINK_FILE.read_text())
    doc["config"]["consumer.override.max.poll.records"] = "500"
    path = tmp / "slow-sink.json"
    path.write_text(json.dumps(doc))
    return path


def _wait_dead(pid: int) -> None:
    while procs.pid_alive(pid):
        time.sleep(0.01)


def _kill_worker_while_draining(env: dict, tmp: Path, msgs: list) -> tuple[dict, Counter, int]:
    """Stack up, ``msgs`` produced as a backlog, a slow sink applied, the worker killed -9 once it
    has started writing: (stack status before the kill, acknowledged messages, lines staged at the
    kill). Fails unless the kill landed mid-stream."""
    staging, n = Path(env["STUDENTFLOW_STAGING_DIR"]), len(msgs)
    sf(env, "stack", "up", check=True)
    st = status(env)
    acked = h.produce_counted(st["bootstrap"], msgs)   # a backlog: the kill lands while the sink drains it
    assert sum(acked.values()) == n
    sf(env, "connect", "apply", str(_slow_sink(tmp)), check=True)
    while h.staged_count(staging) == 0:   # observed progress: the sink has started writing
        assert procs.pid_alive(st["connect_pid"])
        time.sleep(0.005)
    os.kill(st["connect_pid"], signal.SIGKILL)
    _wait_dead(st["connect_pid"])
    at_kill = h.staged_count(staging)
    assert 0 < at_kill < n, f"the kill did not land mid-stream: {at_kill:,} of {n:,} staged"
    return st, acked, at_kill


# --- 1. Connect worker kill -9 mid-stream, restarted by `studentflow run` -----------------------
def worker_kill(env: dict, tmp: Path, n: int, seed: int = 1, run_count: int = 2000) -> dict:
    staging = Path(env["STUDENTFLOW_STAGING_DIR"])
    first = h.messages(n, seed)
    st, acked, at_kill = _kill_worker_while_draining(env, tmp, first)

    run = sf(env, "run", "--count", str(run_count), "--seed", str(seed + 1), "--no-gate", "--keep-stack",
             timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Connect worker is not running: restarting it" in run.stdout   # `run` noticed and restarted it
    assert "Traceback" not in run.stderr
    st2 = status(env)
    assert st2["connect_pid"] != st["connect_pid"] and st2["broker_pid"] == st["broker_pid"]

    run_msgs = h.messages(run_count, seed + 1)
    on_topic = h.consume_topic(st["bootstrap"])          # independent count 1: the topic itself
    produced = acked + Counter(h.text(v) for _k, _key, v in run_msgs)   # 2: our delivery reports + the seed
    assert on_topic == produced, "the topic does not hold exactly what was acknowledged"
    lines, tail = h.staged(staging)
    assert tail == b"", "staging ends with a half-written line"
    lost = [v for v in on_topic if lines[v] < on_topic[v]]
    assert not lost, f"{len(lost)} acknowledged messages never reached staging, e.g. {lost[:2]}"
    expected = h.verdicts(first + run_msgs)
    counts = h.conservation(lines, expected, Path(env["STUDENTFLOW_WAREHOUSE"]))
    return {"fault": "worker_kill", "produced": n + run_count, "staged_at_kill": at_kill,
            **redeliveries(on_topic, lines, expected), **counts}


def redeliveries(on_topic: Counter, lines: Counter, expected: dict) -> dict:
    """What the sink staged beyond the topic (its redeliveries, per text), split by the contract's
    verdict, and the repeats already on the topic: counted from bytes, not from the pipeline."""
    extra = lines - on_topic
    clean = {t for t in lines if expected[t][0] in ("clean", "duplicate")}
    return {"sink_duplicates": sum(extra.values()),
            "redelivered_clean": sum(n for t, n in extra.items() if t in clean),
            "redelivered_quarantined": sum(n for t, n in extra.items() if t not in clean),
            "topic_repeats_clean": sum(n - 1 for t, n in on_topic.items() if t in clean),
            "topic_quarantined": sum(n for t, n in on_topic.items() if t not in clean)}


# --- 1b. Connect worker kill -9 mid-stream, then `studentflow run --no-produce` -----------------
def worker_dead_no_produce(env: dict, tmp: Path, n: int, seed: int = 9) -> dict:
    """A stack with ``n`` events on the topic, its worker killed while the sink drains them; then
    `run --no-produce` must restart the worker on the live broker, drain the rest and normalize."""
    staging, db = Path(env["STUDENTFLOW_STAGING_DIR"]), Path(env["STUDENTFLOW_WAREHOUSE"])
    msgs = h.messages(n, seed)
    st, acked, at_kill = _kill_worker_while_draining(env, tmp, msgs)
    dead = status(env)
    assert dead["alive"] == {"broker": True, "connect": False}, dead

    run = sf(env, "run", "--no-produce", "--no-gate", timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Traceback" not in run.stdout + run.stderr
    assert "Connect worker is not running: restarting it" in run.stdout, run.stdout[-3000:]
    st2 = status(env)   # the broker was reused, and the stack it did not start is left running
    assert st2["running"], st2
    assert st2["broker_pid"] == st["broker_pid"] and st2["connect_pid"] != st["connect_pid"]

    on_topic = h.consume_topic(st["bootstrap"])           # independent count 1: the topic itself
    assert on_topic == acked, "the topic does not hold exactly what was acknowledged"   # 2: delivery reports
    lines, tail = h.staged(staging)                       # 3: the staged bytes
    assert tail == b"", "staging ends with a half-written line"
    missing = [v for v in on_topic if lines[v] < on_topic[v]]
    assert not missing, f"{len(missing)} acknowledged messages never reached staging, e.g. {missing[:2]}"
    staged_n = sum(lines.values())
    summary = _summary(run.stdout)
    assert summary["lines normalized"] == staged_n, (summary, staged_n)   # the run normalized every line, once
    counts = h.conservation(lines, h.verdicts(msgs), db)                  # 4: the warehouse, read with sqlite3
    assert counts["normalize_runs"] >= 1
    return {"fault": "worker_dead_no_produce", "produced": n, "staged_at_kill": at_kill,
            "sink_duplicates": staged_n - n, "run_normalized": summary["lines normalized"], **counts}


def _summary(out: str) -> dict[str, int]:
    """The counts of `run`'s printed summary."""
    rows = {}
    for line in out.split("== summary ==", 1)[-1].splitlines():
        m = re.match(r"\s{2}(\S.*?)\s{2,}([\d,]+)$", line)
        if m:
            rows[m.group(1)] = _int(m.group(2))
    return rows


# --- 2. normalize SIGKILLed inside the warehouse transaction ------------------------------------
def normalize_killed(env: dict, tmp: Path, n: int, seed: int = 3, prior: list | None = None) -> dict:
    """Needs a running stack whose staging was normalized before (``prior``: its messages)."""
    staging, db = Path(env["STUDENTFLOW_STAGING_DIR"]), Path(env["STUDENTFLOW_WAREHOUSE"])
    st = status(env)
    before_lines = h.staged_count(staging)
    msgs = h.messages(n, seed)
    h.produce_counted(st["bootstrap"], msgs)
    sf(env, "connect", "lag", "--wait", "--timeout", "300", check=True)
    new_lines = h.staged_count(staging) - before_lines
    assert new_lines >= n
    before = h.warehouse(db)

    journal = db.with_name(db.name + "-journal")   # SQLite's rollback journal: a write transaction is open
    proc = _cli(env, "normalize")
    # The commit is one short transaction: follow the progress to the line printed just before it,
    # then watch for the journal without sleeping (a 1 ms poll missed it on a loaded machine).
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "[4/5] duplicates judged" in line:
            break
    while proc.poll() is None and _size(journal) == 0:   # the journal holds the first original pages
        pass
    assert proc.poll() is None, "normalize finished before its warehouse write was seen:\n" + "".join(seen)
    proc.send_signal(signal.SIGKILL)
    out = "".join(seen) + proc.communicate(timeout=60)[0]
    assert proc.returncode == -signal.SIGKILL
    # The kill landed inside the commit: the rows were ready for it, the commit line never came,
    # and the journal is left behind (a hot journal: SQLite rolls it back on the next open).
    assert "[4/5] duplicates judged" in out and "[5/5] committed" not in out, out
    assert journal.exists() and journal.stat().st_size > 0
    after = h.warehouse(db)
    assert after == before, "the warehouse changed although the write was killed"
    assert after["integrity"] == "ok"

    res = h.normalize_json(env)
    assert res["lines_read"] == new_lines, (res["lines_read"], new_lines)
    lines, _ = h.staged(staging)
    counts = h.conservation(lines, h.verdicts((prior or []) + msgs), db)
    return {"fault": "normalize_killed", "produced": n, "new_lines": new_lines,
            "rows_before": before["clean"] + before["quarantined"], "next_run": res["lines_read"], **counts}


# --- 3. broker kill -9 mid-produce (memory-only broker) ----------------------------------------
def broker_kill(env: dict, tmp: Path, n: int, seed: int = 5, warmup: int = 1000) -> dict:
    """A stack whose sink is already consuming (a warm-up batch drained), then `studentflow run`
    producing ``n`` events into it; the broker is frozen (SIGSTOP) as soon as its first are on the
    topic, then killed (SIGKILL): the kill lands mid-produce (the producer outruns the sink, so
    how much of the run reached staging first varies: it is counted, not required). The run
    produces at a capped rate (``--rate``, ~5 s for 100k) so that a loaded machine's slow look
    at the topic still lands inside the produce: uncapped, 100k took 1.4 s and once ended first."""
    staging = Path(env["STUDENTFLOW_STAGING_DIR"])
    sf(env, "stack", "up", check=True)
    st = status(env)
    warm = h.messages(warmup, seed + 100)
    h.produce_counted(st["bootstrap"], warm)
    sf(env, "connect", "apply", check=True)
    sf(env, "connect", "lag", "--wait", "--timeout", "120", check=True)
    assert h.staged_count(staging) == warmup
    proc = _cli(env, "run", "--count", str(n), "--seed", str(seed), "--no-gate", "--rate", str(max(1000, n // 5)))
    try:
        seen = 0
        while seen <= warmup:   # the run's first events are on the topic: it is producing
            assert proc.poll() is None, "run ended before the fault could be injected:\n" + proc.stdout.read()
            seen = topic_size(st["bootstrap"], h.TOPIC)
        os.kill(st["broker_pid"], signal.SIGSTOP)   # no more acks from here
        at_freeze, staged_at_freeze = seen - warmup, h.staged_count(staging) - warmup
        os.kill(st["broker_pid"], signal.SIGKILL)
        _wait_dead(st["broker_pid"])
        out = proc.communicate(timeout=600)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    error = [ln for ln in out.strip().splitlines() if ln.startswith("studentflow: error")]
    assert len(error) == 1, out[-3000:]   # the run stops with one line
    said = _broker_lost(error[0])
    assert said is not None, error[0]
    lost, acked = said
    assert acked < n, f"the kill did not land mid-produce: acked {acked}\n{out[-2000:]}"
    # the producer's own report (printed before the error) accounts for every event: acked + failed
    delivery = re.search(r"([\d,]+) of ([\d,]+) messages acknowledged .*?; failed: ([\d,]+)", out)
    assert delivery, out[-2000:]
    d_acked, d_sent, d_failed = (_int(g) for g in delivery.groups())
    assert (d_acked, d_sent) == (acked, n) and d_acked + d_failed == n, delivery.group(0)
    lines, tail = h.staged(staging)
    staged_run = sum(lines.values()) - warmup   # counted from the staged bytes, not by the pipeline
    assert 0 <= staged_run <= acked
    assert lost == acked - staged_run, f"run says {lost:,} lost, staging says {acked - staged_run:,}"
    expected = h.verdicts(warm + h.messages(n, seed))
    h.normalize_json(env)   # what `run` had not normalized yet (it normalizes while the sink drains)
    counts = h.conservation(lines, expected, Path(env["STUDENTFLOW_WAREHOUSE"]))   # every staged line, once
    return {"fault": "broker_kill", "produced": n, "on_topic_at_freeze": at_freeze, "staged_at_freeze": staged_at_freeze,
            "acked": acked, "staged_of_run": staged_run, "acked_not_staged": acked - staged_run, "run_says_lost": lost,
            "partial_tail": len(tail), "run_exit": proc.returncode, "run_error": error[-1], "warmup": warmup, **counts}


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def _broker_lost(line: str) -> tuple[int, int] | None:
    """(lost, acknowledged) from the run's broker-stopped error line."""
    m = re.search(r"the broker stopped during the run: ([\d,]+) of ([\d,]+) acknowledged events never reached "
                  r"staging \(lost with the memory-only broker\)", line)
    return (_int(m.group(1)), _int(m.group(2))) if m else None


# --- 4. staging disk full (a small tmpfs) -------------------------------------------------------
def disk_full(env: dict, tmp: Path, n: int, seed: int = 7) -> dict:
    """``env``'s staging folder must sit on a small file system (tests/faults/disk.py)."""
    staging = Path(env["STUDENTFLOW_STAGING_DIR"])
    proc = _cli(env, "run", "--count", str(n), "--seed", str(seed), "--no-gate")
    out = proc.communicate(timeout=900)[0]
    fs = os.statvfs(staging)
    free = fs.f_bavail * fs.f_frsize
    lines, tail = h.staged(staging)
    staged_n = sum(lines.values())
    msgs = h.messages(n, seed)
    expected = h.verdicts(msgs)
    # The fault landed: the file system is full and staging holds fewer lines than were produced.
    assert free < 4096, f"{free} bytes still free: the disk never filled"
    assert 0 < staged_n < n, staged_n
    assert proc.returncode not in (0, None), out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    # Nothing corrupt: every complete staged line is a produced message, byte for byte.
    unknown = [t for t in lines if t not in expected]
    assert not unknown, f"{len(unknown)} staged lines are not messages, e.g. {unknown[:2]}"
    error = [ln for ln in out.strip().splitlines() if ln.startswith("studentflow: error")]
    assert len(error) == 1, out[-3000:]
    # The run names the cause: the staging folder, its disk full, and the count it fell short by.
    m = re.search(r"no space left on device for the staging folder (.+?) \(([\d,]+) bytes free\): only ([\d,]+) of "
                  r"([\d,]+) acknowledged events reached staging, ([\d,]+) did not", error[0])
    named = bool(m) and Path(m.group(1)).resolve() == staging.resolve()
    assert named, error[0]
    assert (_int(m.group(3)), _int(m.group(4)), _int(m.group(5))) == (staged_n, n, n - staged_n), m.group(0)
    assert _int(m.group(2)) < 1 << 20
    # Kafka's file sink swallows the write error (PrintStream): its log does not name the disk.
    log = Path(env["STUDENTFLOW_STATE_DIR"]) / "logs" / "connect.log"
    worker_said = "No space left" in (log.read_text(errors="replace") if log.exists() else "")
    counts = {"fault": "disk_full", "error_names_the_disk": named, "worker_log_names_the_disk": worker_said,
              "produced": n, "staged_lines": staged_n, "partial_tail_bytes": len(tail),
              "run_exit": proc.returncode, "run_error": error[0], "run_output": out[-1500:]}
    if tail:   # the cut line is named and waits (normalize reads complete lines only)
        assert f"the last line is cut ({len(tail):,} bytes" in error[0], error[0]
    # Then normalize what was staged: exact conservation (the half-written tail waits).
    res = subprocess.run([sys.executable, "-m", "studentflow.cli", "normalize", "--json"], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    counts["normalize_exit"], counts["normalize_error"] = res.returncode, res.stderr.strip()[-300:]
    # staging on a small file system, the state folder elsewhere: the increment's copy crosses
    # file systems, and must work
    assert res.returncode == 0, f"normalize after the disk filled exited {res.returncode}: {res.stderr[-1500:]}"
    # `run` normalizes increments while the sink drains: what it committed before it stopped
    # plus this normalize is every complete staged line, once
    with sqlite3.connect(env["STUDENTFLOW_WAREHOUSE"]) as conn:
        normalized = conn.execute("SELECT coalesce(sum(lines_read), 0) FROM pipeline_runs").fetchone()[0]
    assert normalized == staged_n, (normalized, staged_n)
    counts.update(h.conservation(lines, expected, Path(env["STUDENTFLOW_WAREHOUSE"])))
    return counts


# --- helper for a case that needs a normalized warehouse on a running stack ---------------------
def normalized_stack(env: dict, n: int = 2000, seed: int = 2) -> list:
    """Stack up, ``n`` messages produced, sunk and normalized: the state normalize_killed starts
    from when it runs alone. Returns the messages."""
    sf(env, "stack", "up", check=True)
    st = status(env)
    msgs = h.messages(n, seed)
    assert sum(h.produce_counted(st["bootstrap"], msgs).values()) == n
    sf(env, "connect", "apply", check=True)
    sf(env, "connect", "lag", "--wait", "--timeout", "300", check=True)
    res = h.normalize_json(env)
    assert res["lines_read"] == h.staged_count(Path(env["STUDENTFLOW_STAGING_DIR"])) >= n
    return msgs
