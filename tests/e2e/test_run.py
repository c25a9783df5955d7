"""`studentflow run` as a user meets it: the whole pipeline on a private embedded stack."""
from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studentflow.core import procs
from studentflow.core.errors import ExitCode
from tests.support.stackutil import REPO, sf, stack_env

pytestmark = pytest.mark.slow


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def _report_table(md: str) -> list[dict[str, str]]:
    """The per-major table as one dict per row, keyed by the header's column names."""
    lines = md.splitlines()
    start = next(i for i, l in enumerate(lines) if l.replace(" ", "").startswith("|Filière|Nombre|Moyenne|")
                 and "Écart-type" in l)
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, (c.strip() for c in line.strip("|").split("|")))))
    return rows


def test_run_twice_report_matches_marts_and_nothing_left_running(tmp_path):
    # as `make run`: no stack before, none after; no quality worker either (the run's own stack
    # stops with it), so dbt, the gate and the report run in the run's process
    env = stack_env(tmp_path, own_quality=True)
    first = sf(env, "run", "--count", "3000", "--seed", "7", timeout=900)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    out = first.stdout
    assert "quality worker" not in out and not (tmp_path / "state" / "quality.json").exists()
    produced = int(re.search(r"events produced \(acked\)\s+([\d,]+)", out).group(1).replace(",", ""))
    assert produced == 3000
    assert "balance (read = clean+quar.+dup.)" in out and "BROKEN" not in out
    for stage in ("stack", "produce", "sink", "normalize", "transform", "validate", "report"):
        assert re.search(rf"^\s+{stage}\s+[\d.]+ s", out, re.M), f"no time for stage {stage}"

    data = tmp_path / "data"
    report = next((data / "report").glob("*.md"))
    pngs = list((data / "report").glob("*.png"))
    assert len(pngs) >= 2 and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert str(report) in out  # paths printed at the end

    con = sqlite3.connect(data / "warehouse.db")
    mart = con.execute("select major, student_count, avg_age, min_age, max_age, stddev_age "
                       "from major_age_stats order by major").fetchall()
    run1 = con.execute("select lines_read, clean_count, quarantined_count, duplicates_removed from pipeline_runs").fetchall()
    con.close()
    md = report.read_text()
    total = re.search(r"\*\*Total\*\*\s*\|\s*\|\s*\*\*([\d ,.\u202f]+)\*\*", md)
    assert total and float(total.group(1).replace(",", ".").replace(" ", "").replace("\u202f", "")) > 0
    table = _report_table(md)
    assert [r["Filière"] for r in table] == [m[0] for m in mart]
    for row, m in zip(table, mart):
        assert int(row["Nombre"].replace("\u202f", "").replace(" ", "").replace(",", "")) == m[1]
        assert float(row["Moyenne"].replace(",", ".")) == pytest.approx(m[2], abs=0.005)
        assert int(float(row["Min"].replace(",", "."))) == m[3] and int(float(row["Max"].replace(",", "."))) == m[4]
    # a run may normalize in several increments (one while the sink drains): each one balances
    assert run1 and all(r[0] == r[1] + r[2] + r[3] for r in run1)
    lines_read, clean, quarantined, dups = (sum(col) for col in zip(*run1))
    assert lines_read == clean + quarantined + dups >= 3000
    assert quarantined > 0  # the demo's malformed share is visible

    # The stack this run started is gone.
    assert not json.loads(sf(env, "stack", "status", "--json").stdout)["running"]

    # A second run succeeds; staging accumulates and normalize reads only what is new (increment).
    second = sf(env, "run", "--count", "2000", timeout=900)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    con = sqlite3.connect(data / "warehouse.db")
    runs = con.execute("select lines_read, clean_count, quarantined_count, duplicates_removed "
                       "from pipeline_runs order by started_at").fetchall()
    total = con.execute("select student_count from global_summary").fetchone()[0]
    con.close()
    new = runs[len(run1):]                       # the second run's increments (one or more)
    assert new and all(r[0] == r[1] + r[2] + r[3] for r in new)
    assert 2000 <= sum(r[0] for r in new) < 3000  # the 2,000 new events (+ any sink duplicates), not history
    assert total == sum(r[1] for r in runs)      # the marts count every increment's clean rows


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_killing_the_run_leaves_nothing_running(tmp_path, sig):
    env = stack_env(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "studentflow.cli", "run", "--count", "400000"], env=env,
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: set[int] = set()
    state_file = tmp_path / "state" / "stack.json"
    staged = tmp_path / "data" / "staging" / "students.raw.txt"
    deadline = time.monotonic() + 300
    try:
        # Wait until the broker and worker run and events are flowing (the sink has staged some),
        # then interrupt. A run that never gets there fails here, at the deadline.
        while not (state_file.exists() and staged.exists() and staged.stat().st_size > 0):
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "no event reached staging: the run never got going"
            seen |= _descendants(proc.pid)
            time.sleep(0.2)
        st = json.loads(state_file.read_text())
        seen |= {st["broker_pid"], st["connect_pid"]} | _descendants(proc.pid)
        assert procs.pid_alive(st["broker_pid"]) and procs.pid_alive(st["connect_pid"])
        assert proc.poll() is None, "the run ended before it could be interrupted"
        os.kill(proc.pid, sig)
        proc.communicate(timeout=120)
        assert proc.returncode == (ExitCode.INTERRUPTED if sig == signal.SIGINT else -signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(procs.pid_alive(p) for p in seen):
            time.sleep(0.5)
        left = {p: procs.pid_cmdline(p)[:120] for p in seen if procs.pid_alive(p)}
        assert not left, f"still running after the run was killed: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in seen:
            procs.stop_pid(p, timeout=2)


def test_sigterm_during_normalize_stops_after_the_increment_commits(tmp_path):
    """A SIGTERM that lands while Spark works must not become a PySpark traceback (it did: exit 1,
    a Py4JJavaError) nor be lost (a CI run ended with exit 0): the run finishes the increment in
    flight, stops before the next stage, stops its stack and exits 130."""
    env = stack_env(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "studentflow.cli", "run", "--count", "20000", "--no-gate"],
                            env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("==> Spark:"):      # the normalize stage has begun: Spark is at work
                proc.send_signal(signal.SIGTERM)
                break
        assert any(l.startswith("==> Spark:") for l in lines), "".join(lines)
        rest, _ = proc.communicate(timeout=300)
        out = "".join(lines) + rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, out[-3000:]
    assert "studentflow: SIGTERM: the run stops after its current step" in out
    assert "studentflow: interrupted" in out and "Traceback" not in out and "Py4J" not in out
    assert "normalize done" in out           # the increment in flight committed ...
    assert "==> dbt build" not in out         # ... and the run stopped before the next stage
    assert not json.loads(sf(env, "stack", "status", "--json").stdout)["running"]
    con = sqlite3.connect(tmp_path / "data" / "warehouse.db")
    read, accounted = con.execute("select sum(lines_read), sum(clean_count + quarantined_count + duplicates_removed "
                                  "+ headers_skipped) from pipeline_runs").fetchone()
    con.close()
    staged = sum(1 for f in (tmp_path / "data" / "staging").iterdir() for _ in f.open("rb"))
    assert read == accounted == staged >= 20000  # every staged line normalized and accounted for, once
