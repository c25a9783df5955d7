"""A small sampling profile of a JVM (the Spark driver) while a stage runs: where its CPU goes.

Two views, both cheap and both from standard tools:

- **CPU per thread group**, from ``/proc/<pid>/task/<tid>/stat`` (user + system ticks per
  thread, grouped by the thread's name: JIT compiler, GC, Spark task threads, the driver's
  planning/py4j threads, ...). Exact, not sampled.
- **Hot frames**, from ``jstack <pid>`` every ``interval`` seconds: the RUNNABLE Java threads
  that are not idle in a socket/poll/park, counted by category (code generation, optimizer,
  JSON parsing, regex, scan, shuffle, ...) and by their top frame.

Used by ``python -m bench.run --profile`` around the normalize stage; the result goes into the
size's JSON (``normalize_profile``) and the terminal table.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import threading
from collections import Counter
from pathlib import Path
from typing import Callable

from bench.rss import CLK_TCK, PROC

IDLE_TOPS = ("sun.nio.ch.EPoll.wait", "epollWait", "socketAccept", "socketRead0", "sun.nio.ch.Net.poll", "sun.nio.ch.Net.accept", "NioSocketImpl",
             "java.net.SocketInputStream", "java.lang.Object.wait", "jdk.internal.misc.Unsafe.park",
             "java.lang.Thread.sleep", "java.net.PlainSocketImpl", "sun.nio.ch.SocketDispatcher.read",
             "java.lang.ref.Reference", "java.io.FileInputStream.readBytes", "ServerSocket",
             "java.lang.ProcessHandleImpl.waitForProcessExit", "sun.nio.ch.KQueue", "poll0")
# (category, substrings of a frame): the first frame (top down) matching a category names it.
CATEGORIES = (
    ("code generation (janino compile)", ("org.codehaus.janino", "org.codehaus.commons.compiler", "CodeGenerator$.doCompile")),
    ("JSON parsing", ("com.fasterxml.jackson", "catalyst.json")),
    ("regular expressions", ("java.util.regex",)),
    ("string functions", ("org.apache.spark.unsafe.types.UTF8String",)),
    ("sqlite / arrow write", ("org.sqlite", "org.apache.arrow", "ArrowConverters")),
    ("shuffle / sort", ("shuffle", "UnsafeExternalSorter", "UnsafeShuffle", "ExternalSorter")),
    ("file scan", ("datasources", "org.apache.hadoop", "LineRecordReader")),
    ("generated code (row processing)", ("GeneratedClass", "GeneratedIterator")),
    ("catalyst optimizer", ("catalyst.optimizer", "RuleExecutor")),
    ("catalyst analyzer", ("catalyst.analysis",)),
    ("query planning", ("QueryPlanner", "SparkStrategies", "adaptive", "QueryExecution", "SparkPlan")),
    ("task scheduling", ("scheduler",)),
)
_THREAD_GROUPS = (
    ("JIT compiler", re.compile(r"^C[12] Compiler|^C1 CompilerThre|^C2 CompilerThre|^Compiler")),
    ("GC", re.compile(r"^G1 |^GC |^VM Periodic|^G1|^Concurrent")),
    ("Spark task threads", re.compile(r"^Executor task")),
    ("driver / py4j / planning", re.compile(r"^Thread-|^main$|^java$|^py4j")),
)


def thread_group(name: str) -> str:
    for group, rx in _THREAD_GROUPS:
        if rx.search(name):
            return group
    return "other JVM threads"


def thread_ticks(pid: int, proc: Path = PROC) -> dict[int, tuple[str, int]]:
    """tid -> (thread name, user + system ticks) for every thread of ``pid``."""
    out = {}
    try:
        tasks = list((proc / str(pid) / "task").iterdir())
    except OSError:
        return out
    for t in tasks:
        try:
            raw = (t / "stat").read_bytes()
            name = raw[raw.index(b"(") + 1:raw.rindex(b")")].decode(errors="replace")
            f = raw.rsplit(b")", 1)[1].split()
            out[int(t.name)] = (name, int(f[11]) + int(f[12]))
        except (OSError, ValueError, IndexError):
            continue
    return out


def parse_jstack(text: str) -> list[list[str]]:
    """Stacks (frames top first, 'pkg.Class.method') of the busy RUNNABLE threads of a jstack dump."""
    stacks: list[list[str]] = []
    for block in text.split("\n\n"):
        lines = block.strip().splitlines()
        if not lines or not lines[0].startswith('"'):
            continue
        if "java.lang.Thread.State: RUNNABLE" not in block:
            continue
        frames = [ln.strip()[3:].split("(", 1)[0] for ln in lines if ln.strip().startswith("at ")]
        if not frames or any(frames[0].startswith(p) or p in frames[0] for p in IDLE_TOPS):
            continue
        stacks.append(frames)
    return stacks


def categorize(frames: list[str]) -> str:
    for frame in frames:
        for name, keys in CATEGORIES:
            if any(k in frame for k in keys):
                return name
    return "other"


class JvmProfiler:
    """Profile the JVM whose pid ``find_pid()`` returns (it may appear after the start)."""

    def __init__(self, find_pid: Callable[[], int | None], interval: float = 1.0, proc: Path = PROC,
                 *, since_start: bool = True) -> None:
        """``since_start``: the threads' CPU counted from the JVM's start (a JVM started within the
        profiled stage); False: from the first look (a JVM already running)."""
        self.find_pid = find_pid
        self.since_start = since_start
        self.interval = interval
        self.proc = proc
        self.jstack = shutil.which("jstack") or _jdk_tool("jstack")
        self.pid: int | None = None
        self.first: dict[int, tuple[str, int]] = {}
        self.last: dict[int, tuple[str, int]] = {}
        self.categories: Counter[str] = Counter()
        self.tops: Counter[str] = Counter()
        self.dumps = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "JvmProfiler":
        if not self.since_start:
            self._tick()   # the baseline, before the stage
        self._thread = threading.Thread(target=self._loop, name="jvm-profiler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        self._tick()

    def _tick(self) -> None:
        if self.pid is None:
            self.pid = self.find_pid()
            if self.pid is None:
                return
            # from the JVM's start (in the harness the Spark JVM starts within the stage), or from now
            self.first = {} if self.since_start else thread_ticks(self.pid, self.proc)
        now = thread_ticks(self.pid, self.proc)
        if now:
            self.last.update(now)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._tick()
            if self.pid is None or not self.jstack:
                continue
            try:
                text = subprocess.run([self.jstack, str(self.pid)], capture_output=True, text=True,
                                      timeout=20).stdout
            except (OSError, subprocess.TimeoutExpired):
                continue
            stacks = parse_jstack(text)
            if not text:
                continue
            self.dumps += 1
            for frames in stacks:
                self.categories[categorize(frames)] += 1
                self.tops[frames[0]] += 1

    def result(self) -> dict:
        groups: Counter[str] = Counter()
        for tid, (name, ticks) in self.last.items():
            groups[thread_group(name)] += ticks - self.first.get(tid, (name, 0))[1]
        total = sum(groups.values()) or 1
        busy = sum(self.categories.values()) or 1
        return {
            "pid": self.pid,
            "cpu_by_thread_group_s": {g: round(t / CLK_TCK, 2) for g, t in groups.most_common()},
            "cpu_share_by_thread_group": {g: round(t / total, 3) for g, t in groups.most_common()},
            "jstack_dumps": self.dumps,
            "busy_thread_samples_by_category": {c: round(n / busy, 3) for c, n in self.categories.most_common()},
            "top_frames": [[f, round(n / busy, 3)] for f, n in self.tops.most_common(12)],
        }


def _jdk_tool(name: str) -> str | None:
    for java in (Path("/usr/lib/jvm").glob("*/bin/" + name) if Path("/usr/lib/jvm").is_dir() else []):
        return str(java)
    return None
