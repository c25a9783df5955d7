"""Pure parts of the comparison with the original method (bench/compare.py, bench/compare_run.py):
the paired run order, the one timing definition (:class:`Window`, bench/run.py uses it too), CPU
accounting from /proc, the summary (failures counted, median of the per-run ratios with min-max),
and parsing `studentflow run`'s summary.

Nothing here starts a process; everything reads what it is given (a /proc-like folder included),
so tests/bench/test_bench_compare.py checks it on fake data.
"""
from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

PROC = Path("/proc")
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
STUDENTFLOW, CORRECTED, AS_SHIPPED = "studentflow", "corrected", "as_shipped"
METHODS = (STUDENTFLOW, CORRECTED, AS_SHIPPED)
HEADLINE = CORRECTED            # the headline ratio is the corrected original's against studentflow
SCENARIOS = ("cold", "warm", "cold_live", "warm_live")
DEFAULT_SCENARIOS = ("cold", "warm")
# The six orders of the three methods, listed so that studentflow and the corrected original
# (the headline pair) swap places from one run to the next; over six runs every method goes
# first twice and every pair of methods runs in each order three times.
ORDERS = ((STUDENTFLOW, CORRECTED, AS_SHIPPED), (CORRECTED, STUDENTFLOW, AS_SHIPPED),
          (STUDENTFLOW, AS_SHIPPED, CORRECTED), (CORRECTED, AS_SHIPPED, STUDENTFLOW),
          (AS_SHIPPED, STUDENTFLOW, CORRECTED), (AS_SHIPPED, CORRECTED, STUDENTFLOW))


# --------------------------------------------------------------------------- order and medians
def check_runs(runs: int) -> str | None:
    """Why ``runs`` cannot be used (None: it can): runs come in pairs, so that each method of the
    headline pair goes first as often as the other."""
    if runs < 2 or runs % 2:
        return f"--runs must be an even number of at least 2 (got {runs}); 6 or more for figures"
    return None


def method_order(run_index: int, methods: Sequence[str] = METHODS) -> tuple[str, ...]:
    """The order of the methods in run ``run_index`` (ORDERS in turn; ``methods``: a subset)."""
    return tuple(m for m in ORDERS[run_index % len(ORDERS)] if m in methods)


def schedule(runs: int, scenarios: Sequence[str] = DEFAULT_SCENARIOS,
             methods: Sequence[str] = METHODS) -> list[tuple[int, str, str]]:
    """Every (run, scenario, method) in the order they run: per run, each scenario with the
    methods in that run's order."""
    return [(i, sc, m) for i in range(runs) for sc in scenarios for m in method_order(i, methods)]


def quick_jit(scenario: str, events: int) -> bool:
    """Does studentflow's Spark server get the quick JIT in this scenario? (Then the original's
    Spark gets it too.) The rule of ``studentflow run`` (studentflow/pipeline/runner.py): a server the run
    starts for itself, producing fewer than QUICK_JIT_LINES events. Only ``cold_live`` has such a
    server: after the fact a cold studentflow starts its stack's server with `stack up` (kept, no
    quick JIT); a warm one reuses its stack's."""
    from spark_jobs.session import QUICK_JIT_LINES

    return scenario == "cold_live" and events < QUICK_JIT_LINES


class Window:
    """THE timing definition, for bench/run.py and bench/compare.py alike: process wall from the
    start of a method's work (launching its first timed process, or the go signal to a warm
    original's process) to its outputs written (its last timed process exited, or the original's
    result file appeared: it writes that file after its last output). ``wall0``/``wall1``: the epoch
    time at both ends, for the live figure (from the first produced event instead of the start)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter, wall: Callable[[], float] = time.time) -> None:
        self.clock, self.wall = clock, wall
        self.t0 = self.t1 = self.wall0 = self.wall1 = None

    def start(self) -> "Window":
        self.t0, self.wall0 = self.clock(), self.wall()
        return self

    def stop(self) -> float:
        self.t1, self.wall1 = self.clock(), self.wall()
        return self.seconds

    @property
    def seconds(self) -> float:
        return round(self.t1 - self.t0, 3)


def wait_until(done: Callable[[], bool], tick: Callable[[], None] = lambda: None, *, interval: float = 0.1,
               timeout: float | None = None, clock: Callable[[], float] = time.monotonic,
               sleep: Callable[[float], None] = time.sleep) -> bool:
    """Call ``tick`` (a CPU sample) every ``interval`` s until ``done()``; False on ``timeout``."""
    end = None if timeout is None else clock() + timeout
    while not done():
        if end is not None and clock() > end:
            return False
        tick()
        sleep(interval)
    return True


def median(values: Iterable[float | None]) -> float | None:
    """Median of the values that were measured (None = not measured); None if there is none."""
    got = [v for v in values if v is not None]
    return statistics.median(got) if got else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """method / studentflow: > 1 means studentflow is faster."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def live_wall(first_event: float | None, started: float, ended: float, slack: float = 1.0) -> float | None:
    """Seconds from the first produced event (its Kafka timestamp, epoch s) to ``ended``.

    None when there is no timestamp or it predates the run by more than ``slack`` seconds (a
    producer that set timestamps of its own, or a topic that already held events)."""
    if first_event is None or first_event < started - slack:
        return None
    return round(ended - first_event, 3)


# --------------------------------------------------------------------------- CPU from /proc
def read_stat(pid: int, proc: Path = PROC) -> tuple[int, int, int] | None:
    """(ppid, utime + stime in ticks, starttime) of ``pid``; None if it is gone.

    A zombie (exited, not yet reaped) still has its final times here.
    """
    try:
        fields = (proc / str(pid) / "stat").read_bytes().rsplit(b")", 1)[1].split()
        return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


def _parents(proc: Path) -> dict[int, int]:
    out = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            st = read_stat(int(entry.name), proc)
            if st is not None:
                out[int(entry.name)] = st[0]
    return out


class CpuAccount:
    """CPU seconds (user + system) of exactly the processes one method started, plus the broker.

    - ``add_root(pid, role)``: a process started inside the measured window (a CLI subprocess, the
      baseline): it and every descendant seen while sampling count from zero;
    - ``add_existing(pid, role)``: a process that was already running (the broker, the Connect
      worker): only the CPU it uses from now on counts.
    Processes are keyed by (pid, start time), so a reused pid is never confused with an old one;
    once seen, a descendant stays tracked even if it is re-parented. Each process's own
    utime+stime is summed (never cutime, which would count reaped children twice). What a
    short-lived descendant uses between its last sample and its exit is missed: sample often.
    """

    def __init__(self, proc: Path = PROC, clk_tck: int = CLK_TCK) -> None:
        self.proc = proc
        self.clk_tck = clk_tck
        self.roots: dict[int, str] = {}
        self.tracked: dict[int, str] = {}
        self.base: dict[tuple[int, int], int] = {}
        self.last: dict[tuple[int, int], int] = {}
        self.roles: dict[tuple[int, int], str] = {}
        self.samples = 0

    def add_root(self, pid: int, role: str, *, from_now: bool = False) -> None:
        """``from_now``: a process that was already running (a warm original's): only the CPU it
        and its descendants use from now on counts."""
        self.roots[pid] = role
        self.tracked[pid] = role
        self.sample()
        if from_now:
            tree = self._tree(pid, self._children())
            for key in self.last:
                if key[0] in tree:
                    self.base[key] = self.last[key]

    def add_existing(self, pid: int, role: str) -> None:
        st = read_stat(pid, self.proc)
        if st is None:
            return
        key = (pid, st[2])
        self.base[key] = st[1]
        self.last[key] = st[1]
        self.roles[key] = role
        self.tracked[pid] = role

    def _children(self) -> dict[int, list[int]]:
        children: dict[int, list[int]] = {}
        for pid, ppid in _parents(self.proc).items():
            children.setdefault(ppid, []).append(pid)
        return children

    @staticmethod
    def _tree(root: int, children: Mapping[int, list[int]]) -> set[int]:
        out, todo = {root}, list(children.get(root, ()))
        while todo:
            pid = todo.pop()
            out.add(pid)
            todo.extend(children.get(pid, ()))
        return out

    def sample(self) -> None:
        """Read every tracked process and every descendant of a root."""
        if self.roots:
            children = self._children()
            for root, role in self.roots.items():
                for pid in self._tree(root, children):
                    self.tracked.setdefault(pid, role)
        for pid, role in self.tracked.items():
            st = read_stat(pid, self.proc)
            if st is None:
                continue
            key = (pid, st[2])
            if key not in self.roles:
                self.roles[key] = role
                self.base.setdefault(key, 0)
            self.last[key] = max(st[1], self.last.get(key, 0))
        self.samples += 1

    def seconds_by_role(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for key, ticks in self.last.items():
            role = self.roles[key]
            out[role] = out.get(role, 0.0) + (ticks - self.base.get(key, 0)) / self.clk_tck
        return {r: round(v, 2) for r, v in sorted(out.items())}

    def seconds(self) -> float:
        return round(sum(self.seconds_by_role().values()), 2)


# --------------------------------------------------------------------------- summary
def spread(values: Iterable[float | None]) -> dict[str, Any] | None:
    """Median, min and max of the measured values (None: not measured), and how many there were."""
    got = [v for v in values if v is not None]
    if not got:
        return None
    return {"median": _round(statistics.median(got)), "min": _round(min(got)), "max": _round(max(got)), "n": len(got)}


def measured(run: Mapping[str, Any]) -> bool:
    return run.get("wall_s") is not None and not run.get("error")


def _method_summary(mine: list[Mapping[str, Any]]) -> dict[str, Any]:
    ok = [r for r in mine if measured(r)]
    names = list(dict.fromkeys(n for r in ok for n in r.get("stages", {})))
    return {"runs": len(mine), "ok": len(ok),
            "failed": [{"run": r["run"], "error": r.get("error") or "not measured"} for r in mine if not measured(r)],
            "wall_s": spread(r["wall_s"] for r in ok), "cpu_s": spread(r.get("cpu_s") for r in ok),
            "kept_rows": spread(r.get("kept_rows") for r in ok),
            "median_stages_s": {n: _round(median(r.get("stages", {}).get(n) for r in ok)) for n in names}}


def run_ratios(runs: list[Mapping[str, Any]], method: str, scenario: str) -> dict[str, Any]:
    """``method`` / studentflow run by run (the pair of one run index), for the pairs where both
    were measured: median, min and max of the wall and CPU ratios, and the pairs left out."""
    by_run: dict[int, dict[str, Mapping[str, Any]]] = {}
    for r in runs:
        if r["scenario"] == scenario and r["method"] in (method, STUDENTFLOW):
            by_run.setdefault(r["run"], {})[r["method"]] = r
    pairs = [(v[method], v[STUDENTFLOW]) for _i, v in sorted(by_run.items())
             if len(v) == 2 and measured(v[method]) and measured(v[STUDENTFLOW])]
    return {"wall": spread(ratio(a["wall_s"], b["wall_s"]) for a, b in pairs),
            "cpu": spread(ratio(a.get("cpu_s"), b.get("cpu_s")) for a, b in pairs),
            "pairs": len(pairs), "pairs_left_out": len(by_run) - len(pairs)}


def summarize(runs: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Per scenario: per method its runs, failures (counted, with their errors), the spread of wall,
    CPU and kept rows over the measured runs; and each original's ratio to studentflow as the
    median (min, max) of the per-run ratios.

    ``runs`` holds one dict per method run: ``run``, ``scenario``, ``method``, ``wall_s`` (None when
    not measured), ``error`` (a failed run), ``cpu_s``, ``kept_rows`` and ``stages`` (name -> s).
    """
    out: dict[str, Any] = {}
    for sc in dict.fromkeys(r["scenario"] for r in runs):
        mine = {m: [r for r in runs if r["scenario"] == sc and r["method"] == m] for m in METHODS}
        per: dict[str, Any] = {"methods": {m: _method_summary(rs) for m, rs in mine.items() if rs}, "ratios": {}}
        if mine[STUDENTFLOW]:
            per["ratios"] = {m: run_ratios(runs, m, sc) for m in METHODS[1:] if mine[m]}
        out[sc] = per
    return out


def _round(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(x, nd)


def _section(stdout: str, header: str) -> list[str]:
    """The indented lines that follow ``header`` in ``studentflow run``'s summary."""
    lines = stdout.splitlines()
    start = next((i + 1 for i, line in enumerate(lines) if line.strip() == header), len(lines))
    out = []
    for line in lines[start:]:
        if not line.startswith("    ") or len(line.split()) < 2:
            break
        out.append(line)
    return out


def parse_stage_times(stdout: str) -> dict[str, float]:
    """``studentflow run``'s summary lines ``    <stage>   <seconds> s  <detail>`` -> {stage: seconds}."""
    out: dict[str, float] = {}
    for line in _section(stdout, "time per stage:"):
        parts = line.split()
        try:
            if parts[2] == "s":
                out[parts[0]] = float(parts[1])
        except (IndexError, ValueError):
            continue
    return out


def parse_outputs(stdout: str) -> dict[str, str]:
    """``studentflow run``'s ``outputs:`` lines -> {name: path}."""
    return dict(tuple(line.split(None, 1)) for line in (ln.strip() for ln in _section(stdout, "outputs:")))
