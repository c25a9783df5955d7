"""The comparison harness's pure parts: run order, medians, CPU accounting on a fake /proc, summaries."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import compare_lib as cl


def write_stat(proc: Path, pid: int, ppid: int, utime: int, stime: int, start: int, *, cutime: int = 0,
               comm: str = "java (x)") -> None:
    d = proc / str(pid)
    d.mkdir(parents=True, exist_ok=True)
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
    # priority nice threads itreal starttime ...
    fields = ["S", ppid, 0, 0, 0, 0, 0, 0, 0, 0, 0, utime, stime, cutime, 0, 20, 0, 1, 0, start, 0, 0]
    (d / "stat").write_text(f"{pid} ({comm}) " + " ".join(map(str, fields)) + "\n")


def test_order_alternates_between_runs():
    assert cl.method_order(0) == ("original", "studentflow")
    assert cl.method_order(1) == ("studentflow", "original")
    assert cl.method_order(2) == cl.method_order(0)


def test_schedule_covers_every_run_scenario_and_method_once():
    s = cl.schedule(3)
    assert len(s) == 12 == len(set(s))
    assert s[:4] == [(0, "after_the_fact", "original"), (0, "after_the_fact", "studentflow"),
                     (0, "live", "original"), (0, "live", "studentflow")]
    assert s[4:6] == [(1, "after_the_fact", "studentflow"), (1, "after_the_fact", "original")]
    firsts = [s[i][2] for i in range(0, 12, 2)]        # who goes first in each (run, scenario) pair
    assert firsts.count("original") == 4 and firsts.count("studentflow") == 2
    assert cl.schedule(1, ["live"]) == [(0, "live", "original"), (0, "live", "studentflow")]


def test_median_ignores_unmeasured_runs():
    assert cl.median([3.0, 1.0, 2.0]) == 2.0
    assert cl.median([10.0, None, 2.0]) == 6.0
    assert cl.median([None, None]) is None and cl.median([]) is None
    assert cl.ratio(10.0, 4.0) == 2.5 and cl.ratio(None, 4.0) is None and cl.ratio(1.0, 0.0) is None


def test_read_stat_parses_after_the_last_parenthesis(tmp_path):
    write_stat(tmp_path, 42, 7, utime=150, stime=50, start=999, comm="a) b (c")
    assert cl.read_stat(42, tmp_path) == (7, 200, 999)
    assert cl.read_stat(43, tmp_path) is None


def test_cpu_counts_roots_descendants_and_the_broker_from_now_on(tmp_path):
    proc = tmp_path
    write_stat(proc, 10, 1, utime=5000, stime=1000, start=1)      # the broker, busy before the window
    write_stat(proc, 11, 1, utime=9000, stime=0, start=2)         # the other method's process: never counted
    acct = cl.CpuAccount(proc, clk_tck=100)
    acct.add_existing(10, "broker")
    write_stat(proc, 20, 1, utime=100, stime=0, start=50)         # the CLI we start
    acct.add_root(20, "studentflow")
    write_stat(proc, 21, 20, utime=300, stime=100, start=60)      # its Spark JVM
    write_stat(proc, 22, 21, utime=50, stime=0, start=61)         # a grandchild
    write_stat(proc, 10, 1, utime=5150, stime=1050, start=1)      # the broker works 2 s in the window
    acct.sample()
    write_stat(proc, 21, 1, utime=500, stime=100, start=60)       # re-parented: still tracked
    (proc / "22" / "stat").unlink()                               # the grandchild exited: its last sample stays
    write_stat(proc, 20, 1, utime=200, stime=0, start=50, cutime=900)   # cutime (reaped children) not counted
    acct.sample()
    by_role = acct.seconds_by_role()
    assert by_role == {"broker": 2.0, "studentflow": 2.0 + 6.0 + 0.5}
    assert acct.seconds() == 10.5
    assert 11 not in acct.tracked


def test_cpu_a_reused_pid_is_a_new_process(tmp_path):
    acct = cl.CpuAccount(tmp_path, clk_tck=100)
    write_stat(tmp_path, 30, 1, utime=100, stime=0, start=5)
    acct.add_root(30, "original")
    write_stat(tmp_path, 31, 30, utime=200, stime=0, start=6)
    acct.sample()
    write_stat(tmp_path, 31, 30, utime=50, stime=0, start=90)     # pid 31 reused by a new child
    acct.sample()
    assert acct.seconds() == 1.0 + 2.0 + 0.5


def test_cpu_ticks_never_go_backwards(tmp_path):
    acct = cl.CpuAccount(tmp_path, clk_tck=100)
    write_stat(tmp_path, 40, 1, utime=300, stime=0, start=5)
    acct.add_root(40, "x")
    write_stat(tmp_path, 40, 1, utime=100, stime=0, start=5)      # a torn read must not lower the total
    acct.sample()
    assert acct.seconds() == 3.0


def runs_fixture():
    rows = []
    for run, (o, s) in enumerate([(20.0, 40.0), (22.0, 30.0), (30.0, 35.0)]):
        rows.append({"run": run, "scenario": "after_the_fact", "method": "original", "wall_s": o, "cpu_s": o - 2,
                     "stages": {"consume": 1.0 + run, "parse": 0.5}})
        rows.append({"run": run, "scenario": "after_the_fact", "method": "studentflow", "wall_s": s, "cpu_s": s + 1,
                     "stages": {"normalize": 10.0 * (run + 1)}})
    rows.append({"run": 0, "scenario": "live", "method": "original", "wall_s": None, "cpu_s": None, "error": "x"})
    rows.append({"run": 0, "scenario": "live", "method": "studentflow", "wall_s": 50.0, "cpu_s": 60.0, "stages": {}})
    return rows


def test_summary_medians_and_ratios():
    s = cl.summarize(runs_fixture())
    a = s["after_the_fact"]
    assert a["original"]["median_wall_s"] == 22.0 and a["studentflow"]["median_wall_s"] == 35.0
    assert a["original"]["median_cpu_s"] == 20.0 and a["studentflow"]["median_cpu_s"] == 36.0
    assert a["original"]["median_stages_s"] == {"consume": 2.0, "parse": 0.5}
    assert a["studentflow"]["median_stages_s"] == {"normalize": 20.0}
    assert a["ratio_wall"] == round(22 / 35, 3) and a["ratio_cpu"] == round(20 / 36, 3)
    assert a["median_of_run_ratios"] == round(22 / 30, 3)        # ratios 0.5, 0.733, 0.857
    live = s["live"]                                              # the failed original run is left out
    assert "original" not in live and "ratio_wall" not in live and live["studentflow"]["runs"] == 1


RUN_STDOUT = """
== summary ==
  lines normalized                         10,000
  time per stage:
    sink           4.3 s  10,000 lines staged (10,000 this run)
    normalize     17.7 s  9,000 clean, 900 quarantined, 100 duplicates removed
    report         0.8 s  3 files in data/report
    total         37.2 s
  outputs:
    report.md          /w/data/report/report.md
    age_boxplot.png    /w/data/report/age_boxplot.png
    warehouse          /w/data/warehouse.db
data-quality gate FAILED: see the table above
"""


def test_parse_run_summary():
    assert cl.parse_stage_times(RUN_STDOUT) == {"sink": 4.3, "normalize": 17.7, "report": 0.8, "total": 37.2}
    assert cl.parse_outputs(RUN_STDOUT) == {"report.md": "/w/data/report/report.md",
                                            "age_boxplot.png": "/w/data/report/age_boxplot.png",
                                            "warehouse": "/w/data/warehouse.db"}
    assert cl.parse_stage_times("nothing here") == {} and cl.parse_outputs("") == {}


@pytest.mark.parametrize("argv", [["--events", "0"], ["--runs", "0"], ["--scenarios", "later"]])
def test_cli_refuses_bad_options(argv, capsys):
    from bench import compare
    assert compare.main(argv) == 2
    assert "error" in capsys.readouterr().err


def test_cli_accepts_a_million_events(tmp_path, monkeypatch, capsys):
    """main() takes --events 1000000 and hands a million to every run. The runs themselves (a
    fresh stack and a million events each) cannot run in a unit test: ``one`` is replaced by a
    recorder, everything before and after it (validation, schedule, JSON, summary) is real."""
    from bench import compare
    calls = []

    def one(i, scenario, method, n, args, work_root):
        calls.append((i, scenario, method, n))
        return {"run": i, "scenario": scenario, "method": method, "events": n, "wall_s": 1.0, "cpu_s": 1.0,
                "cpu_by_role_s": {}, "stages": {}, "loadavg_start": None}

    monkeypatch.setattr(compare, "one", one)
    assert compare.main(["--events", "1000000", "--runs", "3", "--out", str(tmp_path)]) == 0
    assert calls == [(i, sc, m, 1_000_000) for i, sc, m in cl.schedule(3)]
    (written,) = tmp_path.glob("compare-*.json")
    doc = json.loads(written.read_text())
    assert doc["options"]["events"] == 1_000_000 and doc["options"]["runs"] == 3
    assert "1,000,000 events, median of 3 runs" in capsys.readouterr().out


def test_live_wall_counts_from_the_first_event():
    assert cl.live_wall(1000.5, started=1000.0, ended=1030.0) == 29.5
    assert cl.live_wall(999.5, started=1000.0, ended=1030.0) == 30.5      # clocks a little apart: kept
    assert cl.live_wall(1_600_000_000.0, started=1_800_000_000.0, ended=1_800_000_030.0) is None  # virtual clock
    assert cl.live_wall(None, started=1000.0, ended=1030.0) is None
