"""Benchmark of the continuous mode: freshness, memory over time, the balance at the end.

    python -m bench.follow --rate 5000 --duration 600

Runs ``studentflow run --follow --generate-rate R --duration D --json`` in private data/state/staging
folders (its own embedded stack, started and stopped by the run) and samples, every
``--sample`` seconds, the resident memory of each of its processes by role: the follow process
(Python), its gate/report child process (the checker), its Spark driver JVM, the Connect worker
and the broker. It prints:

- freshness over every event (p50/p95/max from the run's summary) and per increment after the
  first minute (median and worst of the increments' p95);
- the RSS of each role at the end of the first minute and at the end, and the growth between;
  the broker holds the whole topic in memory, so its growth is given per million events sent;
- the balance: clean + quarantined + duplicates = lines normalized, and lines normalized + lines
  still waiting = lines staged (counted from the staging files by this benchmark);
- a profile per minute: events sent, increments (median lines, and the median seconds of each
  phase from ``follow_increments``), worst freshness p95, CPU seconds used by each role, and the
  RSS of each role (for Python, its anonymous part too: heap rather than mapped files).
"""
from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from pathlib import Path

from bench import arg_parser, load
from bench.rss import CLK_TCK, descendants, parent_map, read_cpu_ticks, read_status_kb

REPO = Path(__file__).resolve().parents[1]
ROLES = ("python", "checker", "spark_jvm", "connect", "broker")   # checker: the gate/report child process


def _stack_pids(env: dict) -> dict[int, str]:
    out = subprocess.run([sys.executable, "-m", "studentflow.cli", "stack", "status", "--json"], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    try:
        st = json.loads(out.stdout)
    except ValueError:
        return {}
    return {pid: role for pid, role in ((st.get("broker_pid"), "broker"), (st.get("connect_pid"), "connect")) if pid}


class Sampler(threading.Thread):
    """RSS (MB) of the follow process, its JVM children and the stack, every ``interval`` seconds."""

    def __init__(self, proc: subprocess.Popen, env: dict, interval: float) -> None:
        super().__init__(daemon=True)
        self.proc, self.env, self.interval = proc, env, interval
        self.samples: list[tuple[float, dict[str, float]]] = []   # (seconds since start, role -> MB)
        self.cpu: list[tuple[float, dict[str, float]]] = []       # (seconds, role -> CPU seconds so far)
        self.cpu_seen: dict[int, tuple[str, float]] = {}          # pid -> (role, its last CPU seconds)
        self.stack: dict[int, str] = {}
        self.stop = threading.Event()
        self.t0 = time.monotonic()

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            if not self.stack:
                self.stack = _stack_pids(self.env)
            mb = {r: 0.0 for r in ROLES}
            pids = {self.proc.pid: "python", **self.stack}
            for pid in descendants(self.proc.pid, parent_map()):
                if pid in pids:
                    continue
                if pid in self.cpu_seen:   # classified once: an exiting JVM's cmdline reads empty
                    pids[pid] = self.cpu_seen[pid][0]
                    continue
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                pids[pid] = ("spark_jvm" if b"org.apache.spark" in cmd
                             else "checker" if b"multiprocessing.spawn" in cmd else "other")
            for pid, role in pids.items():
                if role in mb:
                    st = read_status_kb(pid)
                    mb[role] += st.get("VmRSS", 0) / 1024
                    if role in ("python", "checker"):
                        mb[f"{role}_anon"] = st.get("RssAnon", 0) / 1024
                ticks = read_cpu_ticks(pid)
                if ticks is not None:   # a process that is gone keeps its last figure
                    self.cpu_seen[pid] = (role, ticks / CLK_TCK)
            now = time.monotonic() - self.t0
            self.samples.append((now, mb))
            cpu = {r: 0.0 for r in (*ROLES, "other")}
            for role, seconds in self.cpu_seen.values():
                cpu[role] = cpu.get(role, 0.0) + seconds
            self.cpu.append((now, cpu))


def staged_lines(staging: Path) -> int:
    total = 0
    for f in staging.rglob("*"):
        if f.is_file() and not f.name.startswith("."):
            with open(f, "rb") as fh:
                total += sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    return total


def _at(samples: list[tuple[float, dict[str, float]]], t: float) -> tuple[float, dict[str, float]]:
    """The first sample at or after ``t`` seconds (the last one if none)."""
    return next((s for s in samples if s[0] >= t), samples[-1])


def main(argv: list[str] | None = None) -> int:
    ap = arg_parser("bench.follow", __doc__)
    ap.add_argument("--rate", type=float, default=5000, help="events per second generated (default 5000)")
    ap.add_argument("--duration", type=float, default=600, help="seconds of following (default 600)")
    ap.add_argument("--interval", type=float, help="run --follow's --interval (default: the run's own)")
    ap.add_argument("--report-every", type=float, help="run --follow's --report-every (default: the run's own)")
    ap.add_argument("--sample", type=float, default=5, help="seconds between two RSS samples (default 5)")
    ap.add_argument("--warm", type=float, default=60, help="the first minute: excluded from growth (default 60)")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="studentflow-follow-bench-") as tmp:
        root = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("STUDENTFLOW_")}
        env.update({"STUDENTFLOW_DATA_DIR": str(root / "data"), "STUDENTFLOW_STATE_DIR": str(root / "state"),
                    "STUDENTFLOW_STAGING_DIR": str(root / "data" / "staging"),
                    "STUDENTFLOW_WAREHOUSE": str(root / "data" / "warehouse.db")})
        print(f"follow --rate {args.rate:g} for {args.duration:g} s (load {load()})", flush=True)
        proc = subprocess.Popen([sys.executable, "-m", "studentflow.cli", "run", "--follow",
                                 "--generate-rate", str(args.rate), "--duration", str(args.duration), "--json",
                                 *(["--interval", str(args.interval)] if args.interval is not None else []),
                                 *(["--report-every", str(args.report_every)] if args.report_every is not None else [])],
                                cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        sampler = Sampler(proc, env, args.sample)
        sampler_t0_utc = time.time()   # wall clock of the sampler's t0: follow_increments times are UTC
        sampler.start()
        sent: list[tuple[float, int]] = []   # (seconds, events sent) from the status lines
        try:
            for line in proc.stderr:
                m = re.search(r"([\d,]+) events sent", line)
                if m:
                    sent.append((time.monotonic() - sampler.t0, int(m.group(1).replace(",", ""))))
                    if len(sent) % 30 == 1:
                        print("   ", line.strip()[:160], flush=True)
            out = proc.communicate(timeout=args.duration + 300)[0]
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=60)
            sampler.stop.set()
            sampler.join(timeout=10)
        if proc.returncode != 0:
            raise SystemExit(f"follow exited {proc.returncode}:\n{out[-2000:]}")
        summary = json.loads(out.strip().splitlines()[-1])
        db = root / "data" / "warehouse.db"
        with closing(sqlite3.connect(db)) as conn:
            incs = conn.execute("SELECT finished_at, lines, seconds, freshness_p95_s FROM follow_increments "
                                "ORDER BY rowid").fetchall()
            phases = conn.execute("SELECT finished_at, lines, normalize_s, marts_s, gate_s, report_s, freshness_p95_s "
                                  "FROM follow_increments ORDER BY rowid").fetchall()
        staged = staged_lines(root / "data" / "staging")

    c = summary["counts"]
    # the run's own shutdown stops the stack: the last sample with every process alive is the end
    samples = [x for x in sampler.samples if all(x[1][r] > 0 for r in ROLES)]
    if not samples:
        raise SystemExit("no sample saw the follow process, its JVM and the stack alive at once")
    t_warm, warm = _at(samples, args.warm)
    t_end, end = samples[-1]
    growth = {r: (end[r] - warm[r]) / warm[r] * 100 if warm[r] else None for r in ROLES}
    sent_warm = max((n for t, n in sent if t <= t_warm), default=0)
    sent_end = sent[-1][1] if sent else 0
    broker_per_m = ((end["broker"] - warm["broker"]) / ((sent_end - sent_warm) / 1e6)
                    if sent_end > sent_warm else None)
    first = datetime_of(incs[0][0]) if incs else None
    later = [r for r in incs if first and (datetime_of(r[0]) - first).total_seconds() >= args.warm]
    p95s = sorted(r[3] for r in later if r[3] is not None)
    figures = {
        "rate": args.rate, "duration_s": args.duration, "interval_s": args.interval,
        "report_every_s": args.report_every, "load_at_end": load(),
        "freshness_run": summary["freshness"],
        "freshness_after_first_minute": {"increments": len(later),
                                         "median_of_p95_s": statistics.median(p95s) if p95s else None,
                                         "worst_p95_s": p95s[-1] if p95s else None},
        "increment_seconds_median": statistics.median([r[2] for r in later]) if later else None,
        "increment_lines_median": statistics.median([r[1] for r in later]) if later else None,
        "rss_mb_at": {"warm_s": round(t_warm), "end_s": round(t_end),
                      "warm": {r: round(warm[r]) for r in ROLES}, "end": {r: round(end[r]) for r in ROLES}},
        "rss_growth_pct_after_warm": {r: None if g is None else round(g, 1) for r, g in growth.items()},
        "rss_growth_pct_median_minutes": median_growth(samples, args.warm),
        "events_sent": sent_end, "broker_growth_mb_per_million_events": broker_per_m and round(broker_per_m),
        "counts": c, "staged_lines_counted": staged,
        "balance_ok": summary["balance_ok"]
        and c["lines_read"] + c.get("staged_not_yet_normalized", 0) == staged,
    }
    minutes = per_minute(phases, sent, sampler, sampler_t0_utc)
    figures["per_minute"] = minutes
    print(json.dumps(figures, indent=2))
    print(minute_table(minutes))
    if args.json:
        args.json.write_text(json.dumps({**figures, "samples": sampler.samples, "cpu": sampler.cpu}, indent=1))
    return 0 if figures["balance_ok"] else 1


def median_growth(samples: list[tuple[float, dict[str, float]]], warm: float) -> dict:
    """RSS growth per role from the median of the minute after ``warm`` seconds to the median of
    the last 60 s of samples: one sample swings with the increment in flight (a Python process moves
    by 100 MB within a minute), a minute's median does not."""
    if not samples:
        return {}
    end = samples[-1][0]
    first = [x for t, x in samples if warm <= t < warm + 60]
    last = [x for t, x in samples if end - 60 < t <= end]
    out = {}
    for role in ROLES:
        a = statistics.median(x[role] for x in first) if first else 0
        b = statistics.median(x[role] for x in last) if last else 0
        out[role] = {"from_mb": round(a), "to_mb": round(b), "pct": round((b - a) / a * 100, 1) if a else None}
    return out


def per_minute(phases: list[tuple], sent: list[tuple[float, int]], sampler: Sampler, t0_utc: float) -> list[dict]:
    """One row per minute of the run: what arrived, what the loop did, who used the CPU, the RSS."""
    rows = []
    end = max([sampler.samples[-1][0] if sampler.samples else 0.0] + [t for t, _ in sent])
    for m in range(int(end // 60) + 1):
        lo, hi = m * 60.0, (m + 1) * 60.0
        incs = [r for r in phases if lo <= datetime_of(r[0]).timestamp() - t0_utc < hi]
        sent_in = [n for t, n in sent if lo <= t < hi]
        prev = [n for t, n in sent if t < lo]
        cpu = [c for t, c in sampler.cpu if lo <= t < hi]
        cpu_before = [c for t, c in sampler.cpu if t < lo]
        rss = [x for t, x in sampler.samples if lo <= t < hi]
        row: dict = {"minute": m + 1, "events_sent": (sent_in[-1] - (prev[-1] if prev else 0)) if sent_in else 0,
                     "increments": len(incs),
                     "lines_median": statistics.median([r[1] for r in incs]) if incs else None}
        for i, phase in enumerate(("normalize", "marts", "gate", "report")):
            vals = [r[2 + i] for r in incs if r[2 + i] is not None]
            row[f"{phase}_s_median"] = round(statistics.median(vals), 2) if vals else None
        p95 = [r[6] for r in incs if r[6] is not None]
        row["worst_p95_s"] = max(p95) if p95 else None
        if cpu:
            start = cpu_before[-1] if cpu_before else {k: 0.0 for k in cpu[-1]}
            row["cpu_s"] = {k: round(cpu[-1][k] - start.get(k, 0.0), 1) for k in cpu[-1]}
        if rss:
            row["rss_mb"] = {k: round(v) for k, v in rss[-1].items()}
        rows.append(row)
    return rows


def minute_table(rows: list[dict]) -> str:
    """The per-minute profile as a markdown table."""
    head = ("| min | events sent | incr. | lines (med.) | normalize / marts / gate / report s (med.) | worst p95 s "
            "| CPU-s python / checker / spark / connect / broker / other "
            "| RSS MB python (anon) / checker (anon) / spark / connect / broker |")
    out = [head, "|" + "---|" * 8]
    fmt = lambda v: "–" if v is None else f"{v:g}"   # noqa: E731
    for r in rows:
        c, m = r.get("cpu_s", {}), r.get("rss_mb", {})
        out.append(f"| {r['minute']} | {r['events_sent']:,} | {r['increments']} | {fmt(r['lines_median'])} | "
                   + " / ".join(fmt(r[f'{p}_s_median']) for p in ("normalize", "marts", "gate", "report"))
                   + f" | {fmt(r['worst_p95_s'])} | "
                   + " / ".join(fmt(c.get(k)) for k in ("python", "checker", "spark_jvm", "connect", "broker", "other"))
                   + f" | {fmt(m.get('python'))} ({fmt(m.get('python_anon'))}) / "
                   + f"{fmt(m.get('checker'))} ({fmt(m.get('checker_anon'))}) / "
                   + " / ".join(fmt(m.get(k)) for k in ("spark_jvm", "connect", "broker")) + " |")
    return "\n".join(out)


def datetime_of(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))


if __name__ == "__main__":
    raise SystemExit(main())
