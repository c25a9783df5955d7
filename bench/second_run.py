"""Benchmark of a second `run` on a running stack: what a user waits for once the stack is warm.

    python -m bench.second_run [--runs 5] [--count 10000] [--json F]

Each run gets data and state folders of its own (the configured setup_dir is shared: the Connect
jars and the Spark class-data archive, as `make setup` built them), then: `studentflow stack up`
(the broker, the Connect worker, the Spark server, the quality worker), one `studentflow run
--count N` (the server's first queries, the quality worker's first dbt parse), and the measured
`studentflow run --count N --json` once the machine is quiet again (the stack idle: a user's next
run does not start in the second the last one ended, while the server's JIT still compiles what
it just ran); then `studentflow stack down`. Prints each measured run's
total (`total_seconds` of its summary) and stages, then the medians. Runs on the embedded stack
only; it never touches your data/ or .state/, and stops what it started, also on Ctrl-C.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import arg_parser, load
from bench.run import bench_settings

REPO = Path(__file__).resolve().parents[1]


def summarize(runs: list[dict]) -> dict:
    """The median total and the median of each stage over the measured runs."""
    stages = sorted({name for r in runs for name in r["stages"]})
    return {"total_seconds": round(statistics.median(r["total_seconds"] for r in runs), 2),
            "stages": {s: round(statistics.median(r["stages"].get(s, 0.0) for r in runs), 2) for s in stages}}


def _busy_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the machine so far, from /proc/stat, in clock ticks."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]   # idle + iowait
    return sum(fields) - idle, sum(fields)


def settle(quiet: float = 0.15, window: float = 1.0, limit: float = 60.0) -> float:
    """Wait until the machine is busy less than ``quiet`` of its CPUs over ``window`` seconds (at
    most ``limit``); the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        b0, t0 = _busy_jiffies()
        time.sleep(window)
        b1, t1 = _busy_jiffies()
        if t1 > t0 and (b1 - b0) / (t1 - t0) < quiet:
            break
    return round(time.monotonic() - start, 1)


def _cli(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studentflow.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def one(count: int) -> dict:
    """One fresh stack, one run to warm it, the measured run; the stack stopped whatever happens."""
    work = Path(tempfile.mkdtemp(prefix="sf-bench-second-"))
    settings = bench_settings(work)
    env = {**os.environ, "STUDENTFLOW_DATA_DIR": str(settings.data_dir), "STUDENTFLOW_STATE_DIR": str(settings.state_dir),
           "STUDENTFLOW_SETUP_DIR": str(settings.setup_dir), "STUDENTFLOW_WAREHOUSE": str(settings.warehouse),
           "STUDENTFLOW_STAGING_DIR": str(settings.staging_dir)}
    try:
        for step in (("stack", "up"), ("run", "--count", str(count))):
            done = _cli(env, *step)
            if done.returncode != 0:
                raise SystemExit(f"`studentflow {' '.join(step)}` failed ({done.returncode}): {done.stderr.strip()[-800:]}")
        waited = settle()
        before = load()
        done = _cli(env, "run", "--count", str(count), "--json")
        if done.returncode != 0:
            raise SystemExit(f"the measured run failed ({done.returncode}): {done.stderr.strip()[-800:]}")
        summary = json.loads(done.stdout)
        if not summary.get("balance_ok"):
            raise SystemExit(f"the measured run's counts do not balance: {summary.get('counts')}")
        return {"load": before, "settled_s": waited, "total_seconds": summary["total_seconds"], "stages": summary["stages"],
                "counts": summary["counts"], "gate_passed": summary.get("gate_passed")}
    finally:
        _cli(env, "stack", "down", timeout=120)
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = arg_parser("bench.second_run", __doc__)
    ap.add_argument("--runs", type=int, default=5, help="measured runs, each on a fresh stack (default 5)")
    ap.add_argument("--count", type=int, default=10_000, help="events per run (default 10,000)")
    ap.add_argument("--json", type=Path, help="also write the runs and their medians as JSON to this file")
    args = ap.parse_args(argv)
    if args.runs < 1 or args.count < 1:
        ap.error("--runs and --count must be at least 1")
    runs = []
    for i in range(args.runs):
        r = one(args.count)
        runs.append(r)
        stages = ", ".join(f"{k} {v:.2f}" for k, v in sorted(r["stages"].items()))
        print(f"run {i + 1}/{args.runs}: {r['total_seconds']:.2f} s ({stages}; load {r['load']}, "
              f"after {r['settled_s']} s for the machine to settle)", flush=True)
    med = summarize(runs)
    print(f"median of {len(runs)}: {med['total_seconds']:.2f} s; stages: "
          + ", ".join(f"{k} {v:.2f}" for k, v in med["stages"].items()))
    if args.json:
        out = {"command": f"python -m bench.second_run --runs {args.runs} --count {args.count}",
               "runs": runs, "median": med}
        args.json.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
