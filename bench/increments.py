"""Benchmark of small increments on one warm session: what `run --follow` and a second `run` pay per increment.

    python -m bench.increments [--lines 10000] [--increments 8] [--profile] [--json F]

Starts a Spark Connect server of its own (the JVM's default JIT, as `stack up` runs it), attaches one
session, then appends --lines staged lines and normalizes them, --increments times. Prints, per
increment, its wall time in this process and the CPU seconds the server spent on it (from /proc),
then the medians of all but the first (the cold one). Counts are checked against the generator's
expected verdicts at the end. ``--profile``: where the server's CPU went over the warm increments,
by thread group (JIT compiler, GC, Spark's task threads, ...) and by sampled stack
(bench/jvmprof.py).
"""
from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench import arg_parser, load
from bench.rss import CLK_TCK, read_cpu_ticks
from bench.staged import expected_counts, generate, write_staging


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far."""
    return (read_cpu_ticks(pid) or 0) / CLK_TCK


def measure(lines: int, increments: int, profile: bool = False) -> dict:
    from spark_jobs import server
    from spark_jobs.job import run_normalize
    from spark_jobs.session import connect
    from studentflow.core import config

    root = Path(tempfile.mkdtemp(prefix="sf-bench-incr-"))
    settings = config.load(env={}, state_dir=str(root / "state"), data_dir=str(root / "data"),
                           staging_dir=str(root / "staging"), warehouse=str(root / "w.db"))
    settings.staging_dir.mkdir(parents=True)
    pairs = generate(lines * increments, seed=4)
    proc, url = server.start(settings, tie_to_parent=True)   # maps setup_dir's class-data archive, if built
    rows, profiler = [], None
    try:
        server.wait_ready(url, proc, settings)
        spark = connect(url, server_pid=proc.pid)
        for i in range(increments):
            if profile and i == 1:   # the warm increments only
                from bench.jvmprof import JvmProfiler

                profiler = JvmProfiler(lambda: proc.pid, interval=0.5, since_start=False).__enter__()
            write_staging(pairs[: (i + 1) * lines], settings.staging_dir)   # the same file, grown
            before, t = cpu_seconds(proc.pid), time.perf_counter()
            result = run_normalize(settings, spark=spark, progress=lambda _m: None)
            rows.append({"increment": i + 1, "lines_read": result.lines_read,
                         "wall_s": round(time.perf_counter() - t, 3),
                         "server_cpu_s": round(cpu_seconds(proc.pid) - before, 2),
                         "phases_s": {k: round(v, 3) for k, v in result.timings.items()}})
            print(json.dumps(rows[-1]), flush=True)
        spark.stop()
    finally:
        if profiler is not None:
            profiler.__exit__(None, None, None)
        server.stop_pid(proc.pid)
        shutil.rmtree(root, ignore_errors=True)
    want = expected_counts(pairs)
    if sum(r["lines_read"] for r in rows) != sum(want.values()):
        raise SystemExit(f"lines read {sum(r['lines_read'] for r in rows)} != staged {sum(want.values())}")
    warm = rows[1:] or rows
    return {"lines": lines, "increments": rows, "load": load(),
            "median_wall_s": statistics.median(r["wall_s"] for r in warm),
            "median_server_cpu_s": statistics.median(r["server_cpu_s"] for r in warm),
            "median_phases_s": {k: statistics.median(r["phases_s"].get(k, 0.0) for r in warm) for k in warm[-1]["phases_s"]},
            **({"server_profile": profiler.result()} if profiler is not None else {})}


def main(argv: list[str] | None = None) -> int:
    ap = arg_parser("bench.increments", __doc__)
    ap.add_argument("--lines", type=int, default=10_000, help="staged lines per increment (default 10,000)")
    ap.add_argument("--increments", type=int, default=8, help="how many increments (default 8; the first is cold)")
    ap.add_argument("--profile", action="store_true",
                    help="where the server's CPU went over the warm increments (thread groups, sampled stacks)")
    ap.add_argument("--json", type=Path, help="also write the result as JSON to this file")
    args = ap.parse_args(argv)
    if args.lines < 1 or args.increments < 1:
        ap.error("--lines and --increments must be at least 1")
    out = measure(args.lines, args.increments, args.profile)
    print(f"increments 2-{args.increments}: median {out['median_wall_s']:.2f} s, "
          f"server {out['median_server_cpu_s']:.2f} CPU-s (load {out['load']}); phases: "
          + ", ".join(f"{k} {v:.2f} s" for k, v in out["median_phases_s"].items()))
    if "server_profile" in out:
        shares = out["server_profile"].get("cpu_share_by_thread_group", {})
        print("the server's CPU over them, by thread group: "
              + ", ".join(f"{group} {share:.0%}" for group, share in shares.items()))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
