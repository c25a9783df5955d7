"""Warm engines for overlapped and continuous runs: one SparkSession, dbt in-process, increments.

* :class:`WarmSpark` attaches to the Spark Connect server in a background thread (starting one
  takes seconds; the producer and the sink do not need it yet) and detaches at the end.
* :class:`Normalizer` runs normalize increments in a background thread while events are still
  produced and staged, so that when the last event is staged only a small increment is left.
* :class:`WarmDbt` invokes dbt in this process (``dbtRunner``) on a manifest parsed once, instead
  of a new ``dbt`` process (about 5 s of imports and parsing) per call.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from studentflow.core.config import Settings

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

    from spark_jobs.job import NormalizeResult


def warms_up(*, started: bool, quick_jit: bool) -> bool:
    """Whether a run's new session runs the warm-up query (the reasons: WarmSpark._start)."""
    return started and not quick_jit


class WarmSpark:
    """A Spark Connect session opened in the background (the server may have to start: seconds the
    producer and the sink do not need to wait for), warmed up, shared by every increment of a run.

    ``keep_server``: a server started here is the stack's (recorded, kept after the run) when true;
    when false it belongs to this run and stops at :meth:`release` (None: the stack decides, see
    :func:`spark_jobs.server.ensure`)."""

    def __init__(self, settings: Settings, *, keep_server: bool | None = None, quick_jit: bool = False,
                 progress: Callable[[str], None] = lambda _m: None) -> None:
        self.settings = settings
        self.keep_server = keep_server
        self.quick_jit = quick_jit   # a server started for this (small) run only: see spark_jobs.session
        self.say = progress
        self._attached = None   # spark_jobs.server.Attached
        self._error: BaseException | None = None
        self._warm = threading.Event()       # attached and warmed up (or failed)
        self._released = threading.Event()
        # The thread lives until release(): a server it starts for this run is tied to it (the
        # kernel's parent-death signal follows the thread that forked, not the process).
        self._thread = threading.Thread(target=self._start, name="spark-start", daemon=True)
        self.startup_seconds: float | None = None
        self.warm_up_seconds: float | None = None

    def start(self) -> "WarmSpark":
        self._thread.start()
        return self

    def _start(self) -> None:
        from spark_jobs.job import warm_up
        from spark_jobs.server import Attached

        t = time.perf_counter()
        try:
            attached = Attached(self.settings, keep_server=self.keep_server, quick_jit=self.quick_jit,
                                progress=self.say)
            self.startup_seconds = time.perf_counter() - t
            self._attached = attached
            # The first increment's cold costs, paid now while events are produced and sunk, on a
            # server this run started: its classes, its generated code, its JIT. Never on a server
            # that was already running (the stack's, or a remote one): there the warm-up query was
            # the first increment's cost, not a saving. It used to run there when the run handed
            # its later steps to the stack's quality worker (the new session's first query costs
            # about 0.5 s more, and the producer waited 0.5-1 s for its id), but the producer now
            # starts ahead and produces in under a second, and the warm-up sat on the critical
            # path: a second `run --count 10000` on one stack, alternated, 5 each (2026-12-05,
            # load 2.0-2.8): 9.0-10.6 s with it (normalize 2.9-5.2 s), 7.5-9.4 s without
            # (1.7-2.7 s). Nor on a server started for one small run (quick_jit): there the sink
            # is done before the server is, nothing overlaps the warm-up, and it only delays the
            # one increment (`run --count 10000`, fresh folders, alternated: 21.1-23.6 s without,
            # 23.1-25.4 s with).
            if self.settings.warm_spark and warms_up(started=attached.server.start_seconds is not None,
                                                     quick_jit=self.quick_jit):
                self.warm_up_seconds = warm_up(self.settings, attached.session)
        except BaseException as exc:  # noqa: BLE001  (re-raised in the caller's thread by get())
            self._error = exc
        finally:
            self._warm.set()
        self._released.wait()

    @property
    def ready(self) -> bool:
        return self._warm.is_set() and self._error is None

    def get(self) -> "SparkSession":
        """The session, waiting for it to start; the start-up error if it failed."""
        self._warm.wait()
        if self._error is not None:
            raise self._error
        assert self._attached is not None
        return self._attached.session

    def release(self) -> None:
        """Close the session; stop the server if this run owns it (its heap is gone before dbt and GX)."""
        self._warm.wait(timeout=60)
        if self._attached is not None:
            self._attached.close()
            self._attached = None
        self._released.set()


@dataclass
class Totals:
    """What a series of increments did, summed."""

    increments: list["NormalizeResult"] = field(default_factory=list)

    def add(self, result: "NormalizeResult") -> None:
        if result.written:
            self.increments.append(result)

    def total(self, name: str) -> int:
        return sum(getattr(r, name) for r in self.increments)

    def counts(self) -> dict[str, int]:
        out = {"lines_read": self.total("lines_read"), "clean": self.total("clean"),
               "quarantined": self.total("quarantined"), "duplicates_removed": self.total("duplicates_removed")}
        if self.total("headers"):
            out["headers"] = self.total("headers")
        return out


# Bytes staged (about 20,000 events) before a background increment is worth its fixed cost:
# about 1 s of the server's planning per increment, whatever its size. Below it the last
# increment takes everything: a second 10k run on a warm stack normalized in two increments in
# 1.9-2.8 s (the one in flight while the sink drained, then the rest), in one in about 1.2 s.
BACKGROUND_MIN_BYTES = 2_000_000


def has_new_lines(settings: Settings, at_least: int = 1) -> bool:
    """``at_least`` bytes staged beyond the watermarks (one stat per staging file, one small query)."""
    from spark_jobs import increments, warehouse
    from studentflow.core import staging

    files = staging.staging_files(settings.staging_dir, must_exist=False)
    return increments.pending_bytes(files, warehouse.read_watermarks(settings.warehouse)) >= at_least


def increment(settings: Settings, spark: "SparkSession", progress: Callable[[str], None],
              before_commit: Callable[[], None] | None = None) -> "NormalizeResult":
    from spark_jobs.job import run_normalize

    return run_normalize(settings, spark=spark, progress=progress, before_commit=before_commit)


class Normalizer:
    """Increments in a background thread, every ``interval`` seconds there are ``min_bytes`` new."""

    def __init__(self, settings: Settings, spark: WarmSpark, progress: Callable[[str], None],
                 interval: float = 1.0, min_bytes: int = BACKGROUND_MIN_BYTES) -> None:
        self.settings, self.spark, self.say, self.interval = settings, spark, progress, interval
        self.min_bytes = min_bytes
        self.totals = Totals()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="normalizer", daemon=True)

    def start(self) -> "Normalizer":
        self._thread.start()
        return self

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                if self.spark.ready and has_new_lines(self.settings, self.min_bytes):
                    res = increment(self.settings, self.spark.get(), lambda _m: None)
                    self.totals.add(res)
                    if res.written:
                        self.say(f"increment {len(self.totals.increments)}: {res.lines_read:,} lines "
                                 f"({res.clean:,} clean) in {res.steady_seconds:.1f} s, while the sink drains")
                self._stop.wait(self.interval)
        except BaseException as exc:  # noqa: BLE001  (re-raised by finish())
            self._error = exc

    def finish(self, before_commit: Callable[[], None] | None = None) -> Totals:
        """Stop the loop, then one last increment in the caller's thread: everything staged is in
        (``before_commit``: see spark_jobs.job.run_normalize)."""
        self._stop.set()
        self._thread.join()
        if self._error is not None:
            raise self._error
        res = increment(self.settings, self.spark.get(), lambda m: self.say(m), before_commit)
        self.totals.add(res)
        return self.totals

    def abandon(self) -> None:
        """On an interrupt: stop asking for increments (one in flight rolls back if the process ends)."""
        self._stop.set()
        self._thread.join(timeout=30)


class WarmDbt:
    """dbt in this process, on the project parsed once (``runner.parsed_manifest``: no parse at
    all in a call, about 0.2 s of each increment's marts), parsed again when a project file
    changes (an analyst editing a model while the loop runs)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def project_changed(self) -> bool:
        """A project file changed since the last parse (the next call parses again)."""
        from studentflow.transform import runner as dbt_runner

        return dbt_runner.project_changed(self.settings)

    def prepare(self) -> bool:
        """Parse the project now (imports included, a few seconds), so the first call does not."""
        from studentflow.transform import runner as dbt_runner

        return dbt_runner.parsed_manifest(self.settings) is not None

    def _invoke(self, command: list[str]):
        from studentflow.transform.runner import invoke_dbt, parsed_manifest

        # None when the project does not parse: the invoke below parses and reports the error itself
        manifest = parsed_manifest(self.settings)
        # --quiet: dbt prints its errors only, straight to the terminal as before
        return invoke_dbt(self.settings, ["--quiet", *command], manifest=manifest, stream=True)[0]

    def invoke(self, *command: str) -> tuple[bool, list[str]]:
        """(success, one line per failing node)."""
        res = self._invoke(list(command))
        problems = []
        for r in getattr(res.result, "results", None) or []:
            status = str(getattr(r, "status", ""))
            if status.lower() in ("error", "fail"):
                problems.append(f"{r.node.name}: {(getattr(r, 'message', '') or '').splitlines()[0:1]}")
        if res.exception is not None:
            problems.append(str(res.exception).splitlines()[0])
        return bool(res.success), problems
