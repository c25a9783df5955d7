"""Benchmark of the normalize stage: each figure a new `studentflow normalize` process, as a user runs it.

    python -m bench.normalize --lines 1000000 [--increment-lines 100000] [--repeat 3]

Prints, each with the load average when it was measured, medians over --repeat runs:
  cold    `normalize --full-refresh` of N lines with nothing running: the process starts a Spark
          Connect server for itself, normalizes, lands the rows in SQLite and stops the server;
  warm    the same full refresh on a server already running and warmed up, recorded as the
          stack's (as after `studentflow stack up`: the process attaches to its shared session):
          the whole process, imports and the SQLite landing included;
  incr    --increment-lines lines appended after it, normalized by a new process on the warm server;
  small   10,000 lines (make run's size), a new process on the warm server;
and the peak RSS of each Python process (not the server's JVM). Counts are checked against the
generator's expected verdicts on every run.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import arg_parser, load
from bench.staged import expected_counts, generate, write_staging
from studentflow.core import contract

REPO = Path(__file__).resolve().parents[1]
# The child prints its own peak RSS: VmHWM, the high-water mark of its own address space (the
# Python process, not the JVM it starts). Not getrusage's ru_maxrss: Linux carries that across
# fork + exec, so it reported this benchmark's own memory (1M generated lines, ~745 MB) instead.
# It ends as the `studentflow` command does (procs.end_process: no teardown of its modules).
_CHILD = ("import sys\nfrom studentflow.cli import main\nfrom studentflow.core.procs import end_process\n"
          "code = main(sys.argv[1:])\n"
          "hwm = next(ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM'))\n"
          "print('peak_rss_kb', hwm, file=sys.stderr)\n"
          "end_process(int(code))\n")


def normalize_process(staging: Path, root: Path, *extra: str, stack_state: Path | None = None) -> dict:
    """One `studentflow normalize` process (``stack_state``: a state folder whose spark.json records
    a running server, attached to as a stack's client is, on its shared session; else it starts a
    server of its own)."""
    env = {**os.environ, "STUDENTFLOW_STAGING_DIR": str(staging), "STUDENTFLOW_WAREHOUSE": str(root / "w.db"),
           "STUDENTFLOW_STATE_DIR": str(stack_state or root / "state"), "STUDENTFLOW_DATA_DIR": str(root)}
    env.pop("STUDENTFLOW_SPARK_REMOTE", None)
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _CHILD, "normalize", "--json", *extra], cwd=REPO, env=env,
                         capture_output=True, text=True)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(f"normalize failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result.pop("warehouse", None)   # a temporary folder of this machine: not a figure
    rss = int(next(line.split()[1] for line in out.stderr.splitlines() if line.startswith("peak_rss_kb")))
    return {"wall_s": wall, "peak_rss_mb": rss / 1024, "load": load(), **result}


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main(argv: list[str] | None = None) -> int:
    ap = arg_parser("bench.normalize", __doc__)
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines for the full refresh (default 1000000)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each figure, median reported (default 3)")
    ap.add_argument("--increment-lines", type=int, default=100_000, help="lines per increment (default 100000)")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: cold,warm,incr,small")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    figures: dict = {"lines": args.lines}

    from studentflow.core import config
    from spark_jobs import server

    def report(name: str, runs: list[dict], what: str, check=lambda _r: "") -> None:
        figures[name] = runs
        walls = ", ".join(f"{r['wall_s']:.1f}" for r in runs)
        print(f"{name:<6}  {what}: median {_median(runs, 'wall_s'):.1f} s ({walls}); peak RSS of the Python "
              f"process median {_median(runs, 'peak_rss_mb'):.0f} MB; {check(runs[-1])}; load {runs[-1]['load']}",
              flush=True)

    with tempfile.TemporaryDirectory(prefix="sf-bench-normalize-") as tmp:
        tmp = Path(tmp)
        pairs = generate(args.lines, malformed=0.05, duplicates=0.01)
        expect = expected_counts(pairs)
        write_staging(pairs, tmp / "staging")
        print(f"{args.lines:,} lines staged (expected clean {expect['clean']:,}, quarantine "
              f"{expect['quarantine']:,}, duplicates {expect['duplicate']:,})", flush=True)

        def check(r: dict) -> str:
            got = (r["clean"], r["quarantined"], r["duplicates_removed"])
            return "counts as expected" if got == (expect["clean"], expect["quarantine"], expect["duplicate"]) \
                else f"UNEXPECTED counts {got}"

        if "cold" not in skip:
            runs = [normalize_process(tmp / "staging", tmp / f"cold{i}", "--full-refresh") for i in range(args.repeat)]
            report("cold", runs, f"{args.lines:,} lines, nothing running (server start and stop included)", check)
        settings = config.load(state_dir=str(tmp / "server"))
        proc, url = server.start(settings, tie_to_parent=True)
        try:
            t = time.perf_counter()
            server.wait_ready(url, proc, settings)
            server.record(settings, proc, url, warm=False)   # as `stack up` does: the clients share its session
            stack = settings.state_dir
            print(f"server  started in {time.perf_counter() - t:.1f} s on {url}; warming it up with one full refresh",
                  flush=True)
            normalize_process(tmp / "staging", tmp / "warm", "--full-refresh", stack_state=stack)
            if "warm" not in skip:
                runs = [normalize_process(tmp / "staging", tmp / "warm", "--full-refresh", stack_state=stack)
                        for _ in range(args.repeat)]
                report("warm", runs, f"{args.lines:,} lines, full refresh, new process, server warm", check)
            if "incr" not in skip:
                target = tmp / "staging" / contract.STAGING_FILE
                runs = []
                for i in range(args.repeat):
                    part = generate(args.increment_lines, malformed=0.05, duplicates=0.01, seed=100 + i)
                    with open(target, "a", encoding="utf-8") as fh:
                        fh.write("".join(f"{line}\n" for _k, line in part))
                    runs.append(normalize_process(tmp / "staging", tmp / "warm", stack_state=stack))
                    if runs[-1]["lines_read"] != args.increment_lines:
                        raise SystemExit(f"increment read {runs[-1]['lines_read']:,} lines, not {args.increment_lines:,}")
                report("incr", runs, f"{args.increment_lines:,} new lines after the full refresh, new process, server warm")
            if "small" not in skip:
                small = generate(10_000, malformed=0.05, duplicates=0.01, seed=3)
                write_staging(small, tmp / "small")
                runs = [normalize_process(tmp / "small", tmp / f"small{i}", stack_state=stack) for i in range(args.repeat)]
                report("small", runs, "10,000 lines (make run's size), new process, server warm")
        finally:
            server.stop_pid(proc.pid)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
