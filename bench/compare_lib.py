"""Pure parts of the comparison with the original method (bench/compare.py): run order, medians,
CPU accounting from /proc, and the per-stage summary.

Nothing here starts a process; everything reads what it is given (a /proc-like folder included),
so tests/unit/test_bench_compare.py checks it on fake data.
"""
from __future__ import annotations

import os
import statistics
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

PROC = Path("/proc")
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
METHODS = ("original", "studentflow")
SCENARIOS = ("after_the_fact", "live")


# --------------------------------------------------------------------------- order and medians
def method_order(run_index: int) -> tuple[str, str]:
    """Run 0: the original first; run 1: studentflow first; and so on (alternated)."""
    return METHODS if run_index % 2 == 0 else METHODS[::-1]


def schedule(runs: int, scenarios: Sequence[str] = SCENARIOS) -> list[tuple[int, str, str]]:
    """Every (run, scenario, method) in the order they run: per run, each scenario with both
    methods in that run's order."""
    return [(i, sc, m) for i in range(runs) for sc in scenarios for m in method_order(i)]


def median(values: Iterable[float | None]) -> float | None:
    """Median of the values that were measured (None = not measured); None if there is none."""
    got = [v for v in values if v is not None]
    return statistics.median(got) if got else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """original / studentflow: > 1 means studentflow is faster."""
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

    def add_root(self, pid: int, role: str) -> None:
        self.roots[pid] = role
        self.tracked[pid] = role
        self.sample()

    def add_existing(self, pid: int, role: str) -> None:
        st = read_stat(pid, self.proc)
        if st is None:
            return
        key = (pid, st[2])
        self.base[key] = st[1]
        self.last[key] = st[1]
        self.roles[key] = role
        self.tracked[pid] = role

    def sample(self) -> None:
        """Read every tracked process and every descendant of a root."""
        if self.roots:
            children: dict[int, list[int]] = {}
            for pid, ppid in _parents(self.proc).items():
                children.setdefault(ppid, []).append(pid)
            for root, role in self.roots.items():
                todo = list(children.get(root, ()))
                while todo:
                    pid = todo.pop()
                    self.tracked.setdefault(pid, role)
                    todo.extend(children.get(pid, ()))
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
def summarize(runs: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Medians per scenario and method (wall, CPU, stages) and the ratios original / studentflow.

    ``runs`` holds one dict per method run: ``scenario``, ``method``, ``wall_s``, ``cpu_s`` and
    ``stages`` (name -> seconds).
    """
    out: dict[str, Any] = {}
    for sc in dict.fromkeys(r["scenario"] for r in runs):
        per: dict[str, Any] = {}
        for m in METHODS:
            mine = [r for r in runs if r["scenario"] == sc and r["method"] == m and r.get("wall_s") is not None]
            if not mine:
                continue
            names = list(dict.fromkeys(n for r in mine for n in r.get("stages", {})))
            per[m] = {"runs": len(mine), "wall_s": [r["wall_s"] for r in mine],
                      "median_wall_s": _round(median(r["wall_s"] for r in mine)),
                      "cpu_s": [r.get("cpu_s") for r in mine],
                      "median_cpu_s": _round(median(r.get("cpu_s") for r in mine)),
                      "median_stages_s": {n: _round(median(r.get("stages", {}).get(n) for r in mine)) for n in names}}
        if len(per) == 2:
            o, s = per["original"], per["studentflow"]
            per["ratio_wall"] = _round(ratio(o["median_wall_s"], s["median_wall_s"]))
            per["ratio_cpu"] = _round(ratio(o["median_cpu_s"], s["median_cpu_s"]))
            by_run: dict[int, dict[str, float]] = {}
            for r in runs:
                if r["scenario"] == sc and r.get("wall_s") is not None:
                    by_run.setdefault(r["run"], {})[r["method"]] = r["wall_s"]
            per["median_of_run_ratios"] = _round(median(
                ratio(v.get("original"), v.get("studentflow")) for v in by_run.values() if len(v) == 2))
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
