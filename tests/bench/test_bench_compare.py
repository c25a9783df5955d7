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


def test_the_headline_pair_alternates_exactly_and_every_method_goes_first_as_often():
    orders = [cl.method_order(i) for i in range(6)]
    assert len(set(orders)) == 6 and all(sorted(o) == sorted(cl.METHODS) for o in orders)   # the 6 orders
    sf_first = [o.index("studentflow") < o.index("corrected") for o in orders]
    assert sf_first == [True, False, True, False, True, False]                # strictly alternated
    for m in cl.METHODS:
        assert [o[0] for o in orders].count(m) == 2                          # first twice in 6 runs
    for a, b in [("studentflow", "as_shipped"), ("corrected", "as_shipped")]:
        assert sum(o.index(a) < o.index(b) for o in orders) == 3            # each pair balanced over 6
    assert cl.method_order(6) == cl.method_order(0)
    assert cl.method_order(1, ("studentflow", "corrected")) == ("corrected", "studentflow")
    for runs in (2, 4, 8):                                                   # any even count: balanced pair
        firsts = [cl.method_order(i, ("studentflow", "corrected"))[0] for i in range(runs)]
        assert firsts.count("studentflow") == firsts.count("corrected") == runs // 2


def test_schedule_covers_every_run_scenario_and_method_once():
    s = cl.schedule(6)
    assert len(s) == 6 * 2 * 3 == len(set(s))
    assert s[:6] == [(0, "cold", "studentflow"), (0, "cold", "corrected"), (0, "cold", "as_shipped"),
                     (0, "warm", "studentflow"), (0, "warm", "corrected"), (0, "warm", "as_shipped")]
    assert s[6:9] == [(1, "cold", "corrected"), (1, "cold", "studentflow"), (1, "cold", "as_shipped")]
    assert cl.schedule(2, ["cold_live"], ["studentflow", "corrected"]) == [
        (0, "cold_live", "studentflow"), (0, "cold_live", "corrected"),
        (1, "cold_live", "corrected"), (1, "cold_live", "studentflow")]


@pytest.mark.parametrize("runs, ok", [(6, True), (2, True), (8, True), (3, False), (0, False), (1, False), (-2, False)])
def test_runs_come_in_pairs(runs, ok):
    assert (cl.check_runs(runs) is None) == ok


def test_quick_jit_for_both_exactly_where_studentflow_gets_it():
    from spark_jobs.session import QUICK_JIT_LINES
    assert cl.quick_jit("cold_live", QUICK_JIT_LINES - 1)                   # run starts its own server
    assert not cl.quick_jit("cold_live", QUICK_JIT_LINES)
    for sc in ("cold", "warm", "warm_live"):                                  # the stack's server: never
        assert not cl.quick_jit(sc, 1000)


def test_window_and_wait_until():
    ticks = iter([100.0, 112.5])
    walls = iter([5000.0, 5012.5])
    win = cl.Window(clock=lambda: next(ticks), wall=lambda: next(walls)).start()
    assert win.stop() == 12.5 == win.seconds and (win.wall0, win.wall1) == (5000.0, 5012.5)
    state = {"n": 0, "samples": 0}

    def done():
        state["n"] += 1
        return state["n"] > 3
    assert cl.wait_until(done, lambda: state.__setitem__("samples", state["samples"] + 1), sleep=lambda _s: None)
    assert state["samples"] == 3
    now = iter([0.0, 0.5, 1.1, 2.0])
    assert not cl.wait_until(lambda: False, clock=lambda: next(now), timeout=1.0, sleep=lambda _s: None)


def test_median_ignores_unmeasured_runs():
    assert cl.median([3.0, 1.0, 2.0]) == 2.0
    assert cl.median([10.0, None, 2.0]) == 6.0
    assert cl.median([None, None]) is None and cl.median([]) is None
    assert cl.ratio(10.0, 4.0) == 2.5 and cl.ratio(None, 4.0) is None and cl.ratio(1.0, 0.0) is None
    assert cl.spread([3.0, None, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}
    assert cl.spread([None]) is None


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


def test_cpu_of_a_running_process_counts_from_now(tmp_path):
    acct = cl.CpuAccount(tmp_path, clk_tck=100)
    write_stat(tmp_path, 50, 1, utime=700, stime=0, start=5)      # a warm original: 7 s before the window
    write_stat(tmp_path, 51, 50, utime=900, stime=100, start=6)   # its Spark JVM: 10 s before
    acct.add_root(50, "corrected", from_now=True)
    write_stat(tmp_path, 50, 1, utime=750, stime=0, start=5)
    write_stat(tmp_path, 51, 50, utime=1100, stime=100, start=6)
    write_stat(tmp_path, 52, 50, utime=30, stime=0, start=99)     # a child born in the window: all of it
    acct.sample()
    assert acct.seconds_by_role() == {"corrected": 0.5 + 2.0 + 0.3}


def rec(run, sc, method, wall, cpu=None, kept=None, error=None, stages=None):
    return {"run": run, "scenario": sc, "method": method, "wall_s": wall, "cpu_s": cpu, "kept_rows": kept,
            "error": error, "stages": stages or {}}


def runs_fixture():
    rows = []
    walls = [(40.0, 20.0, 30.0), (30.0, 22.0, 25.0), (35.0, 30.0, None), (20.0, None, 16.0)]
    for run, (s, c, a) in enumerate(walls):
        rows.append(rec(run, "cold", "studentflow", s, cpu=s + 1, kept=900, stages={"normalize": 10.0 * (run + 1)}))
        rows.append(rec(run, "cold", "corrected", c, cpu=None if c is None else c - 2, kept=880,
                        error=None if c else "the corrected original's loop read 990 of 1000 messages",
                        stages={"consume": 1.0 + run}))
        rows.append(rec(run, "cold", "as_shipped", a, cpu=a, kept=990, error=None if a else "boom"))
    rows.append(rec(0, "warm", "studentflow", None, error="stack up failed"))
    rows.append(rec(0, "warm", "corrected", 10.0, cpu=9.0, kept=880))
    return rows


def test_summary_counts_failures_and_takes_the_median_of_per_run_ratios():
    s = cl.summarize(runs_fixture())
    cold = s["cold"]
    c = cold["methods"]["corrected"]
    assert (c["runs"], c["ok"]) == (4, 3)
    assert c["failed"] == [{"run": 3, "error": "the corrected original's loop read 990 of 1000 messages"}]
    assert c["wall_s"] == {"median": 22.0, "min": 20.0, "max": 30.0, "n": 3}          # the failed run is not a 0
    assert c["median_stages_s"] == {"consume": 2.0} and c["kept_rows"]["median"] == 880
    assert cold["methods"]["as_shipped"]["failed"] == [{"run": 2, "error": "boom"}]
    sf = cold["methods"]["studentflow"]
    assert sf["ok"] == 4 and sf["wall_s"]["median"] == 32.5 and sf["cpu_s"]["median"] == 33.5
    r = cold["ratios"]["corrected"]                                 # pairs 0, 1, 2: 0.5, 0.733, 0.857
    assert r["wall"] == {"median": round(22 / 30, 3), "min": 0.5, "max": round(30 / 35, 3), "n": 3}
    assert r["cpu"]["median"] == round(20 / 31, 3)                  # cpu 18/41, 20/31, 28/36
    assert (r["pairs"], r["pairs_left_out"]) == (3, 1)
    a = cold["ratios"]["as_shipped"]                                # pairs 0, 1, 3: 0.75, 0.833, 0.8
    assert a["wall"] == {"median": 0.8, "min": 0.75, "max": round(25 / 30, 3), "n": 3}
    warm = s["warm"]                                                # studentflow failed: no ratio at all
    assert warm["methods"]["studentflow"]["ok"] == 0 and warm["methods"]["studentflow"]["wall_s"] is None
    assert warm["ratios"]["corrected"]["pairs"] == 0 and warm["ratios"]["corrected"]["wall"] is None
    assert warm["ratios"]["corrected"]["pairs_left_out"] == 1


def test_render_shows_failures_and_the_headline():
    from bench import compare
    runs = runs_fixture()
    text = compare.render({"runs": runs, "summary": cl.summarize(runs), "options": {"events": 1000, "runs": 4}})
    assert "corrected    wall 22.0 s (20.0-30.0, n=3)" in text and "3 of 4 measured, 1 FAILED (runs 3)" in text
    assert "corrected / studentflow (headline): wall 0.733x (0.5-0.857, n=3)" in text
    assert "as_shipped / studentflow (beside it)" in text and "stack up failed" in text
    assert "kept rows 880 (880-880, n=3)" in text and "CPU 33.5 s (21.0-41.0, n=4)" in text   # beside the time


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


@pytest.mark.parametrize("argv", [["--events", "0"], ["--runs", "3"], ["--runs", "0"], ["--scenarios", "later"],
                                  ["--methods", "corrected,as_shipped"]])
def test_cli_refuses_bad_options(argv, capsys, monkeypatch):
    from bench import compare

    def one(*_a, **_k):
        raise AssertionError("a run started despite bad options")
    monkeypatch.setattr(compare, "one", one)
    assert compare.main(argv) == 2
    assert "error" in capsys.readouterr().err


def test_cli_accepts_a_million_events_and_counts_a_failed_run(tmp_path, monkeypatch, capsys):
    """main() takes the documented command (--events 1000000 --runs 6) and hands a million to
    every run. The runs themselves (a broker and a million events each) cannot run in a unit
    test: ``one`` is replaced by a recorder, everything around it (validation, schedule, JSON,
    summary, exit status) is real."""
    from bench import compare
    calls = []

    def one(i, scenario, method, n, args, work_root):
        calls.append((i, scenario, method, n))
        failed = (i, scenario, method) == (3, "warm", "corrected")
        return {"run": i, "scenario": scenario, "method": method, "events": n, "wall_s": None if failed else 1.0,
                "cpu_s": 1.0, "cpu_by_role_s": {}, "stages": {}, "loadavg_start": None,
                "error": "boom" if failed else None}

    monkeypatch.setattr(compare, "one", one)
    assert compare.main(["--events", "1000000", "--runs", "6", "--out", str(tmp_path)]) == 1   # a run failed
    assert calls == [(i, sc, m, 1_000_000) for i, sc, m in cl.schedule(6)]
    (written,) = tmp_path.glob("compare-*.json")
    doc = json.loads(written.read_text())
    assert doc["options"]["events"] == 1_000_000 and doc["options"]["runs"] == 6
    assert doc["summary"]["warm"]["methods"]["corrected"]["failed"] == [{"run": 3, "error": "boom"}]
    out = capsys.readouterr().out
    assert "== cold: 1,000,000 events, 6 paired runs ==" in out and "5 of 6 measured, 1 FAILED (runs 3)" in out


def test_live_wall_counts_from_the_first_event():
    assert cl.live_wall(1000.5, started=1000.0, ended=1030.0) == 29.5
    assert cl.live_wall(999.5, started=1000.0, ended=1030.0) == 30.5      # clocks a little apart: kept
    assert cl.live_wall(1_600_000_000.0, started=1_800_000_000.0, ended=1_800_000_030.0) is None  # virtual clock
    assert cl.live_wall(None, started=1000.0, ended=1030.0) is None


def test_studentflow_s_worker_gets_the_same_group_session_as_the_original_s_consumer(tmp_path):
    """The harness's Tansu is a configured Kafka to studentflow: without its config file the worker
    would keep Kafka's 45 s session, and Tansu would hold the sink's join for about 23 s."""
    from bench.compare_run import Work
    from connect import runtime

    settings = Work(tmp_path / "w", 0.5).settings().with_overrides(bootstrap_servers="127.0.0.1:9")
    assert not settings.embedded_kafka
    props = runtime.worker_properties(settings, bootstrap="127.0.0.1:9", rest_port=1, mode="standalone")
    for key, value in runtime.EMBEDDED_BROKER_CONSUMER.items():
        assert props[key] == value
