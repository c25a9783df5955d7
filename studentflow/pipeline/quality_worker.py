"""The gate and the report of `run --follow`, in a process of their own.

The child runs the validate and report steps of `run` (studentflow/pipeline/derive.py) on each
increment. Great Expectations and matplotlib are pure Python: in the follow process they held the GIL about
60 % of the time (py-spy, ``--gil``), so the next increment's normalize (its py4j calls, the
Arrow batches, the SQLite commit) and its dbt marts waited for them, and freshness with it. Here
they run in one long-lived child process (its own interpreter and GIL; one Great Expectations
context and one matplotlib for the whole run), fed one increment at a time through a pipe. The
report is the markdown in the run's language and the local page in both (studentflow/report/site.py:
its tables, charts, run history and trend), so a page `docs serve` serves follows the increments.
The follow's checks leave the report's drawing to a thread (:class:`Drawer`): the answer comes
once the data is read, and the next increment's gate runs while the charts are drawn.

    checker = Checker(settings).start()        # spawns the child; it runs the steps' prepare()
    done = checker.check(run_id, gate=True, lang="fr", run_summary=summary.as_report_input())
    checker.stop()

The child ends when its owner asks, and also when the owner dies (its pipe closes: no orphan).
It ignores Ctrl-C and SIGTERM (a terminal or a supervisor signals the whole process group): the
owner decides when its last increment's gate and report are finished, then stops it.
"""
from __future__ import annotations

import multiprocessing
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from studentflow.core import procs
from studentflow.core.config import Settings
from studentflow.core.errors import ExitCode, StudentflowError


@dataclass
class Checked:
    """What the child did for one increment."""

    passed: bool | None                  # None: the gate is off
    failed: list[str]                    # "table.column expectation" per failed expectation
    seconds: dict[str, float]            # gate, and report when it ran (with a drawing left to the
                                         # background: its data read only)
    files: list[str] = field(default_factory=list)
    drawn: dict[str, float] = field(default_factory=dict)   # run_id -> seconds of an earlier
                                                            # increment's drawing, done since


RERUN = ("the increments before it are committed: `studentflow validate` and `studentflow report` check "
         "them; run `studentflow run --follow` again")


class CheckerError(StudentflowError):
    """The gate or the report failed in the child, or the child died or did not answer: one line
    with a hint, as the CLI prints it; ``detail`` keeps the end of the child's traceback."""

    exit_code = ExitCode.FAILED

    def __init__(self, message: str, hint: str = RERUN, *, exit_code: int | None = None, detail: str = "") -> None:
        super().__init__(message, hint)
        if exit_code is not None:
            self.exit_code = ExitCode(exit_code)
        self.detail = detail

    @classmethod
    def of(cls, payload: dict[str, Any]) -> "CheckerError":
        """The error another process sent (``_error_of``), to raise here."""
        return cls(payload["message"], payload["hint"], exit_code=payload["exit_code"], detail=payload["detail"])


def _error_of(exc: BaseException) -> dict[str, Any]:
    """What the owner needs to raise ``exc`` again: one line, its hint and exit code, the traceback."""
    if isinstance(exc, StudentflowError):
        message, hint, code = exc.message, exc.hint, int(exc.exit_code)
    else:
        first = (str(exc).strip().splitlines() or [""])[0]
        message, hint, code = f"the gate/report process failed: {type(exc).__name__}: {first}", RERUN, ExitCode.FAILED
    return {"message": message, "hint": hint, "exit_code": int(code), "detail": traceback.format_exc(limit=6)}


class Drawer:
    """The charts and the page of `run --follow`'s reports, drawn on a thread of the process that
    checks the increments. Drawing takes 1.5-2 s of matplotlib; in line, the next increment's gate
    waited for it, and with that gate the next marts: every tenth increment or so came a second
    late (3-minute runs at 5,000 events/s: the increments' p95 freshness, 90th percentile, 2.6 s
    against 1.9 s with the drawing on a thread). The data is read before, in line, so dbt may
    rewrite the marts while the charts are drawn. One drawing at a time: they write the same files.
    """

    KEEP = 64   # results no owner asked for (one killed meanwhile) are dropped beyond this many

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._results: dict[str, float | BaseException] = {}   # run_id -> seconds, or what failed
        self._lock = threading.Lock()

    def submit(self, run_id: str, draw: Callable[[], None]) -> None:
        """``draw`` on a thread, once the drawing in flight is done."""
        self.wait()
        self._thread = threading.Thread(target=self._draw, args=(run_id, draw), name=f"draw-{run_id}", daemon=True)
        self._thread.start()

    def _draw(self, run_id: str, draw: Callable[[], None]) -> None:
        t = time.perf_counter()
        try:
            draw()
            result: float | BaseException = time.perf_counter() - t
        except Exception as exc:  # noqa: BLE001  (handed to the owner by collect())
            result = exc
        with self._lock:
            self._results[run_id] = result
            while len(self._results) > self.KEEP:
                del self._results[next(iter(self._results))]

    def wait(self) -> None:
        """Until the drawing in flight, if any, is done."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def collect(self, run_ids: Iterable[str]) -> dict[str, float]:
        """The seconds of those of ``run_ids``' drawings that are done; CheckerError for one that failed."""
        out: dict[str, float] = {}
        with self._lock:
            for run_id in run_ids:
                result = self._results.pop(run_id, None)
                if isinstance(result, BaseException):
                    first = (str(result).strip().splitlines() or [""])[0]
                    raise CheckerError(f"the report of increment {run_id} could not be drawn: "
                                       f"{type(result).__name__}: {first}",
                                       detail="".join(traceback.format_exception(result, limit=6)))
                if result is not None:
                    out[run_id] = result
        return out


DRAWER = Drawer()   # this process's: the checker child's, or the quality worker's


def _steps(gate_on: bool, report: bool = True) -> list:
    from studentflow.pipeline.derive import Report, Validate

    return [*([Validate()] if gate_on else []), *([Report(site=True)] if report else [])]


def _check(settings: Settings, job: dict[str, Any], read_done: Callable[[], None]) -> Checked:
    """The validate step on the increment's rows (when the gate is on) and the report step with
    the page (when asked), as `run` runs them, each timed; ``read_done`` once, when they no longer
    read the warehouse (the gate done and the report's data read). With ``background``, the
    report's drawing goes to :data:`DRAWER`; without, this check waits for the drawing in flight
    first (its owner's last check: every file is written when it answers). The seconds of the
    drawings of ``drawn_for`` (earlier increments' run ids) that are done come back with it."""
    from studentflow.pipeline.step import RunContext, timed
    from studentflow.pipeline.summary import RunOptions

    def once() -> None:
        nonlocal read_done
        read_done, done = (lambda: None), read_done
        done()

    if not job.get("background"):
        DRAWER.wait()
    drawn = DRAWER.collect(job.get("drawn_for", ()))
    ctx = RunContext(settings, RunOptions(gate=job["gate"], lang=job["lang"]), say=lambda _m: None,
                     run_id=job["run_id"], report_input=job["run_summary"], read_done=once)
    if job.get("background"):
        ctx.draw_later = lambda draw: DRAWER.submit(job["run_id"], draw)
    for step in _steps(job["gate"], job["report"]):
        with timed(ctx, step.name, step.title(ctx)) as record:
            step.run(ctx, record)
    once()
    seconds = {s.name: s.seconds for s in ctx.summary.stages}
    passed = bool(ctx.summary.gate_passed) if job["gate"] else None
    timings = {"gate": seconds.get("validate", 0.0), **({"report": seconds["report"]} if job["report"] else {})}
    return Checked(passed, ctx.gate_failed, timings, ctx.report_files, drawn)


def answer_check(conn, settings: Settings, job: dict[str, Any]) -> None:
    """One check asked over ``conn`` (by the owner of a checker child, or a RemoteChecker): "read"
    once the warehouse is read, then ("ok", Checked) or ("error", what to raise)."""
    try:
        conn.send(("ok", _check(settings, job, lambda: conn.send(("read", None)))))
    except Exception as exc:  # noqa: BLE001  (sent to the owner, which raises it)
        conn.send(("error", _error_of(exc)))


def read_answer(receive: Callable[[], tuple[str, Any]], on_read: Callable[[], None] | None) -> tuple[str, Any]:
    """The asking side of :func:`answer_check`: ``on_read`` at "read", then the answer (kind, payload)."""
    kind, payload = receive()
    while kind == "read":
        if on_read is not None:
            on_read()
        kind, payload = receive()
    return kind, payload


def _child(conn, settings: Settings, gate_on: bool) -> None:
    """The child's whole life: :func:`_serve`, then the end without a teardown of GX and the rest
    (procs.end_process: about 1 s of a `run --follow`'s stop)."""
    _serve(conn, settings, gate_on)
    procs.end_process(0)


def _serve(conn, settings: Settings, gate_on: bool) -> None:
    """The child: the steps' imports once, then one job per message until None or the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        from studentflow.pipeline.step import RunContext
        from studentflow.pipeline.summary import RunOptions

        ctx = RunContext(settings, RunOptions(gate=gate_on))
        for step in reversed(_steps(gate_on)):   # GX: seconds of imports, for nothing with --no-gate
            step.prepare(ctx)
        conn.send(("ready", None))
        while True:
            try:
                job = conn.recv()
            except (EOFError, OSError):   # the owner is gone
                return
            if job is None:
                DRAWER.wait()   # the last report's files are whole when the owner sees this process end
                return
            answer_check(conn, settings, job)
            procs.release_freed_memory()   # the heap a job freed, back to the system between jobs
    except (EOFError, OSError):   # the owner is gone
        return


class Checker:
    """The owner's side: start the child, hand it increments, stop it."""

    def __init__(self, settings: Settings, *, gate: bool = True, ready_timeout: float = 180) -> None:
        self.settings = settings
        self.ready_timeout = ready_timeout
        ctx = multiprocessing.get_context("spawn")   # never fork a process that holds a JVM gateway and threads
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_child, args=(child, settings, gate), name="studentflow-checker", daemon=True)
        self._child_end = child
        self._ready = False

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    def start(self) -> "Checker":
        self._proc.start()
        self._child_end.close()   # the child's copy is the only one left: its death closes the pipe
        return self

    def _receive(self, timeout: float | None) -> tuple[str, Any]:
        if not self._conn.poll(timeout):
            raise CheckerError(f"the gate/report process (pid {self._proc.pid}) did not answer in {timeout:g} s")
        try:
            return self._conn.recv()
        except (EOFError, OSError):   # the pipe closed, or was reset by the child's death
            raise self._ended() from None

    def _ended(self) -> CheckerError:
        self._proc.join(5)   # its exit code: -9 for a SIGKILL (the kernel's OOM killer sends one)
        return CheckerError(f"the gate/report process (pid {self._proc.pid}) ended with exit code "
                            f"{self._proc.exitcode} before it answered (its error is above, if it printed one)")

    def wait_ready(self) -> None:
        """Block until the child has imported Great Expectations and matplotlib."""
        if not self._ready:
            kind, _ = self._receive(self.ready_timeout)
            self._ready = kind == "ready"

    def check(self, run_id: str, *, gate: bool, lang: str, run_summary: Any, report: bool = True,
              on_read: Callable[[], None] | None = None, timeout: float = 600, background: bool = False,
              drawn_for: Iterable[str] = ()) -> Checked:
        """The gate on ``run_id``'s rows (when ``gate``) and the report (when ``report``); raises
        CheckerError. ``on_read``: called (on this thread) once the child no longer reads the
        warehouse, before the report is drawn. ``background``: the answer comes once the report's
        data is read, its drawing goes on in the child (see :class:`Drawer`); ``drawn_for``: the
        run ids of such reports whose drawing seconds are wanted (in the answer's ``drawn``)."""
        self.wait_ready()
        try:
            self._conn.send({"run_id": run_id, "gate": gate, "lang": lang, "run_summary": run_summary,
                             "report": report, "background": background, "drawn_for": list(drawn_for)})
        except OSError:   # BrokenPipeError: the child is gone
            raise self._ended() from None
        kind, payload = read_answer(lambda: self._receive(timeout), on_read)
        if kind != "ok":
            raise CheckerError.of(payload)
        return payload

    def stop(self, timeout: float = 10) -> None:
        if self._proc.pid is None:
            return
        try:
            self._conn.send(None)
        except OSError:   # the child is gone (BrokenPipeError)
            pass
        self._proc.join(timeout)
        if self._proc.is_alive():
            self._proc.kill()   # it ignores SIGTERM
            self._proc.join(5)
        self._conn.close()
