"""The gate of each `run --follow` increment and the report, in the stack's quality worker
(studentflow/pipeline/quality_service.py) or else in a checker child of the run
(studentflow/pipeline/quality_worker.py), waited for on a thread of this process beside the next
increment's normalize; then the increment's row in ``follow_increments``.

Every increment is gated; the report and the page are rebuilt with an increment when the owner
asks (at most every ``--report-every`` seconds), and once more at the end when the last
increment went without one, so the last report shows the last marts. A report's drawing goes on
in the worker after its check answered (quality_worker.Drawer: the next gate does not wait for the
charts); its seconds come back with a later answer and are added to its increment's row, and the
last check waits for it, so every file is written when the loop ends."""
from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing
from datetime import datetime
from pathlib import Path

from studentflow.pipeline.live import PHASES, Freshness
from studentflow.pipeline.step import RunContext


class IncrementChecks:
    def __init__(self, ctx: RunContext, worker=None) -> None:
        """``worker``: a started Checker or RemoteChecker to use; by default the stack's quality
        worker (``ctx.quality``), else a checker child started here."""
        from studentflow.pipeline.quality_worker import Checker

        self.ctx = ctx
        if worker is not None:
            self.worker = worker
        elif ctx.quality is not None:   # the stack's quality worker (or the configured one): imports already paid
            from studentflow.pipeline.quality_service import RemoteChecker

            self.worker = RemoteChecker(ctx.quality, ctx.settings, gate=ctx.options.gate, say=ctx.note)
        else:
            self.worker = Checker(ctx.settings, gate=ctx.options.gate).start()   # runs the steps' prepare() meanwhile
        self.thread: threading.Thread | None = None
        self.read: threading.Event | None = None   # set once the last check no longer reads the warehouse
        self.error: BaseException | None = None
        self.increments: list[dict] = []   # one row per increment, with its phases
        self.gate_failures = 0
        self.unreported: str | None = None   # the last increment's run_id when its report was skipped
        self.drawing: list[str] = []   # run ids whose report the worker still draws (or whose seconds are to come)

    def start(self, res, ok: bool, fresh: Freshness | None, in_marts: datetime, phases: dict[str, float],
              *, report: bool = True) -> None:
        """The increment's gate, and the report when ``report``, on a thread of their own (joined
        before the next marts)."""
        self.unreported = None if report else res.run_id
        previous, self.read = self.thread, threading.Event()
        self.thread = threading.Thread(target=self._check, name="follow-gate-report", daemon=True,
                                       args=(previous, self.read, res, ok, fresh, in_marts, phases, report))
        self.thread.start()

    def final_report(self) -> None:
        """The report and the page once more when the last increment went without them; in any
        case, the last report's drawing waited for (and its seconds recorded)."""
        if self.unreported is None and not self.drawing:
            return
        ctx = self.ctx
        checked = self.worker.check(self.unreported or self.drawing[-1], gate=False, lang=ctx.options.lang,
                                    run_summary=ctx.summary.as_report_input(), report=self.unreported is not None,
                                    drawn_for=self.drawing)
        self.unreported = None
        self._add_drawn(checked.drawn)
        self.drawing.clear()   # drawn now; one the worker never answered for (a fallback) stays as read
        self._keep_outputs(checked.files)

    def _check(self, previous: threading.Thread | None, read: threading.Event, res, ok: bool,
               fresh: Freshness | None, in_marts: datetime, phases: dict[str, float], report: bool) -> None:
        """After the previous increment's check (the child takes one at a time). Errors are kept
        for the loop's thread, which raises them when it waits for this one."""
        ctx = self.ctx
        try:
            if previous is not None:
                previous.join()
            if self.error is not None:   # the previous check failed: the loop raises that first
                return
            checked = self.worker.check(res.run_id, gate=ctx.options.gate, lang=ctx.options.lang,
                                        run_summary=ctx.summary.as_report_input(), report=report,
                                        on_read=read.set, background=True, drawn_for=self.drawing)
            self._add_drawn(checked.drawn)
            if report:
                self.drawing.append(res.run_id)
            phases.update(checked.seconds)
            passed = None if checked.passed is None else bool(checked.passed and ok)
            if passed is False:
                self.gate_failures += 1
                failed = ", ".join(checked.failed) if checked.failed else "dbt failed"
                ctx.note(f"gate FAILED on increment {res.run_id}: {failed} (committed; the loop goes on)")
            self._keep_outputs(checked.files)
            row = {"run_id": res.run_id, "finished_at": in_marts.isoformat(timespec="milliseconds"),
                   "lines": res.lines_read, "seconds": sum(phases.values()),
                   "freshness_p50_s": fresh and fresh.p50, "freshness_p95_s": fresh and fresh.p95,
                   "freshness_max_s": fresh and fresh.max, "gate_passed": None if passed is None else int(passed),
                   **{f"{p}_s": phases.get(p) for p in PHASES}}
            self._record(row)
            self.increments.append({**row, "phases": phases})
        except BaseException as exc:  # noqa: BLE001  (raised on the loop's thread by join())
            self.error = exc
        finally:
            read.set()

    def _keep_outputs(self, files) -> None:
        """The report's files in the run summary, by name (a later report's replace an earlier's)."""
        for f in files:
            self.ctx.summary.outputs[Path(f).name] = f

    def _add_drawn(self, drawn: dict[str, float]) -> None:
        """The drawing seconds of earlier increments' reports, added to their report phase."""
        if not drawn:
            return
        for row in self.increments:
            seconds = drawn.get(row["run_id"])
            if seconds is not None:
                row["phases"]["report"] = row["phases"].get("report", 0.0) + seconds
                row["report_s"], row["seconds"] = row["phases"]["report"], row["seconds"] + seconds
        with closing(sqlite3.connect(self.ctx.settings.warehouse, timeout=60)) as conn, conn:
            conn.executemany("UPDATE follow_increments SET report_s = coalesce(report_s, 0) + ?, seconds = seconds + ? "
                             "WHERE run_id = ?", [(s, s, run_id) for run_id, s in drawn.items()])
        self.drawing[:] = [run_id for run_id in self.drawing if run_id not in drawn]

    def _record(self, row: dict) -> None:
        from spark_jobs.warehouse import apply_schema

        with closing(sqlite3.connect(self.ctx.settings.warehouse, timeout=60)) as conn, conn:
            apply_schema(conn)   # the table, and the phase columns an older warehouse lacks
            conn.execute(f"INSERT INTO follow_increments ({', '.join(row)}) VALUES "
                         f"({', '.join('?' * len(row))})", list(row.values()))

    def wait_read(self) -> None:
        """Wait until the last increment's checks no longer read the warehouse (its gate done and
        its report's data read: the report may still be drawing); raise what went wrong there."""
        if self.read is not None:
            self.read.wait()
        self._raise()

    def join(self) -> None:
        """Wait for the last increment's gate and report; raise what went wrong there."""
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            exc, self.error = self.error, None
            raise exc

    def stop(self) -> None:
        """Stopped by a signal: the last gate and report still finish, unless a later signal asks
        to stop at once; then the worker process stops."""
        stopping = self.ctx.stopping
        if self.thread is not None:
            deadline = time.monotonic() + 120
            while self.thread.is_alive() and time.monotonic() < deadline and not stopping.forced_by:
                self.thread.join(timeout=0.2)
            if self.error is not None and not stopping.forced_by:
                self.ctx.note(f"the last increment's gate or report failed: {self.error}")
        self.worker.stop(timeout=1 if stopping.forced_by else 10)
