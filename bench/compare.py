"""studentflow against the faithful original method: two figures, each the median of several runs.

    python -m bench.compare --events 100000 --runs 3

- **after the fact**: N events already on the topic, nothing consumed -> the same outputs (per-major
  averages in SQLite, the per-major count/mean/min/max/std table, the boxplot). studentflow: the
  sink connector is applied only once production is over (`studentflow connect apply`, its group
  join inside the window), then `studentflow run --no-produce`. Original: bench/baseline_original.py
  as its own process.
- **live**: from the first produced event (its Kafka timestamp) to the same outputs, both methods
  consuming while events are produced. studentflow: `studentflow run --count N` on a running
  stack (it produces itself); original: the baseline subscribes, then `studentflow produce --count N`
  starts.

Each method run gets its own fresh stack and data folder (embedded broker; studentflow also its
Connect worker), the same seed, and the order of the two methods alternates from run to run.
studentflow is driven only through its CLI (`studentflow ...` subprocesses with STUDENTFLOW_*
pointing at the work folder), so later pipeline changes are measured as they are.
CPU seconds per method: its own processes (and their descendants) and its broker (studentflow:
also its Connect worker), read from /proc/<pid>/stat while they run (bench/compare_lib.py);
in the live scenario each side's CPU includes producing (inside `studentflow run`, or the
`studentflow produce` process next to the baseline). Nothing is asserted; JSON goes to
bench/results/compare-<UTC time>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import compare_lib as cl
from core import config

RESULTS_DIR = config.PROJECT_ROOT / "bench" / "results"
ROOT = config.PROJECT_ROOT
TOPIC = "students.raw"


def _cli() -> list[str]:
    exe = Path(sys.executable).with_name("studentflow")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "studentflow.cli"]


def _loadavg() -> list[float] | None:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


class Work:
    """One method run: its folder, its STUDENTFLOW_* environment, the processes it started."""

    def __init__(self, root: Path, interval: float) -> None:
        self.root = root
        self.interval = interval
        root.mkdir(parents=True, exist_ok=True)
        data = root / "data"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STUDENTFLOW_")}
        self.env.update(STUDENTFLOW_STATE_DIR=str(root / "state"), STUDENTFLOW_DATA_DIR=str(data),
                        STUDENTFLOW_STAGING_DIR=str(data / "staging"), STUDENTFLOW_WAREHOUSE=str(data / "warehouse.db"),
                        STUDENTFLOW_DROP_FILE=str(data / "drop" / "students.txt"), STUDENTFLOW_TOPIC=TOPIC,
                        STUDENTFLOW_CONFIG=str(root / "none.toml"), STUDENTFLOW_BOOTSTRAP_SERVERS="",
                        STUDENTFLOW_CONNECT_URL="")
        (root / "none.toml").write_text("")   # the project's studentflow.toml stays out of the figures
        self.acct = cl.CpuAccount()
        self.n = 0

    def start(self, cmd: list[str], role: str | None, env: dict | None = None) -> subprocess.Popen:
        """Start ``cmd`` (stdout/stderr to files in the work folder); ``role`` = counted for CPU."""
        self.n += 1
        base = self.root / f"{self.n:02d}-{role or 'setup'}"
        with open(base.with_suffix(".out"), "wb") as fo, open(base.with_suffix(".err"), "wb") as fe:
            p = subprocess.Popen(cmd, env=env or self.env, cwd=ROOT, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL)
        p.out_path = base.with_suffix(".out")  # type: ignore[attr-defined]
        if role:
            self.acct.add_root(p.pid, role)
        return p

    def wait(self, procs: list[subprocess.Popen], until=None) -> None:
        """Sample CPU until every process exited (read once more as a zombie, then reaped), or ``until()``."""
        left = list(procs)
        try:
            while left:
                for p in list(left):
                    if os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                        self.acct.sample()
                        p.wait()
                        left.remove(p)
                if until is not None and until():
                    return
                if left:
                    self.acct.sample()
                    time.sleep(self.interval)
        except BaseException:
            for p in left:
                p.terminate()
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            raise

    def run(self, cmd: list[str], role: str | None = None, check: bool = True, env: dict | None = None) -> str:
        p = self.start(cmd, role, env)
        self.wait([p])
        text = p.out_path.read_text(errors="replace")  # type: ignore[attr-defined]
        if check and p.returncode != 0:
            err = p.out_path.with_suffix(".err").read_text(errors="replace").strip().splitlines()[-3:]  # type: ignore
            raise RuntimeError(f"{' '.join(cmd[-4:])} failed (exit {p.returncode}): {' | '.join(err)}")
        return text


def produce_cmd(n: int, args) -> list[str]:
    return _cli() + ["produce", "--count", str(n), "--seed", str(args.seed), "--malformed-rate", str(args.malformed_rate)]


def first_event_time(bootstrap: str, topic: str, timeout: float = 30) -> float | None:
    """Epoch seconds of the earliest message timestamp at the head of each partition."""
    from confluent_kafka import Consumer, TopicPartition

    from core.kafka import quiet_logger

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-compare-first", "enable.auto.commit": False,
                  "enable.partition.eof": True, "logger": quiet_logger()})
    try:
        parts = list(c.list_topics(topic, timeout=10).topics[topic].partitions)
        c.assign([TopicPartition(topic, p, 0) for p in parts])
        left, stamps, deadline = set(parts), [], time.monotonic() + timeout
        while left and time.monotonic() < deadline:
            m = c.poll(1.0)
            if m is None or m.partition() not in left:
                continue
            left.discard(m.partition())
            c.pause([TopicPartition(topic, m.partition())])
            if not m.error() and m.timestamp()[1] > 0:
                stamps.append(m.timestamp()[1] / 1000)
        return min(stamps) if stamps else None
    finally:
        c.close()


def _table_rows(db: Path, table: str) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(f"select count(*) from {table}").fetchone()[0]
    except sqlite3.Error:
        return 0
    finally:
        conn.close()


# --------------------------------------------------------------------------- studentflow
def _stack_up(w: Work) -> dict[str, Any]:
    w.run(_cli() + ["stack", "up"])
    st = json.loads(w.run(_cli() + ["stack", "status", "--json"]))
    from studentflow import broker
    broker.ensure_topic({"bootstrap.servers": st["bootstrap"], "logger": broker.quiet_logger()}, TOPIC, 4)
    return st


def studentflow_run(w: Work, scenario: str, n: int, args) -> dict[str, Any]:
    try:
        st = _stack_up(w)
        if scenario == "after_the_fact":
            w.run(produce_cmd(n, args))
        w.acct.add_existing(st["broker_pid"], "broker")
        w.acct.add_existing(st["connect_pid"], "connect")
        gate = ["--no-gate"] if args.no_gate else []
        t0, wall0 = time.perf_counter(), time.time()
        stages: dict[str, float] = {}
        if scenario == "after_the_fact":
            w.run(_cli() + ["connect", "apply"], "studentflow")
            stages["connect_apply"] = round(time.perf_counter() - t0, 3)
            out = w.run(_cli() + ["run", "--no-produce", *gate], "studentflow")
        else:
            out = w.run(_cli() + ["run", "--count", str(n), "--seed", str(args.seed),
                                  "--malformed-rate", str(args.malformed_rate), *gate], "studentflow")
        end, wall1 = time.perf_counter(), time.time()
        stages.update(cl.parse_stage_times(out))
        res: dict[str, Any] = {"process_wall_s": round(end - t0, 3), "stages": stages}
        if scenario == "live":
            first = first_event_time(st["bootstrap"], TOPIC)
            res["first_event_after_start_s"] = None if first is None else round(first - wall0, 3)
            res["wall_s"] = cl.live_wall(first, wall0, wall1)
        else:
            res["wall_s"] = res["process_wall_s"]
        outputs = cl.parse_outputs(out)
        wh = Path(outputs.get("warehouse", w.root / "data" / "warehouse.db"))
        res["outputs"] = {"averages_rows": _table_rows(wh, "major_avg_age_over_20"),
                          "stats_rows": _table_rows(wh, "major_age_stats"),
                          "boxplot": any(k.endswith("boxplot.png") and Path(v).is_file() for k, v in outputs.items())}
        return res
    finally:
        w.run(_cli() + ["stack", "down"], check=False)


# --------------------------------------------------------------------------- the original
def original_run(w: Work, scenario: str, n: int, args) -> dict[str, Any]:
    from studentflow import broker
    from core import procs

    port = procs.free_port()
    bootstrap = f"127.0.0.1:{port}"
    bproc = broker.start(port, w.root / "broker.log", tie_to_parent=True)
    try:
        broker.wait_ready(bootstrap, bproc, w.root / "broker.log")
        broker.ensure_topic({"bootstrap.servers": bootstrap, "logger": broker.quiet_logger()}, TOPIC, 4)
        penv = {**w.env, "STUDENTFLOW_BOOTSTRAP_SERVERS": bootstrap}
        if scenario == "after_the_fact":
            w.run(produce_cmd(n, args), env=penv)
        w.acct.add_existing(bproc.pid, "broker")
        js, ready = w.root / "original.json", w.root / "subscribed"
        cmd = [sys.executable, "-m", "bench.baseline_original", "--bootstrap", bootstrap, "--topic", TOPIC,
               "--expect", str(n), "--out-dir", str(w.root / "original"), "--json-out", str(js)]
        t0, wall0 = time.perf_counter(), time.time()
        if scenario == "after_the_fact":
            w.run(cmd, "original")
        else:
            orig = w.start(cmd + ["--ready-file", str(ready)], "original")
            w.wait([orig], until=ready.is_file)
            if orig.poll() is not None:
                raise RuntimeError(f"the baseline exited early (exit {orig.returncode}); see {orig.out_path}")  # type: ignore
            prod = w.start(produce_cmd(n, args), "producer", env=penv)
            w.wait([orig, prod])
            if orig.returncode != 0 or prod.returncode != 0:
                raise RuntimeError(f"live original failed (baseline exit {orig.returncode}, producer {prod.returncode})")
        end, wall1 = time.perf_counter(), time.time()
        o = json.loads(js.read_text())
        res: dict[str, Any] = {"process_wall_s": round(end - t0, 3),
                               "stages": {k: round(v, 3) for k, v in o["timings"].items()},
                               "messages_read": o["messages_read"], "records_kept": o["records_kept"],
                               "dropped": o["dropped_silently"], "majors": o["majors"]}
        if scenario == "live":
            first = first_event_time(bootstrap, TOPIC)
            res["first_event_after_start_s"] = None if first is None else round(first - wall0, 3)
            res["wall_s"] = cl.live_wall(first, wall0, wall1)
        else:
            res["wall_s"] = res["process_wall_s"]
        res["outputs"] = {"averages_rows": _table_rows(Path(o["sqlite"]), "avg_age_by_major"),
                          "stats_rows": _table_rows(Path(o["sqlite"]), "age_stats_by_major"),
                          "boxplot": Path(o["boxplot"]).is_file()}
        return res
    finally:
        procs.stop_pid(bproc.pid, timeout=5)
        bproc.wait()


# --------------------------------------------------------------------------- driver, output
def one(i: int, scenario: str, method: str, n: int, args, work_root: Path) -> dict[str, Any]:
    w = Work(work_root / f"run{i}-{scenario}-{method}", args.sample_interval)
    rec: dict[str, Any] = {"run": i, "scenario": scenario, "method": method, "events": n, "loadavg_start": _loadavg()}
    try:
        rec.update((original_run if method == "original" else studentflow_run)(w, scenario, n, args))
    except Exception as exc:  # noqa: BLE001 - one failed run is recorded, the others go on
        rec["error"] = str(exc)
        rec["wall_s"] = None
    rec["cpu_s"] = w.acct.seconds() if rec.get("wall_s") is not None else None
    rec["cpu_by_role_s"] = w.acct.seconds_by_role()
    rec["cpu_samples"] = w.acct.samples
    rec["loadavg_end"] = _loadavg()
    if not args.keep_data:
        shutil.rmtree(w.root, ignore_errors=True)
    return rec


def render(result: dict[str, Any]) -> str:
    lines = []
    for r in result["runs"]:
        stages = ", ".join(f"{k} {v:.2f}" for k, v in r.get("stages", {}).items())
        wall = "FAILED: " + r["error"] if r.get("error") else f"{r['wall_s']:.2f} s, CPU {r['cpu_s']:.1f} s"
        lines.append(f"run {r['run']} {r['scenario']:<14} {r['method']:<12} {wall}  "
                     f"(load {r['loadavg_start'][0] if r['loadavg_start'] else '?'}; CPU {r['cpu_by_role_s']})")
        lines.append(f"    stages: {stages}")
    for sc, per in result["summary"].items():
        lines.append("")
        lines.append(f"== {sc.replace('_', ' ')}: {result['options']['events']:,} events, median of "
                     f"{result['options']['runs']} runs ==")
        for m in cl.METHODS:
            if m in per:
                p = per[m]
                lines.append(f"  {m:<12} {p['median_wall_s']} s wall, {p['median_cpu_s']} CPU-s  (runs: "
                             f"{', '.join(str(x) for x in p['wall_s'])})")
                lines.append("      " + ", ".join(f"{k} {v}" for k, v in p["median_stages_s"].items()))
        if "ratio_wall" in per:
            lines.append(f"  original / studentflow: {per['ratio_wall']}x wall, {per['ratio_cpu']}x CPU "
                         f"(median of per-run ratios {per['median_of_run_ratios']}x; > 1 = studentflow faster)")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000, help="events per run (default 100000; 1000000 works)")
    ap.add_argument("--runs", type=int, default=3, help="runs per scenario and method (default 3; median reported)")
    ap.add_argument("--scenarios", default="after_the_fact,live", help="comma-separated: after_the_fact,live")
    ap.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    ap.add_argument("--malformed-rate", type=float, default=0.05, help="share of malformed messages (default 0.05)")
    ap.add_argument("--no-gate", action="store_true", help="studentflow without its Great Expectations gate")
    ap.add_argument("--sample-interval", type=float, default=0.1, help="seconds between /proc CPU samples")
    ap.add_argument("--out", type=Path, default=RESULTS_DIR, help="where the JSON goes (default bench/results)")
    ap.add_argument("--keep-data", action="store_true", help="keep each run's work folder (logs, outputs)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    scenarios = [s for s in args.scenarios.split(",") if s]
    if args.events <= 0 or args.runs <= 0 or any(s not in cl.SCENARIOS for s in scenarios):
        print(f"error: --events and --runs must be positive, --scenarios among {','.join(cl.SCENARIOS)}", file=sys.stderr)
        return 2
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    work_root = args.out / f"compare-work-{stamp}"
    result: dict[str, Any] = {
        "schema": 1, "started_at": stamp, "loadavg_start": _loadavg(), "cpus": os.cpu_count(),
        "command": "python -m bench.compare " + " ".join(argv if argv is not None else sys.argv[1:]),
        "options": {"events": args.events, "runs": args.runs, "scenarios": scenarios, "seed": args.seed,
                    "malformed_rate": args.malformed_rate, "gate": not args.no_gate}, "runs": []}
    try:
        for i, sc, m in cl.schedule(args.runs, scenarios):
            print(f"run {i} {sc} {m} ({args.events:,} events) ...", flush=True)
            result["runs"].append(one(i, sc, m, args.events, args, work_root))
            r = result["runs"][-1]
            print(f"    {'FAILED: ' + r['error'] if r.get('error') else str(r['wall_s']) + ' s'}", flush=True)
    except KeyboardInterrupt:
        print("interrupted: the stacks and processes of the current run were stopped", file=sys.stderr)
        return 130
    finally:
        if not args.keep_data:
            shutil.rmtree(work_root, ignore_errors=True)
    result["summary"] = cl.summarize(result["runs"])
    result["loadavg_end"] = _loadavg()
    result["finished_at"] = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"compare-{stamp}.json"
    path.write_text(json.dumps(result, indent=2).replace(str(ROOT) + "/", "") + "\n")
    print(render(result))
    print(f"\nJSON: {path}")
    return 0 if all(not r.get("error") for r in result["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
