"""Benchmark of the normalize stage: full refresh cold and warm, increments, the make-run size, RSS.

    python -m bench.normalize --lines 1000000 [--increments 10 --increment-lines 100000] [--repeat 3]

Prints, each with the load average when it was measured:
  cold    `studentflow normalize --full-refresh` as a whole process on N lines (Spark start-up,
          imports and the SQLite commit included), and that process's peak RSS (Python only);
  warm    the same full refresh repeated on one warm SparkSession: median lines/s over --repeat runs
          (start-up excluded, everything else included);
  incr    --increments increments of --increment-lines lines appended to one staging file, each
          normalized on the warm session: seconds per increment, and the last / first ratio
          (an increment's cost must follow the new data, not the history);
  small   a cold `studentflow normalize` of 10,000 lines, Spark start-up included (make run's size).
Counts are checked against the generator's expected verdicts on every run.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.staged import expected_counts, generate, write_staging

REPO = Path(__file__).resolve().parents[1]
# The child prints its own peak RSS: VmHWM, the high-water mark of its own address space (the
# Python process, not the JVM it starts). Not getrusage's ru_maxrss: Linux carries that across
# fork + exec, so it reported this benchmark's own memory (1M generated lines, ~745 MB) instead.
_CHILD = ("import sys\nfrom studentflow.cli import main\ncode = main(sys.argv[1:])\n"
          "hwm = next(ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM'))\n"
          "print('peak_rss_kb', hwm, file=sys.stderr)\n"
          "raise SystemExit(code)\n")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cold(staging: Path, root: Path, *extra: str) -> dict:
    env = {**os.environ, "STUDENTFLOW_STAGING_DIR": str(staging), "STUDENTFLOW_WAREHOUSE": str(root / "w.db"),
           "STUDENTFLOW_STATE_DIR": str(root / "state"), "STUDENTFLOW_DATA_DIR": str(root)}
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _CHILD, "normalize", "--json", *extra], cwd=REPO, env=env,
                         capture_output=True, text=True)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(f"normalize failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    rss = int(next(line.split()[1] for line in out.stderr.splitlines() if line.startswith("peak_rss_kb")))
    return {"wall_s": wall, "peak_rss_mb": rss / 1024, "load": load(), **result}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.normalize", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines for the full refresh (default 1000000)")
    ap.add_argument("--repeat", type=int, default=3, help="warm full refreshes, median reported (default 3)")
    ap.add_argument("--increments", type=int, default=10, help="increments to time (default 10)")
    ap.add_argument("--increment-lines", type=int, default=100_000, help="lines per increment (default 100000)")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: cold,warm,incr,small")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    figures: dict = {"lines": args.lines}

    from spark_jobs.job import run_normalize
    from spark_jobs.session import get_session, release
    from core import config

    with tempfile.TemporaryDirectory(prefix="sf-bench-normalize-") as tmp:
        tmp = Path(tmp)
        pairs = generate(args.lines, malformed=0.05, duplicates=0.01)
        expect = expected_counts(pairs)
        write_staging(pairs, tmp / "staging")
        print(f"{args.lines:,} lines staged (expected clean {expect['clean']:,}, quarantine "
              f"{expect['quarantine']:,}, duplicates {expect['duplicate']:,})", flush=True)

        def check(r) -> str:
            got = (r["clean"], r["quarantined"], r["duplicates_removed"]) if isinstance(r, dict) else \
                (r.clean, r.quarantined, r.duplicates_removed)
            return "counts as expected" if got == (expect["clean"], expect["quarantine"], expect["duplicate"]) \
                else f"UNEXPECTED counts {got}"

        if "cold" not in skip:
            c = cold(tmp / "staging", tmp / "cold", "--full-refresh")
            figures["cold"] = c
            print(f"cold    {args.lines:,} lines, whole process: {c['wall_s']:.1f} s (Spark start-up "
                  f"{c['spark_startup_s']:.1f} s), peak RSS of the Python process {c['peak_rss_mb']:.0f} MB; "
                  f"{check(c)}; load {c['load']}", flush=True)
        if "small" not in skip:
            small = generate(10_000, malformed=0.05, duplicates=0.01, seed=3)
            write_staging(small, tmp / "small")
            c = cold(tmp / "small", tmp / "small-out")
            figures["small"] = c
            print(f"small   10,000 lines, whole process: {c['wall_s']:.1f} s (Spark start-up "
                  f"{c['spark_startup_s']:.1f} s); load {c['load']}", flush=True)
        settings = config.load(data_dir=str(tmp / "warm"), state_dir=str(tmp / "warm" / "state"),
                               staging_dir=str(tmp / "staging"), warehouse=str(tmp / "warm" / "w.db"))
        spark = get_session(settings)
        try:
            if "warm" not in skip:
                rates = []
                run_normalize(settings, spark=spark, progress=lambda _m: None, full_refresh=True)
                for i in range(args.repeat):
                    r = run_normalize(settings, spark=spark, progress=lambda _m: None, full_refresh=True)
                    rates.append(r.lines_read / r.steady_seconds)
                    phases = ", ".join(f"{k} {v:.2f}s" for k, v in r.timings.items())
                    print(f"warm    #{i + 1}: {r.steady_seconds:.2f} s = {rates[-1]:,.0f} lines/s ({phases}); "
                          f"{check(r)}; load {load()}", flush=True)
                figures["warm_lines_per_s_median"] = statistics.median(rates)
                print(f"warm    median {figures['warm_lines_per_s_median']:,.0f} lines/s", flush=True)
            if "incr" not in skip:
                inc = config.load(data_dir=str(tmp / "inc"), state_dir=str(tmp / "inc" / "state"),
                                  staging_dir=str(tmp / "inc" / "staging"), warehouse=str(tmp / "inc" / "w.db"))
                target = inc.staging_dir / "students.raw.txt"
                inc.staging_dir.mkdir(parents=True)
                seconds = []
                for i in range(args.increments):
                    part = generate(args.increment_lines, malformed=0.05, duplicates=0.01, seed=100 + i)
                    with open(target, "a", encoding="utf-8") as fh:
                        fh.write("".join(f"{line}\n" for _k, line in part))
                    t = time.perf_counter()
                    r = run_normalize(inc, spark=spark, progress=lambda _m: None)
                    seconds.append(time.perf_counter() - t)
                    print(f"incr    #{i + 1}: {r.lines_read:,} new lines of {(i + 1) * args.increment_lines:,} "
                          f"staged in {seconds[-1]:.2f} s; load {load()}", flush=True)
                figures["increments_s"] = seconds
                figures["last_over_first"] = seconds[-1] / seconds[0]
                print(f"incr    last / first = {figures['last_over_first']:.2f}", flush=True)
        finally:
            release(spark)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
