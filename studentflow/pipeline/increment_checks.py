"""The gate and the report of each `run --follow` increment, in the quality worker process
(studentflow/pipeline/quality_worker.py), waited for on a thread of this process beside the next
increment's normalize; then the increment's row in ``follow_increments``."""
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
    def __init__(self, ctx: RunContext) -> None:
        from studentflow.pipeline.quality_worker import Checker

        self.ctx = ctx
        self.worker = Checker(ctx.settings, gate=ctx.options.gate).start()   # runs the steps' prepare() meanwhile
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.increments: list[dict] = []   # one row per increment, with its phases
        self.gate_failures = 0

    def start(self, res, ok: bool, fresh: Freshness | None, in_marts: datetime, phases: dict[str, float]) -> None:
        """The increment's gate and report, on a thread of their own (joined before the next marts)."""
        self.thread = threading.Thread(target=self._check, args=(res, ok, fresh, in_marts, phases),
                                       name="follow-gate-report", daemon=True)
        self.thread.start()

    def _check(self, res, ok: bool, fresh: Freshness | None, in_marts: datetime, phases: dict[str, float]) -> None:
        """Errors are kept for the loop's thread, which raises them when it joins this one."""
        ctx = self.ctx
        try:
            checked = self.worker.check(res.run_id, gate=ctx.options.gate, lang=ctx.options.lang,
                                        run_summary=ctx.summary.as_report_input())
            phases.update(checked.seconds)
            passed = None if checked.passed is None else bool(checked.passed and ok)
            if passed is False:
                self.gate_failures += 1
                failed = ", ".join(checked.failed) if checked.failed else "dbt failed"
                ctx.note(f"gate FAILED on increment {res.run_id}: {failed} (committed; the loop goes on)")
            for f in checked.files:
                ctx.summary.outputs[Path(f).name] = f
            row = {"run_id": res.run_id, "finished_at": in_marts.isoformat(timespec="milliseconds"),
                   "lines": res.lines_read, "seconds": sum(phases.values()),
                   "freshness_p50_s": fresh and fresh.p50, "freshness_p95_s": fresh and fresh.p95,
                   "freshness_max_s": fresh and fresh.max, "gate_passed": None if passed is None else int(passed),
                   **{f"{p}_s": phases.get(p) for p in PHASES}}
            self._record(row)
            self.increments.append({**row, "phases": phases})
        except BaseException as exc:  # noqa: BLE001  (raised on the loop's thread by join())
            self.error = exc

    def _record(self, row: dict) -> None:
        from spark_jobs.warehouse import apply_schema

        with closing(sqlite3.connect(self.ctx.settings.warehouse, timeout=60)) as conn, conn:
            apply_schema(conn)   # the table, and the phase columns an older warehouse lacks
            conn.execute(f"INSERT INTO follow_increments ({', '.join(row)}) VALUES "
                         f"({', '.join('?' * len(row))})", list(row.values()))

    def join(self) -> None:
        """Wait for the previous increment's gate and report; raise what went wrong there."""
        if self.thread is not None:
            self.thread.join()
            self.thread = None
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
