"""studentflow against the original method, corrected (the headline) and as shipped, run in pairs.

    python -m bench.compare --events 1000000 --runs 6

Three methods, each run in its own work folder with its own broker (the embedded Tansu, started
by the harness: studentflow sees it as a configured Kafka, so everything else it needs it starts
itself), the same events (seed, malformed share):

- **studentflow**, only through its CLI (`studentflow ...` subprocesses, STUDENTFLOW_* pointing
  at the work folder);
- **corrected**: bench/baseline_original.py ``--method corrected`` (the notebook's method with
  canonical majors, the age range and duplicates removed: the same outputs as studentflow);
- **as_shipped**: bench/baseline_original.py as the notebook did it.

Scenarios (bench/README.md has the details):

- ``cold``: nothing running but the broker, N events on the topic; timed: studentflow
  `stack up` (Connect worker + Spark server), `connect apply`, `run --no-produce`; an original:
  its process from launch.
- ``warm``: each method has already run once on other events in the same engines: studentflow
  on its stack (the sink deleted and its outputs cleared after that run, then re-applied inside
  the window); an original in its process and SparkSession (the second run is measured, from the
  go signal).
- ``cold_live`` / ``warm_live``: the same, with the window from the first produced event
  (studentflow: `run --count N`; an original: `studentflow produce` starts once it has subscribed
  and started Spark).

Timing: bench/compare_lib.py ``Window`` (also used by bench/run.py). CPU: /proc of each method's
processes and its broker (studentflow: also its worker and Spark server). JSON goes to
bench/results/compare-<UTC time>.json. Nothing is asserted.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import arg_parser, compare_lib as cl, portable_json
from bench.compare_run import RESULTS_DIR, Work, loadavg, original_run, studentflow_run


def one(i: int, scenario: str, method: str, n: int, args, work_root: Path) -> dict[str, Any]:
    w = Work(work_root / f"run{i}-{scenario}-{method}", args.sample_interval)
    rec: dict[str, Any] = {"run": i, "scenario": scenario, "method": method, "events": n, "loadavg_start": loadavg(),
                           "spark_quick_jit": cl.quick_jit(scenario, n)}   # the same for every method of the scenario
    try:
        if method == cl.STUDENTFLOW:
            rec.update(studentflow_run(w, scenario, n, args))
        else:
            rec.update(original_run(w, scenario, n, args, method))
    except Exception as exc:  # noqa: BLE001 - a failed run is recorded and counted, the others go on
        rec["error"] = str(exc) or type(exc).__name__
    if rec.get("error") or rec.get("wall_s") is None:
        rec["error"] = rec.get("error") or "no wall time (the live window found no first event)"
        rec["wall_s"] = None
    rec.setdefault("cpu_by_role_s", w.acct.seconds_by_role())    # at the window's end when it was measured
    rec["cpu_samples"] = w.acct.samples
    rec["loadavg_end"] = loadavg()
    if not args.keep_data:
        shutil.rmtree(w.root, ignore_errors=True)
    return rec


def _fmt(sp: dict | None, unit: str = "") -> str:
    if sp is None:
        return "-"
    med, lo, hi = (int(x) if float(x).is_integer() and not unit.strip() else x for x in (sp["median"], sp["min"], sp["max"]))
    return f"{med}{unit} ({lo}-{hi}, n={sp['n']})"


def render(result: dict[str, Any]) -> str:
    lines = []
    for r in result["runs"]:
        what = "FAILED: " + r["error"] if r.get("error") else \
            f"{r['wall_s']:.2f} s, CPU {r.get('cpu_s')} s, kept {r.get('kept_rows')}"
        lines.append(f"run {r['run']} {r['scenario']:<10} {r['method']:<12} {what}")
        if r.get("stages"):
            lines.append("    stages: " + ", ".join(f"{k} {v:.2f}" for k, v in r["stages"].items()))
    opts = result["options"]
    for sc, per in result["summary"].items():
        lines += ["", f"== {sc}: {opts['events']:,} events, {opts['runs']} paired runs =="]
        for m, p in per["methods"].items():
            fails = f", {len(p['failed'])} FAILED (runs {', '.join(str(f['run']) for f in p['failed'])})" \
                if p["failed"] else ""
            lines.append(f"  {m:<12} wall {_fmt(p['wall_s'], ' s')}, CPU {_fmt(p['cpu_s'], ' s')}, "
                         f"kept rows {_fmt(p['kept_rows'])}; {p['ok']} of {p['runs']} measured{fails}")
        for m, rt in per["ratios"].items():
            head = "headline" if m == cl.HEADLINE else "beside it"
            lines.append(f"  {m} / studentflow ({head}): wall {_fmt(rt['wall'], 'x')}, CPU {_fmt(rt['cpu'], 'x')}"
                         f"; {rt['pairs']} pairs, {rt['pairs_left_out']} left out (a failed side)")
    lines.append("\n(ratios: median of the per-run ratios, min-max; > 1 = studentflow faster)")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    ap = arg_parser("bench.compare", __doc__)
    ap.add_argument("--events", type=int, default=100_000, help="events per run (default 100000; 1000000 works)")
    ap.add_argument("--runs", type=int, default=6, help="paired runs per scenario (even, default 6)")
    ap.add_argument("--scenarios", default=",".join(cl.DEFAULT_SCENARIOS),
                    help=f"comma-separated among {','.join(cl.SCENARIOS)} (default cold,warm)")
    ap.add_argument("--methods", default=",".join(cl.METHODS), help="comma-separated (default: all three)")
    ap.add_argument("--seed", type=int, default=7, help="generator seed (default 7; the warm-up runs use seed+1)")
    ap.add_argument("--malformed-rate", type=float, default=0.05, help="share of malformed messages (default 0.05)")
    ap.add_argument("--idle", type=float, default=3.0, help="the originals' loop ends after this many idle seconds")
    ap.add_argument("--no-gate", action="store_true", help="studentflow without its Great Expectations gate")
    ap.add_argument("--sample-interval", type=float, default=0.1, help="seconds between /proc CPU samples")
    ap.add_argument("--out", type=Path, default=RESULTS_DIR, help="where the JSON goes (default bench/results)")
    ap.add_argument("--keep-data", action="store_true", help="keep each run's work folder (logs, outputs)")
    return ap


def _options_error(args, scenarios: list[str], methods: list[str]) -> str | None:
    if args.events <= 0:
        return "--events must be positive"
    if any(s not in cl.SCENARIOS for s in scenarios) or not scenarios:
        return f"--scenarios among {','.join(cl.SCENARIOS)}"
    if any(m not in cl.METHODS for m in methods) or cl.STUDENTFLOW not in methods or len(methods) < 2:
        return f"--methods among {','.join(cl.METHODS)}, studentflow and at least one original"
    return cl.check_runs(args.runs)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    scenarios = [s for s in args.scenarios.split(",") if s]
    methods = [m for m in args.methods.split(",") if m]
    err = _options_error(args, scenarios, methods)
    if err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    work_root = args.out / f"compare-work-{stamp}"
    result: dict[str, Any] = {
        "schema": 2, "started_at": stamp, "loadavg_start": loadavg(), "cpus": os.cpu_count(),
        "command": "python -m bench.compare " + " ".join(argv if argv is not None else sys.argv[1:]),
        "options": {"events": args.events, "runs": args.runs, "scenarios": scenarios, "methods": methods,
                    "seed": args.seed, "malformed_rate": args.malformed_rate, "idle_s": args.idle,
                    "gate": not args.no_gate}, "runs": []}
    try:
        for i, sc, m in cl.schedule(args.runs, scenarios, methods):
            print(f"run {i} {sc} {m} ({args.events:,} events) ...", flush=True)
            result["runs"].append(one(i, sc, m, args.events, args, work_root))
            r = result["runs"][-1]
            print(f"    {'FAILED: ' + r['error'] if r.get('error') else str(r['wall_s']) + ' s'}", flush=True)
    except KeyboardInterrupt:
        print("interrupted: the brokers, stacks and processes of the current run were stopped", file=sys.stderr)
        return 130
    finally:
        if not args.keep_data:
            shutil.rmtree(work_root, ignore_errors=True)
    result["summary"] = cl.summarize(result["runs"])
    result["loadavg_end"] = loadavg()
    result["finished_at"] = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"compare-{stamp}.json"
    path.write_text(portable_json(result, out_dir=args.out, work_root=work_root) + "\n")
    print(render(result))
    print(f"\nJSON: {path}")
    return 0 if all(not r.get("error") for r in result["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
