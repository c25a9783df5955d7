"""Reading what the report shows: the dbt marts (and the Spark run log) from the SQLite warehouse.

Every figure comes from a mart: ``major_age_stats`` (per-major table, median included),
``major_avg_age_over_20``, ``global_summary``, ``major_age_distribution`` (the boxplot's age
histogram). The quarantine reasons come from ``quarantine_students`` and the run history from
``pipeline_runs`` (both written by Spark). Any other mart of the dbt project is read as a table
(marts.py). The warehouse is opened read-only.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from studentflow.core.config import Settings
from studentflow.core.errors import DataError, WarehouseNotReady
from studentflow.core.contract import MARTS, QUARANTINE_TABLE, RUNS_TABLE
from studentflow.core.warehouse import connect_readonly, existing_tables
from studentflow.report import marts as marts_mod
from studentflow.report.texts import LANGS

ReportInputMissing = WarehouseNotReady   # the report's name for it: the warehouse or a mart is not there yet


@dataclass
class ReportData:
    stats: list[dict[str, Any]]
    over20: list[dict[str, Any]]
    summary: dict[str, Any]
    reasons: list[dict[str, Any]]
    last_run: dict[str, Any] | None
    ages: dict[str, list[tuple[int, int]]]  # major -> [(age, count)], from major_age_distribution
    quality: Any
    quality_path: Path
    runs: list[dict[str, Any]] = field(default_factory=list)  # the newest runs (settings.report_history_runs), oldest first
    runs_total: int = 0                                       # every run in pipeline_runs (runs.csv holds them)
    marts: list[marts_mod.MartTable] = field(default_factory=list)   # the marts without a section of their own


def _open_warehouse(settings: Settings) -> sqlite3.Connection:
    path = settings.warehouse
    if not path.is_file():
        raise ReportInputMissing(f"no warehouse at {path}",
                                 "run `studentflow run`, or `studentflow normalize` then `studentflow transform` first")
    # read-only: never create an empty file or touch what dbt built
    con = connect_readonly(path)
    con.row_factory = sqlite3.Row
    return con


def _relations(con: sqlite3.Connection) -> set[str]:
    return {r[0] for r in con.execute("select name from sqlite_master where type in ('table', 'view')")}


def _rows(con: sqlite3.Connection, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    return [dict(r) for r in con.execute(sql, tuple(params))]


def read(settings: Settings, as_of: str | None = None) -> ReportData:
    """What the report shows. ``as_of``: the normalize run whose marts are read (an increment of
    `run --follow`): the run history stops there, since the next increment may have committed its
    run before the marts had its rows (a page showed one run more than its marts held)."""
    con = _open_warehouse(settings)
    try:
        present = existing_tables(settings.warehouse)   # a file that is not SQLite: the one error every reader gives
        extra = marts_mod.described(settings.paths.dbt_target / "manifest.json", LANGS)
        missing = [m for m in (*MARTS, *(info.table for info in extra)) if m not in present]
        if missing:
            raise ReportInputMissing(f"the warehouse {settings.warehouse} has no dbt mart {', '.join(missing)}",
                                     "run `studentflow transform` first")
        stats = _rows(con, "select major, student_count, avg_age, median_age, min_age, max_age, stddev_age "
                           "from major_age_stats order by major")
        over20 = _rows(con, "select major, student_count, avg_age from major_avg_age_over_20 order by major")
        summary_rows = _rows(con, "select * from global_summary")
        if len(summary_rows) != 1:
            raise DataError(f"global_summary has {len(summary_rows)} rows instead of 1",
                            "run `studentflow transform` again (dbt tests check this mart)")
        reasons = []
        if QUARANTINE_TABLE in present:
            reasons = _rows(con, "select coalesce(reason, '?') as reason, count(*) as n "
                                 "from quarantine_students group by 1 order by n desc, reason")
        runs: list[dict[str, Any]] = []
        runs_total = 0
        if RUNS_TABLE in present:   # the newest only: the page's history and trend stay bounded
            # rows in commit order (one writer): up to as_of's, or all when as_of is unknown or None
            upto = ("rowid <= coalesce((select max(rowid) from pipeline_runs where run_id = ?), "
                    "(select max(rowid) from pipeline_runs))")
            runs = _rows(con, f"select * from pipeline_runs where {upto} "
                         "order by coalesce(finished_at, started_at) desc, started_at desc limit ?",
                         (as_of, settings.report_history_runs))[::-1]
            runs_total = con.execute(f"select count(*) from pipeline_runs where {upto}", (as_of,)).fetchone()[0]
        ages: dict[str, list[tuple[int, int]]] = {}
        for r in con.execute("select major, cast(age as integer) as age, student_count as n "
                             "from major_age_distribution order by 1, 2"):
            ages.setdefault(r["major"], []).append((r["age"], r["n"]))
        marts = marts_mod.read_tables(con, extra)
    except sqlite3.DatabaseError as exc:
        raise DataError(f"cannot read the warehouse {settings.warehouse}: {exc}",
                        "run `studentflow transform` again; if it persists, delete the file and run `studentflow run`") from None
    finally:
        con.close()
    quality_path = settings.paths.quality_summary
    quality = None
    if quality_path.is_file():
        try:
            quality = json.loads(quality_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise DataError(f"{quality_path} is not valid JSON: {exc}", "run `studentflow validate` again") from None
    last_run = max(runs, key=lambda r: (r.get("finished_at") or r.get("started_at") or "", r.get("started_at") or ""),
                   default=None)
    return ReportData(stats, over20, summary_rows[0], reasons, last_run, ages, quality, quality_path, runs, runs_total,
                      marts)


def write_runs_csv(settings: Settings, path: Path) -> int:
    """Every run of ``pipeline_runs``, oldest first, as CSV at ``path`` (written beside, then
    renamed); returns how many rows. Rows are streamed: the file's size, not memory, grows with
    the history. No table yet: a header-less empty file."""
    import csv

    con = _open_warehouse(settings)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    try:
        with tmp.open("w", encoding="utf-8", newline="") as out:
            if RUNS_TABLE in _relations(con):
                cur = con.execute("select * from pipeline_runs order by coalesce(finished_at, started_at), started_at")
                writer = csv.writer(out)
                writer.writerow([d[0] for d in cur.description])
                for row in cur:
                    writer.writerow(tuple(row))
                    n += 1
    except sqlite3.DatabaseError as exc:
        raise DataError(f"cannot read pipeline_runs in {settings.warehouse}: {exc}",
                        "run `studentflow normalize` again") from None
    finally:
        con.close()
    tmp.replace(path)
    return n


# --- what `studentflow run` tells the report (typed; the dict shapes older callers pass are read too) ---
@dataclass(frozen=True)
class StageRun:
    """One stage of a run: its name (a key of texts.STAGES), time, count and a detail line."""

    name: str
    seconds: float | None = None
    count: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class ReportRun:
    """The run summary the report prints: stages in order, counts by key (texts.COUNT_LABELS),
    the total time and the run id."""

    stages: tuple[StageRun, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)
    total_seconds: float | None = None
    run_id: str | None = None

    @classmethod
    def of(cls, value: "ReportRun | dict[str, Any] | None") -> "ReportRun | None":
        """A ReportRun from itself, or from a dict: ``{"run_id", "counts", "stages", "total_seconds"}``
        with ``stages`` a list of ``{"name"|"stage", "seconds", "count", "detail"}``, a mapping
        ``{name: {...}}`` or ``{name: seconds}``; a non-numeric ``counts["run_id"]`` is the run id."""
        if value is None or isinstance(value, ReportRun):
            return value
        stages = value.get("stages") or []
        if isinstance(stages, dict):
            stages = [{"name": k, **(v if isinstance(v, dict) else {"seconds": v})} for k, v in stages.items()]
        raw_counts = dict(value.get("counts") or {})
        counts = {k: v for k, v in raw_counts.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        run_id = value.get("run_id") or (raw_counts.get("run_id") if isinstance(raw_counts.get("run_id"), str) else None)
        return cls(stages=tuple(StageRun(str(s.get("name") or s.get("stage") or "?"), s.get("seconds"), s.get("count"),
                                         str(s.get("detail") or "")) for s in stages),
                   counts=counts, total_seconds=value.get("total_seconds"), run_id=run_id)
