"""The normalization job: staging -> pure transform -> conservation check -> SQLite warehouse.

    from spark_jobs.job import run_normalize
    result = run_normalize(settings)                   # starts (and stops) its own SparkSession
    result = run_normalize(settings, spark=spark)      # reuses yours (pipeline, benchmark, tests)

Nothing is written unless ``lines_read == clean + quarantined + duplicates_removed``.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from studentflow.config import Settings
from studentflow.errors import DataError

from spark_jobs import normalize as nz
from spark_jobs import staging as stg
from spark_jobs import warehouse as wh

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

WRITERS = ("python", "jdbc")


@dataclass
class NormalizeResult:
    run_id: str
    started_at: str
    finished_at: str
    lines_read: int
    clean: int
    quarantined: int
    duplicates_removed: int
    by_rule: dict[str, int]
    by_reason: dict[str, int]
    files: tuple[Path, ...]
    warehouse: Path
    writer: str
    timings: dict[str, float] = field(default_factory=dict)   # phase -> seconds (no Spark start-up)
    spark_startup: float | None = None                       # seconds, when this call started Spark

    @property
    def steady_seconds(self) -> float:
        return sum(self.timings.values())

    def summary(self) -> str:
        rules = ", ".join(f"{k} {v:,}" for k, v in sorted(self.by_rule.items()))
        reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(self.by_reason.items(), key=lambda kv: -kv[1]))
        rate = self.lines_read / self.steady_seconds if self.steady_seconds else 0.0
        return (f"normalize: run {self.run_id}: {self.lines_read:,} lines read = {self.clean:,} clean"
                f" ({rules or 'none'}) + {self.quarantined:,} quarantined ({reasons or 'none'})"
                f" + {self.duplicates_removed:,} duplicates removed; wrote {self.warehouse}"
                f" in {self.steady_seconds:.1f} s ({rate:,.0f} lines/s, Spark start-up excluded)")


def new_run_id(now: datetime) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _iso(now: datetime) -> str:
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_conservation(lines_read: int, clean: int, quarantined: int, duplicates: int) -> None:
    total = clean + quarantined + duplicates
    if lines_read != total:
        raise DataError(
            f"conservation check failed: read {lines_read:,} lines but clean {clean:,} + quarantined "
            f"{quarantined:,} + duplicates {duplicates:,} = {total:,}; nothing was written",
            "make sure nothing rewrites the staging files during the run (`studentflow connect lag --wait` "
            "appends only), re-run; if it persists it is a normalizer bug: report it with the staging file")


def run_normalize(settings: Settings, staging: Path | Iterable[Path] | None = None,
                  spark: "SparkSession | None" = None, progress: Callable[[str], None] = print,
                  writer: str = "python") -> NormalizeResult:
    """Normalize every staged line into the warehouse; see the module docstring."""
    if writer not in WRITERS:
        raise ValueError(f"writer must be one of {WRITERS}")
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def phase(name: str) -> float:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now
        return timings[name]

    files = stg.staging_files(settings.staging_dir if staging is None else staging)
    ref = nz.load_reference(settings.majors_file, settings.major_aliases_file)
    startup = None
    own_spark = False
    cleanups: list[Callable[[], object]] = []
    if spark is None:
        from spark_jobs.session import active_session, get_session

        spark = active_session()   # e.g. a test session or the pipeline's: reuse, never stop it
        if spark is None:
            progress(f"normalize: starting Spark ({settings.spark_master}) ...")
            t = time.perf_counter()
            spark = get_session(settings)
            own_spark = True
            startup = time.perf_counter() - t
            progress(f"normalize: [1/5] Spark ready in {startup:.1f} s")
            clock = time.perf_counter()
    try:
        started = datetime.now(timezone.utc)
        run_id = new_run_id(started)
        staged = stg.read_staging(spark, files)
        progress(f"normalize: [2/5] staging: {staged.lines_read:,} lines in {len(files)} file(s) "
                 f"({', '.join(p.name for p in files)}) ({phase('scan'):.1f} s)")
        result = nz.normalize(staged.lines, ref, age_min=settings.age_min, age_max=settings.age_max,
                              run_id=run_id)
        prepare = _collect_for_python if writer == "python" else _prepare_jdbc
        counts, write, cleanup = prepare(result, settings.warehouse)
        cleanups.append(cleanup)
        verdicts, by_rule, by_reason = counts
        progress(f"normalize: [3/5] transform: {verdicts.get('clean', 0):,} clean, "
                 f"{verdicts.get('quarantine', 0):,} quarantined, {verdicts.get('duplicate', 0):,} duplicates "
                 f"({phase('transform'):.1f} s)")
        check_conservation(staged.lines_read, verdicts.get("clean", 0), verdicts.get("quarantine", 0),
                           verdicts.get("duplicate", 0))
        progress(f"normalize: [4/5] conservation: {staged.lines_read:,} = clean + quarantined + duplicates "
                 f"({phase('check'):.1f} s)")
        finished = datetime.now(timezone.utc)
        out = NormalizeResult(
            run_id=run_id, started_at=_iso(started), finished_at=_iso(finished),
            lines_read=staged.lines_read, clean=verdicts.get("clean", 0),
            quarantined=verdicts.get("quarantine", 0), duplicates_removed=verdicts.get("duplicate", 0),
            by_rule=by_rule, by_reason=by_reason, files=files, warehouse=settings.warehouse, writer=writer,
            timings=timings, spark_startup=startup)
        write({"run_id": run_id, "started_at": out.started_at, "finished_at": out.finished_at,
               "lines_read": out.lines_read, "clean_count": out.clean, "quarantined_count": out.quarantined,
               "duplicates_removed": out.duplicates_removed,
               "staging_files": ",".join(p.name for p in files), "status": "ok"})
        progress(f"normalize: [5/5] warehouse: {settings.warehouse} replaced ({writer} writer) "
                 f"({phase('write'):.1f} s)")
        progress(out.summary())
        return out
    finally:
        for cleanup in cleanups:
            cleanup()
        if own_spark:
            spark.stop()


def _collect_for_python(result: nz.Normalized, db: Path):
    """One Spark job: every classified row to the driver as Arrow (raw text only for quarantine)."""
    import pyarrow.compute as pc
    from pyspark.sql import functions as F

    q = F.col("verdict") == "quarantine"
    only_q = lambda name: F.when(q, F.col(name)).alias(name)  # noqa: E731
    table = result.rows.select(
        "verdict", "rule", "reason", only_q("detail"), only_q("raw_line"), only_q("source_file"),
        only_q("line_number"), *[c for c in nz.CLEAN_COLUMNS if c not in ("rule", "run_id")],
        F.col("run_id"),
    ).toArrow()
    verdict = table.column("verdict")
    clean = table.filter(pc.equal(verdict, "clean")).sort_by([("event_id", "ascending")])
    quarantine = table.filter(pc.equal(verdict, "quarantine")).sort_by(
        [("source_file", "ascending"), ("line_number", "ascending")])
    verdicts = _value_counts(verdict)
    by_rule = _value_counts(clean.column("rule"))
    by_reason = _value_counts(quarantine.column("reason"))
    clean_cols = nz.CLEAN_COLUMNS
    quarantine_cols = nz.QUARANTINE_COLUMNS

    def write(run_row):
        wh.write_python(db, clean, quarantine, run_row, clean_cols, quarantine_cols)
    return (verdicts, by_rule, by_reason), write, lambda: None


def _value_counts(column) -> dict[str, int]:
    import pyarrow.compute as pc

    out = {}
    for item in pc.value_counts(column).to_pylist():
        out[item["values"]] = item["counts"]
    return out


def _prepare_jdbc(result: nz.Normalized, db: Path):
    """Cache the classified rows, count verdicts in one small job, write later through JDBC."""
    from pyspark.sql import functions as F

    rows = result.rows.cache()
    counts = rows.groupBy("verdict", "rule", "reason").count().collect()
    verdicts: dict[str, int] = {}
    by_rule: dict[str, int] = {}
    by_reason: dict[str, int] = {}
    for r in counts:
        verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0) + r["count"]
        if r["verdict"] == "clean":
            by_rule[r["rule"]] = by_rule.get(r["rule"], 0) + r["count"]
        elif r["verdict"] == "quarantine":
            by_reason[r["reason"]] = by_reason.get(r["reason"], 0) + r["count"]
    clean = (rows.where(F.col("verdict") == "clean").select(*nz.CLEAN_COLUMNS)
             .repartition(1).sortWithinPartitions("event_id"))
    quarantine = (rows.where(F.col("verdict") == "quarantine").select(*nz.QUARANTINE_COLUMNS)
                  .repartition(1).sortWithinPartitions("source_file", "line_number"))

    def write(run_row):
        wh.write_jdbc(db, clean, quarantine, run_row)
    return (verdicts, by_rule, by_reason), write, rows.unpersist
