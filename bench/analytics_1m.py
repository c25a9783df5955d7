"""Benchmark of the analytics stage alone: `studentflow transform` + `studentflow validate` on N
clean rows (default 1,000,000). Target: under 20 s wall for both commands together.

    .venv/bin/python -m bench.analytics_1m [--rows 1000000] [--runs 2] [--keep DIR]

A synthetic warehouse (the Spark stage's DDL, random valid rows inserted with executemany; see
tests/support/warehouse.py) is built once in a temporary folder; then each run
calls the real CLI as a subprocess (fresh interpreter: dbt and GX import costs included) with
STUDENTFLOW_WAREHOUSE / STUDENTFLOW_DATA_DIR pointing there. Reported per command: wall time and
CPU time (user + sys of the child). On a shared machine the wall time includes waiting for a
core; the CPU time is what the command costs. Output: a table and bench/results/analytics-<UTC>.json.
Nothing is asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from tests.support import warehouse as aw

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 20.0


def timed(argv: list[str], env: dict[str, str]) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"command": " ".join(argv[1:]), "exit_code": proc.returncode, "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2), "last_line": (proc.stdout.strip().splitlines() or [""])[-1][:200],
            "stderr": proc.stderr[-2000:] if proc.returncode else ""}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="clean rows in the synthetic warehouse")
    parser.add_argument("--runs", type=int, default=2, help="repetitions of transform + validate (first one pays dbt's full parse)")
    parser.add_argument("--keep", type=Path, help="build the warehouse in this folder and keep it (default: a temporary folder)")
    args = parser.parse_args(argv)

    base = args.keep or Path(tempfile.mkdtemp(prefix="sf-analytics-"))
    data = base / "data"
    warehouse = data / "warehouse.db"
    try:
        if warehouse.exists():
            warehouse.unlink()
        start = time.monotonic()
        aw.build(warehouse, n=args.rows, quarantined=1000, duplicates=500)
        build_s = time.monotonic() - start
        print(f"warehouse: {args.rows:,} clean rows built in {build_s:.1f} s ({warehouse.stat().st_size / 1e6:.0f} MB)")

        exe = str(Path(sys.executable).with_name("studentflow"))
        env = dict(os.environ, STUDENTFLOW_WAREHOUSE=str(warehouse), STUDENTFLOW_DATA_DIR=str(data))
        runs = []
        for i in range(args.runs):
            transform = timed([exe, "transform"], env)
            validate = timed([exe, "validate"], env)
            total_wall = transform["wall_s"] + validate["wall_s"]
            total_cpu = transform["cpu_s"] + validate["cpu_s"]
            runs.append({"run": i + 1, "transform": transform, "validate": validate,
                         "total_wall_s": round(total_wall, 2), "total_cpu_s": round(total_cpu, 2)})
            print(f"run {i + 1}: transform {transform['wall_s']:.1f} s wall / {transform['cpu_s']:.1f} s cpu (exit {transform['exit_code']}), "
                  f"validate {validate['wall_s']:.1f} s wall / {validate['cpu_s']:.1f} s cpu (exit {validate['exit_code']}); "
                  f"total {total_wall:.1f} s wall / {total_cpu:.1f} s cpu "
                  f"[target < {TARGET_SECONDS:.0f} s wall: {'met' if total_wall < TARGET_SECONDS else 'MISSED'}]")
            for step in (transform, validate):
                if step["exit_code"]:
                    print(f"  {step['command']} failed: {step['stderr'].strip().splitlines()[-1:]}")
        load = os.getloadavg()
        result = {"benchmark": "analytics_1m", "rows": args.rows, "warehouse_build_s": round(build_s, 2),
                  "runs": runs, "best_total_wall_s": min(r["total_wall_s"] for r in runs),
                  "target_wall_s": TARGET_SECONDS, "loadavg_after": [round(x, 2) for x in load],
                  "cpus": os.cpu_count(), "python": platform.python_version(),
                  "at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        out_dir = REPO / "bench" / "results"
        out_dir.mkdir(parents=True, exist_ok=True)
        out = out_dir / f"analytics-{result['at'].replace(':', '')}.json"
        out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"best total: {result['best_total_wall_s']:.1f} s wall (load average now {load[0]:.2f} on {os.cpu_count()} cores); {out}")
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
