"""Increments: watermarks, exactly once into the warehouse, staging that moves backwards.

Real Spark (local[2]), real SQLite files, and for the kill test a real `studentflow normalize`
process killed with SIGKILL while its transaction is open.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spark_jobs.job import run_normalize
from studentflow.core import config
from studentflow.core.errors import DataError

pytestmark = pytest.mark.slow

QUIET = lambda _m: None  # noqa: E731
REPO = Path(__file__).resolve().parents[2]
TABLES = ("clean_students", "quarantine_students")


def _event(n: int, **over) -> str:
    e = {"event_id": f"00000000-0000-4000-8000-{n:012d}", "student_id": f"S{n}", "first_name": "Léa",
         "last_name": "Martin", "age": 18 + n % 40, "major": ("Chimie", "Physique", "Biologie")[n % 3],
         "emitted_at": "2026-11-27T10:00:00Z", "schema_version": 1, **over}
    return json.dumps(e, ensure_ascii=False, separators=(",", ":"))


def corpus(n: int) -> list[str]:
    """n lines: contract events, every ~25th a later exact copy (duplicate) or a conflicting copy,
    plus salvageable and quarantined text, invalid encoding and a CSV header."""
    lines = []
    for i in range(n):
        if i % 25 == 7 and i > 30:
            lines.append(_event(i - 20))                             # duplicate of a line 20 before
        elif i % 25 == 19 and i > 30:
            lines.append(_event(i - 30, major="Economie"))           # same id, other content
        elif i % 50 == 3:
            lines.append(f"Alice,Dupont,{20 + i % 30},Informatique")
        elif i % 97 == 5:
            lines.append("hello kafka")
        elif i % 131 == 11:
            lines.append(_event(i, last_name="Mart\ufffdn"))
        elif i == 2:
            lines.append("prénom,nom,age,filière")
        else:
            lines.append(_event(i))
    return lines


def snapshot(db: Path) -> dict[str, list[tuple]]:
    """Both tables, every column but run_id, in table (rowid) order."""
    with sqlite3.connect(db) as conn:
        out = {}
        for t in TABLES:
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({t})") if r[1] != "run_id"]
            out[t] = conn.execute(f"SELECT {', '.join(cols)} FROM {t} ORDER BY rowid").fetchall()
    return out


def settings_at(root: Path, staging: Path) -> config.Settings:
    return config.load(env={}, data_dir=str(root), state_dir=str(root / "state"),
                       warehouse=str(root / "warehouse.db"), staging_dir=str(staging), spark_master="local[2]")


def _normalize_process(s: config.Settings, spark_url: str) -> subprocess.Popen:
    """`studentflow normalize` attached to the test run's server, as to a stack's."""
    env = {**os.environ, "STUDENTFLOW_STAGING_DIR": str(s.staging_dir), "STUDENTFLOW_WAREHOUSE": str(s.warehouse),
           "STUDENTFLOW_STATE_DIR": str(s.state_dir), "STUDENTFLOW_DATA_DIR": str(s.data_dir),
           "STUDENTFLOW_SPARK_REMOTE": spark_url}
    return subprocess.Popen([sys.executable, "-m", "studentflow.cli", "normalize"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def kill_while_writing(s: config.Settings, spark_url: str) -> str:
    """Run `studentflow normalize` and SIGKILL it while its SQLite transaction is open (the rollback
    journal exists). Returns the process output; fails if the kill did not land mid-write."""
    journal = Path(str(s.warehouse) + "-journal")
    proc = _normalize_process(s, spark_url)
    landed = False
    deadline = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < deadline:
        if journal.exists():
            proc.send_signal(signal.SIGKILL)
            landed = True
            break
        time.sleep(0.001)
    out, _ = proc.communicate(timeout=60)
    assert landed and proc.returncode == -signal.SIGKILL, f"the kill did not land mid-write:\n{out}"
    return out


def test_increments_with_a_kill_mid_write_equal_one_full_refresh(spark, spark_server, tmp_path):
    lines = corpus(60_000)
    payload = "".join(f"{line}\n" for line in lines).encode("utf-8")
    # Boundaries: between a line and its later duplicate / conflict (ids 20 and 30 lines apart),
    # one in the middle of a line (a half-written last line waits), one big step for the kill.
    ends = [len("".join(f"{x}\n" for x in lines[:k]).encode("utf-8")) for k in (40, 1_000, 2_010, 3_017)]
    ends.insert(2, ends[1] + 37)                       # mid-line: the sink is writing that line
    ends += [len(payload) - 5_000, len(payload)]      # 57 k lines in the killed increment
    staging = tmp_path / "staging"
    staging.mkdir()
    target = staging / "students.raw.txt"
    s = settings_at(tmp_path / "inc", staging)
    written, runs = 0, []
    for i, end in enumerate(ends):
        with open(target, "ab") as fh:
            fh.write(payload[written:end])
        written = end
        if i == len(ends) - 2:
            before = snapshot(s.warehouse)
            marks_before = _marks(s.warehouse)
            kill_while_writing(s, spark_server)
            assert snapshot(s.warehouse) == before                      # nothing of the killed increment
            assert _marks(s.warehouse) == marks_before                  # ... and the watermarks did not move
        runs.append(run_normalize(s, spark=spark, progress=QUIET))
    assert len(runs) >= 6 and sum(r.lines_read for r in runs) == len(lines)
    assert runs[2].lines_read == 0                                       # only a half line was new
    full = settings_at(tmp_path / "full", staging)
    one = run_normalize(full, spark=spark, progress=QUIET, full_refresh=True)
    assert one.lines_read == len(lines)
    assert (one.clean, one.quarantined, one.duplicates_removed, one.headers) == (
        sum(r.clean for r in runs), sum(r.quarantined for r in runs), sum(r.duplicates_removed for r in runs),
        sum(r.headers for r in runs))
    inc_tables, full_tables = snapshot(s.warehouse), snapshot(full.warehouse)
    assert inc_tables == full_tables                                     # row for row, run_id aside
    reasons = {r[1] for r in full_tables["quarantine_students"]}
    assert {"conflicting_duplicate", "invalid_encoding", "not_json_or_csv"} <= reasons
    assert one.duplicates_removed > 1_000 and one.headers == 1
    with sqlite3.connect(s.warehouse) as conn:
        ids, rows = conn.execute("SELECT count(DISTINCT event_id), count(*) FROM clean_students").fetchone()
    assert ids == rows == one.clean


def _marks(db: Path) -> list[tuple]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT source_file, lines, bytes FROM staging_watermarks").fetchall()


def test_across_increments_a_repeat_is_a_duplicate_and_other_content_a_conflict(spark, tmp_path):
    s = settings_at(tmp_path, tmp_path / "staging")
    s.staging_dir.mkdir()
    f = s.staging_dir / "students.raw.txt"
    f.write_text(_event(1) + "\n" + _event(2) + "\n", encoding="utf-8")
    first = run_normalize(s, spark=spark, progress=QUIET)
    with open(f, "a", encoding="utf-8") as fh:
        fh.write(_event(1) + "\n" + _event(2, age=33) + "\n" + _event(2, age=33) + "\n")
    second = run_normalize(s, spark=spark, progress=QUIET)
    assert (first.clean, second.lines_read, second.clean, second.duplicates_removed, second.quarantined) == \
        (2, 3, 0, 1, 2)
    with sqlite3.connect(s.warehouse) as conn:
        q = conn.execute("SELECT reason, detail, line_number FROM quarantine_students").fetchall()
        modes = conn.execute("SELECT mode, lines_read FROM pipeline_runs ORDER BY started_at").fetchall()
    # line 3 repeats line 1 (duplicate); lines 4 and 5 carry id 2 with age 33: both are judged against
    # the first occurrence, line 2 in the warehouse, so both conflict, exactly as one full refresh says
    assert [(r[0], r[2]) for r in q] == [("conflicting_duplicate", 4), ("conflicting_duplicate", 5)]
    assert all("already seen with other content at students.raw.txt:2" in r[1] for r in q)
    assert modes == [("incremental", 2), ("incremental", 3)]


def test_staging_that_moved_backwards_stops_with_one_line(spark, tmp_path):
    s = settings_at(tmp_path, tmp_path / "staging")
    s.staging_dir.mkdir()
    f = s.staging_dir / "students.raw.txt"
    other = s.staging_dir / "other.txt"
    f.write_text("".join(_event(i) + "\n" for i in range(20)), encoding="utf-8")
    other.write_text(_event(100) + "\n", encoding="utf-8")
    run_normalize(s, spark=spark, progress=QUIET)
    before = snapshot(s.warehouse)

    def refused(match: str) -> DataError:
        with pytest.raises(DataError, match=match) as err:
            run_normalize(s, spark=spark, progress=QUIET)
        assert "--full-refresh" in err.value.hint and "\n" not in err.value.message
        assert snapshot(s.warehouse) == before
        return err.value

    data = f.read_bytes()
    f.write_bytes(data[:-300])                                          # shorter than its watermark
    assert "students.raw.txt" in refused("shorter").message
    f.write_bytes(data.replace(b"L\xc3\xa9a", b"Zoe!", 1))             # same length, other first bytes
    assert "students.raw.txt" in refused("replaced or rewritten").message
    f.write_bytes(data)
    other.unlink()                                                      # a file that vanished
    assert "other.txt" in refused("no longer in staging").message
    out = subprocess.run([sys.executable, "-m", "studentflow.cli", "normalize"], cwd=REPO, capture_output=True,
                         text=True, env={**os.environ, "STUDENTFLOW_STAGING_DIR": str(s.staging_dir),
                                         "STUDENTFLOW_WAREHOUSE": str(s.warehouse),
                                         "STUDENTFLOW_STATE_DIR": str(s.state_dir)})
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "other.txt" in out.stderr and "--full-refresh" in out.stderr
    rebuilt = run_normalize(s, spark=spark, progress=QUIET, full_refresh=True)
    assert rebuilt.lines_read == 20 and rebuilt.mode == "full_refresh"
    assert run_normalize(s, spark=spark, progress=QUIET).lines_read == 0


def test_raw_bytes_that_are_not_utf8_are_quarantined_as_invalid_encoding(spark, tmp_path):
    s = settings_at(tmp_path, tmp_path / "staging")
    s.staging_dir.mkdir()
    (s.staging_dir / "students.raw.txt").write_bytes(
        _event(1).encode() + b"\n" + _event(2).encode().replace(b"Martin", b"Mart\xffn") + b"\n")
    res = run_normalize(s, spark=spark, progress=QUIET)
    assert (res.clean, res.quarantined, res.by_reason) == (1, 1, {"invalid_encoding": 1})
    with sqlite3.connect(s.warehouse) as conn:
        raw, = conn.execute("SELECT raw_line FROM quarantine_students").fetchone()
    assert "Mart\ufffdn" in raw                     # kept as text, the bad byte shown as U+FFFD


def test_a_session_passed_in_stays_warm_and_one_started_here_is_released(spark, tmp_path):
    s = settings_at(tmp_path, tmp_path / "staging")
    s.staging_dir.mkdir()
    (s.staging_dir / "students.raw.txt").write_text(_event(1) + "\n", encoding="utf-8")
    run_normalize(s, spark=spark, progress=QUIET)
    assert spark.range(3).count() == 3                                  # the caller's session is alive
    script = (
        "import os, sys\n"
        "from spark_jobs.job import run_normalize\n"
        "from studentflow.core import config\n"
        f"s = config.load(env={{}}, data_dir={str(tmp_path / 'p')!r}, state_dir={str(tmp_path / 'p' / 'st')!r},"
        f" warehouse={str(tmp_path / 'p' / 'w.db')!r}, staging_dir={str(s.staging_dir)!r}, spark_master='local[1]')\n"
        "res = run_normalize(s, progress=lambda m: None)\n"
        "from bench.rss import parent_map\n"   # skips a process that ends while /proc is read
        "from studentflow.core.procs import pid_cmdline\n"
        "java = [p for p, parent in parent_map().items() if parent == os.getpid() and 'java' in pid_cmdline(p)]\n"
        "print(res.clean, len(java))\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ["1", "0"]                       # normalized, and no JVM left


@pytest.mark.timeout(900)
def test_a_cluster_master_gives_the_same_tables(spark, tmp_path):
    """Spark's standalone-cluster shape on one machine: two executor JVMs (local-cluster)."""
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "students.raw.txt").write_text("".join(f"{x}\n" for x in corpus(6_000)), encoding="utf-8")
    local = settings_at(tmp_path / "local", staging)
    run_normalize(local, spark=spark, progress=QUIET)
    cluster = settings_at(tmp_path / "cluster", staging)
    env = {**os.environ, "STUDENTFLOW_STAGING_DIR": str(staging), "STUDENTFLOW_WAREHOUSE": str(cluster.warehouse),
           "STUDENTFLOW_STATE_DIR": str(cluster.state_dir), "STUDENTFLOW_SPARK_MASTER": "local-cluster[2,1,1024]"}
    out = subprocess.run([sys.executable, "-m", "studentflow.cli", "normalize", "--json"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert json.loads(out.stdout.splitlines()[-1])["lines_read"] == 6_000
    assert snapshot(cluster.warehouse) == snapshot(local.warehouse)
    shutil.rmtree(tmp_path / "cluster" / "state", ignore_errors=True)
