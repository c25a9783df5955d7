"""The benchmark harness: studentflow per stage, end to end, at several sizes, against the original method.

    python -m bench.run --sizes 10000,100000,1000000        (what `make bench BENCH_ARGS=...` runs)

For each size, in a fresh child process (so each size pays Spark's JVM start-up like a real
`studentflow run`), on its own embedded stack and data folder under bench/results/:

1. `stack up` (timed), then studentflow's own Pipeline (studentflow/pipeline/run.py) with a fixed
   seed: stack (connectors) -> produce -> sink -> normalize -> transform -> validate -> report,
   with the RSS of every process involved sampled per stage (bench/rss.py);
2. the original method (bench/baseline_original.py) as its own process, on the SAME topic
   (its own consumer group), into its own SQLite file;
3. the stack is stopped (also on error or Ctrl-C).

Then the events are regenerated from the seed to count, by the generator's labels, what the
original dropped or accepted wrongly, and the per-major averages of both are compared.
Before the sizes, `studentflow stack up` (the CLI) is timed a few times (median).
Output: a table on the terminal and bench/results/bench-<UTC time>.json. Nothing is asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import analysis, arg_parser, portable_json
from bench.tables import _stage_seconds, render, scaling_of  # noqa: F401  (run.render, run.scaling_of: the API)
from studentflow.core import config
from studentflow.core.errors import ConfigError, StudentflowError
from studentflow.signals import sigterm_as_interrupt

RESULTS_DIR = config.PROJECT_ROOT / "bench" / "results"


# --------------------------------------------------------------------------- settings
def bench_settings(work: Path) -> config.Settings:
    """The user's settings, with every writable path moved into ``work`` (never their data/)."""
    data = work / "data"
    s = config.load(data_dir=str(data), state_dir=str(work / "state"), warehouse=str(data / "warehouse.db"),
                    staging_dir=str(data / "staging"))
    if not s.embedded_kafka or not s.embedded_connect:
        raise ConfigError("the benchmark runs on the embedded stack, but a Kafka or Connect URL is configured",
                          "unset STUDENTFLOW_BOOTSTRAP_SERVERS / STUDENTFLOW_CONNECT_URL for `make bench`")
    return s


# --------------------------------------------------------------------------- one size (child process)
def _pipeline_class():
    from studentflow.pipeline import Pipeline

    class BenchPipeline(Pipeline):
        """studentflow's Pipeline, unchanged, plus: RSS samples attributed to each stage, and the
        normalize stage's NormalizeResult kept (Spark start-up vs steady-state phases)."""

        def __init__(self, settings, options, sampler, progress, profile: bool = False) -> None:
            super().__init__(settings, options, progress)
            self.sampler = sampler
            self.profile = profile
            self.normalize_profile = None

        @contextmanager
        def stage(self, name, title):
            with self.sampler.stage(name):
                with super().stage(name, title) as record:
                    yield record

        def run_step(self, step) -> None:
            if step.name != "normalize" or not self.profile:
                return super().run_step(step)
            from bench.jvmprof import JvmProfiler

            with JvmProfiler(lambda: _spark_jvm(self.sampler)) as prof:
                super().run_step(step)
            self.normalize_profile = prof.result()

    return BenchPipeline


def _spark_jvm(sampler) -> int | None:
    from bench.rss import cmdline

    for pid in sampler.pids("spark_driver"):
        cmd = cmdline(pid)
        if "java" in cmd.split(" ", 1)[0] and "org.apache.spark" in cmd:
            return pid
    return None


def run_one(n: int, work: Path, *, seed: int, malformed_rate: float, baseline: bool, verbose: bool,
            profile: bool = False, warm: bool = False) -> dict[str, Any]:
    """Benchmark one size in this process; returns the size's result dict."""
    from bench.rss import RssSampler
    from studentflow import stack
    from studentflow.pipeline import RunOptions

    settings = bench_settings(work)
    say = print if verbose else (lambda _m: None)
    out: dict[str, Any] = {"events": n, "seed": seed, "malformed_rate": malformed_rate, "loadavg_start": _loadavg()}
    sampler = RssSampler(interval=0.2)
    with sampler:
        try:
            with sampler.stage("stack_up"):
                t = time.perf_counter()
                state, _ = stack.up(settings, tie_to_parent=True, progress=lambda m: say("    " + m))
                out["stack_up_s"] = round(time.perf_counter() - t, 3)
            if warm:   # the same work once before, on other events, in the same stack and server: not measured
                t = time.perf_counter()
                from studentflow.pipeline import Pipeline
                Pipeline(settings, RunOptions(count=n, malformed_rate=malformed_rate, seed=seed + 1000,
                                              keep_stack=True, gate=True), say).run()
                out["warm_up_run_s"] = round(time.perf_counter() - t, 3)
            opts = RunOptions(count=n, malformed_rate=malformed_rate, seed=seed, keep_stack=True, gate=True)
            pipe = _pipeline_class()(settings, opts, sampler, say, profile=profile)
            summary = pipe.run()
            out["stages"] = [{"name": st.name, "seconds": round(st.seconds, 3), "count": st.count, "detail": st.detail}
                             for st in summary.stages]
            out["counts"] = {k: v for k, v in summary.counts.items() if isinstance(v, int)}
            out["gate_passed"] = summary.gate_passed
            out["pipeline_total_s"] = round(summary.total_seconds, 3)
            res = pipe.last_increment
            if pipe.normalize_profile:
                out["normalize_profile"] = pipe.normalize_profile
            if res is not None:
                out["normalize"] = {
                    "spark_startup_s": None if res.spark_startup is None else round(res.spark_startup, 3),
                    "steady_s": round(res.steady_seconds, 3),
                    "steady_lines_per_s": round(res.lines_read / res.steady_seconds) if res.steady_seconds else None,
                    "phases": {k: round(v, 3) for k, v in res.timings.items()},
                    "by_rule": res.by_rule, "by_reason": res.by_reason}
            if baseline:
                with sampler.stage("original"):
                    out["original"] = _run_baseline(settings, state.bootstrap, summary.counts.get("produced", n), work)
        finally:
            stopped = stack.down(settings)
            say(f"    stopped {', '.join(stopped) or 'nothing'}")
    peaks, cpu = sampler.peaks_mb(), sampler.cpu_seconds()
    for st in out.get("stages", []):
        st["peak_rss_mb"] = peaks.get(st["name"], {})
        st["cpu_s"] = cpu.get(st["name"], {})
    out["stack_up_peak_rss_mb"] = peaks.get("stack_up", {})
    out["stack_up_cpu_s"] = cpu.get("stack_up", {})
    if "original" in out:
        out["original"]["peak_rss_mb"] = peaks.get("original", {})
        out["original"]["cpu_s"] = cpu.get("original", {})
    out["rss_hwm_mb"] = sampler.hwm_mb()
    out["loadavg_end"] = _loadavg()
    _derive(out, settings, work)
    return out


def _loadavg() -> list[float] | None:
    """1, 5 and 15-minute load averages: on a shared machine, how busy the cores were."""
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


def _run_baseline(settings: config.Settings, bootstrap: str, expect: int, work: Path) -> dict[str, Any]:
    """The as-shipped original on the same topic, timed as bench/compare.py times it
    (compare_lib.Window: from its launch to its result file, written after its last output)."""
    from bench import compare_lib

    js = work / "original.json"
    cmd = [sys.executable, "-m", "bench.baseline_original", "--bootstrap", bootstrap, "--topic", settings.topic,
           "--expect", str(expect), "--out-dir", str(work / "original"), "--json-out", str(js),
           "--master", settings.spark_master]
    env = {**os.environ, "STUDENTFLOW_STATE_DIR": str(settings.state_dir)}   # the same Spark settings as the run's
    win = compare_lib.Window().start()
    with open(work / "original.err", "w") as err:
        proc = subprocess.Popen(cmd, cwd=config.PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=err, env=env)
        compare_lib.wait_until(lambda: js.is_file() or proc.poll() is not None, interval=0.05)
        win.stop()
        proc.wait()
    if proc.returncode != 0 or not js.is_file():
        tail = " | ".join((work / "original.err").read_text(errors="replace").strip().splitlines()[-3:])
        raise StudentflowError(f"the original-method baseline failed (exit {proc.returncode}): {tail}",
                               f"run it alone: {' '.join(cmd)}")
    out = json.loads(js.read_text())
    out["phases_total_s"] = round(out["seconds"], 3)
    out["seconds"] = out["process_wall_s"] = win.seconds
    out["dropped_silently"] = out["dropped"]
    out["timings"] = {k: round(v, 3) for k, v in out["timings"].items()}
    return out


def _derive(out: dict[str, Any], settings: config.Settings, work: Path) -> None:
    """Figures computed from the raw measurements: e2e, common part, what the original got wrong."""
    from bench.baseline_original import parse_message, read_averages
    from producer import generate, malformed

    secs = _stage_seconds(out)
    n = out["events"]
    for st in out.get("stages", []):
        st["events_per_s"] = round(n / st["seconds"]) if st["seconds"] > 0 else None
    if all(s in secs for s in analysis.E2E_STAGES):
        out["end_to_end_s"] = round(sum(secs[s] for s in analysis.E2E_STAGES), 3)
    c = out.get("counts", {})
    if "lines_read" in c:
        lost_in_sink = max(0, c.get("produced", 0) - c.get("staged_this_run", 0))
        unaccounted = c["lines_read"] - c.get("clean", 0) - c.get("quarantined", 0) - c.get("duplicates_removed", 0)
        out["studentflow_dropped"] = lost_in_sink + abs(unaccounted)
    orig = out.get("original")
    if orig is None:
        return
    if all(s in secs for s in analysis.COMMON_STAGES):
        sf = sum(secs[s] for s in analysis.COMMON_STAGES)
        out["common_part"] = {"studentflow_s": round(sf, 3), "studentflow_stages": list(analysis.COMMON_STAGES),
                              "original_s": orig["seconds"], "ratio": round(orig["seconds"] / sf, 2) if sf else None}
        cpus = {st["name"]: sum(st.get("cpu_s", {}).values()) for st in out["stages"]}
        sf_cpu = sum(cpus.get(s, 0.0) for s in analysis.COMMON_STAGES)
        o_cpu = sum(orig.get("cpu_s", {}).values())
        if sf_cpu and o_cpu:
            # CPU seconds of every process involved: less sensitive than wall time to a busy machine
            out["common_part"].update(studentflow_cpu_s=round(sf_cpu, 2), original_cpu_s=round(o_cpu, 2),
                                      cpu_ratio=round(o_cpu / sf_cpu, 2))
    # Same seed, same settings: the generator gives the messages that were produced, with their labels.
    gen = generate.for_settings(settings, seed=out["seed"], malformed_rate=out["malformed_rate"])
    quiet_parse = lambda text: parse_message(text, log=lambda _m: None)   # noqa: E731 - no per-error print here
    errors = analysis.original_outcomes(gen.messages(n), quiet_parse, malformed.EXPECTED)
    errors["consistent_with_run"] = errors["totals"]["original_dropped"] == orig["dropped_silently"]
    expected = analysis.expected_studentflow_counts(errors["by_kind"], malformed.EXPECTED)
    nres = out.get("normalize", {})
    errors["contract_differences"] = analysis.count_differences(
        expected, {"by_rule": nres.get("by_rule", {}), "by_reason": nres.get("by_reason", {})})
    errors["studentflow_matches_contract"] = not errors["contract_differences"]
    out["original_errors"] = errors
    sf_avgs = _mart_averages(settings.warehouse)
    out["averages"] = analysis.compare_averages(sf_avgs, read_averages(Path(orig["sqlite"])))


def _mart_averages(db: Path) -> dict[str, float]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {m: float(a) for m, a in conn.execute("select major, avg_age from major_avg_age_over_20")}
    finally:
        conn.close()


# --------------------------------------------------------------------------- stack up (CLI) timing
def time_stack_up(runs: int, work: Path) -> dict[str, Any]:
    """`studentflow stack up` to ready, ``runs`` times (each followed by `stack down`): the median."""
    exe = Path(sys.executable).with_name("studentflow")
    cli = [str(exe)] if exe.is_file() else [sys.executable, "-m", "studentflow.cli"]
    env = {**os.environ, "STUDENTFLOW_STATE_DIR": str(work / "state"), "STUDENTFLOW_DATA_DIR": str(work / "data"),
           "STUDENTFLOW_STAGING_DIR": str(work / "data" / "staging"),
           "STUDENTFLOW_WAREHOUSE": str(work / "data" / "warehouse.db")}
    times = []
    for _ in range(runs):
        try:
            t = time.perf_counter()
            proc = subprocess.run(cli + ["stack", "up"], env=env, capture_output=True, text=True)
            elapsed = time.perf_counter() - t
            if proc.returncode != 0:
                raise StudentflowError(f"`studentflow stack up` failed: {proc.stderr.strip()[-300:]}",
                                       "run `studentflow stack up` alone to see why")
            times.append(round(elapsed, 3))
        finally:
            subprocess.run(cli + ["stack", "down"], env=env, capture_output=True, text=True)
    return {"runs_s": times, "median_s": round(statistics.median(times), 3) if times else None,
            "command": "studentflow stack up"}


# --------------------------------------------------------------------------- machine, output
def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                            "platform": platform.platform(), "loadavg_at_start": _loadavg()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["mem_total_mb"] = int(line.split()[1]) // 1024
                break
    except OSError:
        pass
    return info


# --------------------------------------------------------------------------- CLI
def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(x.replace("_", "")) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--sizes must be comma-separated integers, got {text!r}", "e.g. --sizes 10000,100000") from None
    if not sizes or any(s <= 0 for s in sizes):
        raise ConfigError("--sizes needs at least one positive event count", "e.g. --sizes 10000,100000")
    return sorted(dict.fromkeys(sizes))


def build_parser() -> argparse.ArgumentParser:
    ap = arg_parser("bench.run", __doc__)
    ap.add_argument("--sizes", default="10000,100000",
                    help="comma-separated event counts, one full run each (default 10000,100000; the issue's "
                         "scaling line is 10000,100000,1000000)")
    ap.add_argument("--seed", type=int, default=7, help="generator seed: both methods see the same events (default 7)")
    ap.add_argument("--malformed-rate", type=float, default=0.05,
                    help="share of malformed messages, spread over every malformed kind (default 0.05)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the original method")
    ap.add_argument("--stack-runs", type=int, default=3,
                    help="times `studentflow stack up` is timed for its median (default 3; 0 skips it)")
    ap.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for the JSON result (default bench/results)")
    ap.add_argument("--keep-data", action="store_true",
                    help="keep each size's staging files, warehouses and logs under <out>/work-<time>/")
    ap.add_argument("--verbose", action="store_true", help="show every stage's progress lines")
    ap.add_argument("--profile", action="store_true",
                    help="profile the Spark driver JVM during normalize (CPU per thread group from /proc, "
                         "jstack samples every second by category and top frame)")
    ap.add_argument("--warm", action="store_true",
                    help="run the pipeline once on other events (another seed) in the same stack before the "
                         "measured run: the figures of a stack that is up and warm")
    ap.add_argument("--one-size", type=int, help=argparse.SUPPRESS)      # internal: child process mode
    ap.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--result-file", type=Path, help=argparse.SUPPRESS)
    return ap


def _child(args: argparse.Namespace) -> int:
    with sigterm_as_interrupt():   # `kill` of the child unwinds too: its stack and Spark are stopped
        res = run_one(args.one_size, args.work, seed=args.seed, malformed_rate=args.malformed_rate,
                      baseline=not args.no_baseline, verbose=args.verbose, profile=args.profile, warm=args.warm)
    args.result_file.write_text(json.dumps(res, indent=2, default=str) + "\n")
    return 0


def _run_child(n: int, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    result_file = work / "result.json"
    cmd = [sys.executable, "-m", "bench.run", "--one-size", str(n), "--work", str(work),
           "--result-file", str(result_file), "--seed", str(args.seed), "--malformed-rate", str(args.malformed_rate)]
    cmd += ["--no-baseline"] if args.no_baseline else []
    cmd += ["--verbose"] if args.verbose else []
    cmd += ["--profile"] if args.profile else []
    cmd += ["--warm"] if args.warm else []
    # Same process group: a Ctrl-C reaches the child too, which stops its stack and Spark itself.
    proc = subprocess.Popen(cmd, cwd=config.PROJECT_ROOT)
    try:
        rc = proc.wait()
    except BaseException:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            proc.kill()
            proc.wait()
        raise
    if rc != 0 or not result_file.is_file():
        raise StudentflowError(f"benchmark of {n:,} events failed (exit {rc})",
                               "see the lines above; rerun with --verbose")
    return json.loads(result_file.read_text())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.one_size:
            return _child(args)
        sizes = parse_sizes(args.sizes)
        if not 0.0 <= args.malformed_rate <= 1.0:
            raise ConfigError("--malformed-rate must be between 0 and 1", "e.g. --malformed-rate 0.05")
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        out_dir = args.out if args.out.is_absolute() else Path.cwd() / args.out
        work_root = out_dir / f"work-{stamp}"
        bench_settings(work_root / "check")      # fail early on a hosted-Kafka configuration
        result: dict[str, Any] = {
            "schema": 1, "started_at": stamp, "machine": machine(),
            "command": "python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:]),
            "options": {"sizes": sizes, "seed": args.seed, "malformed_rate": args.malformed_rate,
                        "baseline": not args.no_baseline, "stack_runs": args.stack_runs},
            "sizes": []}
        with sigterm_as_interrupt():
            try:
                if args.stack_runs > 0:
                    print(f"timing `studentflow stack up` ({args.stack_runs} runs) ...", flush=True)
                    result["stack_up"] = time_stack_up(args.stack_runs, work_root / "stack-up")
                for n in sizes:
                    print(f"benchmarking {n:,} events ...", flush=True)
                    result["sizes"].append(_run_child(n, work_root / f"size-{n}", args))
            finally:
                if not args.keep_data:
                    shutil.rmtree(work_root, ignore_errors=True)
        result["scaling"] = scaling_of(result["sizes"])
        result["targets"] = analysis.targets(result)
        result["finished_at"] = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"bench-{stamp}.json"
        text = portable_json(result, out_dir=out_dir, work_root=work_root)
        path.write_text(text + "\n")
        print(render(result))
        print(f"\nJSON: {path}")
        return 0
    except StudentflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: everything the benchmark started was stopped", file=sys.stderr)
        return 130



if __name__ == "__main__":
    sys.exit(main())
