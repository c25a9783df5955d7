"""Peak resident memory of the processes a benchmark involves, sampled from /proc in a thread.

Every ``interval`` seconds the sampler reads ``VmRSS`` of this process and of every descendant
(the broker, the Connect worker, the Spark driver JVM, dbt, the baseline and its JVM), sorts
them into roles with :func:`classify`, and keeps, for the stage currently marked, the peak of
the summed RSS of each role. ``VmHWM`` (the kernel's own high-water mark) is read too, so a
spike between two samples still shows in the per-process lifetime peak. CPU time (user +
system, from ``/proc/<pid>/stat``) is attributed the same way: on a shared machine the CPU
seconds a stage used say more about its cost than its wall time.
"""
from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

PROC = Path("/proc")


def read_status_kb(pid: int, proc: Path = PROC) -> dict[str, int]:
    """``VmRSS``, ``VmHWM`` and ``RssAnon`` (the heap and other private memory, as opposed to
    mapped files) of ``pid`` in kB (empty dict if it is gone or a kernel thread)."""
    out: dict[str, int] = {}
    try:
        with open(proc / str(pid) / "status", "rb") as fh:
            for line in fh:
                if line.startswith((b"VmRSS:", b"VmHWM:", b"RssAnon:")):
                    key, value = line.split(b":", 1)
                    out[key.decode()] = int(value.split()[0])
    except (OSError, ValueError, IndexError):
        return {}
    return out


CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def read_cpu_ticks(pid: int, proc: Path = PROC) -> int | None:
    """User + system CPU time of ``pid`` so far, in clock ticks (None if it is gone)."""
    try:
        fields = (proc / str(pid) / "stat").read_bytes().rsplit(b")", 1)[1].split()
        return int(fields[11]) + int(fields[12])      # utime, stime (fields 14 and 15 of stat)
    except (OSError, ValueError, IndexError):
        return None


def cmdline(pid: int, proc: Path = PROC) -> str:
    try:
        return (proc / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def parent_map(proc: Path = PROC) -> dict[int, int]:
    """pid -> ppid for every process visible in /proc."""
    out = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
            # the command name is in parentheses and may contain spaces: split after the last ')'
            out[int(entry.name)] = int(stat.rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return out


def descendants(root: int, parents: dict[int, int]) -> list[int]:
    children: dict[int, list[int]] = defaultdict(list)
    for pid, ppid in parents.items():
        children[ppid].append(pid)
    out, todo = [], list(children.get(root, ()))
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def classify(cmd: str, ancestors_cmds: list[str]) -> str:
    """Role of a descendant process from its command line (and its ancestors')."""
    under_original = any("bench.baseline_original" in c for c in ancestors_cmds)
    if "bench.baseline_original" in cmd:
        return "original_python"
    if "org.apache.spark" in cmd or "spark-submit" in cmd or "spark-class" in cmd or "pyspark.daemon" in cmd \
            or "pyspark.worker" in cmd:
        return "original_spark" if under_original else "spark_driver"
    if "tansu" in cmd:
        return "broker"
    if "org.apache.kafka.connect" in cmd:
        return "connect"
    if "dbt" in cmd:
        return "dbt"
    return "other"


class RssSampler:
    """Background sampler; use as a context manager and mark stages with :meth:`stage`."""

    def __init__(self, interval: float = 0.2, root: int | None = None, proc: Path = PROC,
                 extra: Callable[[], dict[int, str]] | None = None, self_role: str = "python") -> None:
        self.interval = interval
        self.root = root or os.getpid()
        self.proc = proc
        self.extra = extra            # pid -> role, for processes known by pid (descendants or not)
        self.self_role = self_role
        self.current = "idle"
        self.peaks_kb: dict[str, dict[str, int]] = defaultdict(dict)   # stage -> role -> peak kB
        self.hwm_kb: dict[str, int] = {}                                # role -> max VmHWM seen (one process)
        self.cpu_ticks: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))  # stage -> role -> ticks
        self._last_ticks: dict[int, int] = {}
        self.samples = 0
        self._roles: dict[int, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> "RssSampler":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        # CPU already spent before the benchmark (this interpreter's start-up, a running stack)
        # belongs to no stage.
        try:
            parents = parent_map(self.proc)
        except OSError:
            parents = {}
        for pid in [self.root, *descendants(self.root, parents)]:
            ticks = read_cpu_ticks(pid, self.proc)
            if ticks is not None:
                self._last_ticks[pid] = ticks
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.sample()  # a last look, so a short run still has a figure

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Attribute samples to ``name`` while the block runs (one sample at entry and exit)."""
        previous = self.current
        with self._lock:
            self.current = name
        self.sample()
        try:
            yield
        finally:
            self.sample()
            with self._lock:
                self.current = previous

    # -- sampling -------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def _role_of(self, pid: int, parents: dict[int, int]) -> str:
        role = self._roles.get(pid)
        if role is not None:
            return role
        chain, p = [], parents.get(pid)
        while p and p != self.root and p in parents and len(chain) < 32:
            chain.append(cmdline(p, self.proc))
            p = parents.get(p)
        cmd = cmdline(pid, self.proc)
        if not cmd:
            return "other"
        role = classify(cmd, chain)
        self._roles[pid] = role
        return role

    def sample(self) -> dict[str, int]:
        """One sample now: role -> summed VmRSS kB (also folded into the current stage's peaks)."""
        try:
            parents = parent_map(self.proc)
        except OSError:
            return {}
        pids = {self.root: self.self_role}
        if self.extra:   # known pids first: their role wins over the command-line guess
            pids.update({pid: role for pid, role in self.extra().items() if pid and pid != self.root})
        for pid in descendants(self.root, parents):
            if pid not in pids:
                pids[pid] = self._role_of(pid, parents)
        totals: dict[str, int] = defaultdict(int)
        with self._lock:
            for pid, role in pids.items():
                ticks = read_cpu_ticks(pid, self.proc)
                if ticks is not None:
                    # a process first seen now: count its CPU since it started, except the ones
                    # that existed before the sampler did (baseline taken in start())
                    before = self._last_ticks.get(pid, 0)
                    if ticks > before:
                        self.cpu_ticks[self.current][role] += ticks - before
                    self._last_ticks[pid] = ticks
                st = read_status_kb(pid, self.proc)
                if not st:
                    continue
                totals[role] += st.get("VmRSS", 0)
                self.hwm_kb[role] = max(self.hwm_kb.get(role, 0), st.get("VmHWM", 0))
            peaks = self.peaks_kb[self.current]
            for role, kb in totals.items():
                if kb > peaks.get(role, 0):
                    peaks[role] = kb
            self.samples += 1
        return dict(totals)

    def peaks_mb(self) -> dict[str, dict[str, float]]:
        """stage -> role -> peak MB (rounded to 0.1)."""
        with self._lock:
            return {st: {r: round(kb / 1024, 1) for r, kb in sorted(roles.items()) if r != "other"}
                    for st, roles in self.peaks_kb.items()}

    def pids(self, role: str) -> list[int]:
        """Descendant pids classified as ``role`` so far (alive or not)."""
        with self._lock:
            return [pid for pid, r in self._roles.items() if r == role]

    def cpu_seconds(self) -> dict[str, dict[str, float]]:
        """stage -> role -> CPU seconds (user + system) spent while the stage was marked."""
        with self._lock:
            return {st: {r: round(t / CLK_TCK, 2) for r, t in sorted(roles.items())}
                    for st, roles in self.cpu_ticks.items()}

    def hwm_mb(self) -> dict[str, float]:
        with self._lock:
            return {r: round(kb / 1024, 1) for r, kb in sorted(self.hwm_kb.items()) if r != "other"}
