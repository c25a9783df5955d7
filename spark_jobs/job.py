"""The normalization job: new staged lines -> pure transform -> one warehouse transaction.

    from spark_jobs.job import run_normalize
    result = run_normalize(settings)                      # the next increment, on the stack's Spark server
    result = run_normalize(settings, spark=spark)         # reuses (and keeps) your session
    result = run_normalize(settings, full_refresh=True)   # rebuild from everything staged

Each run reads only the complete lines staged since the watermarks (see increments.py) and
commits its rows, the new watermarks and its ``pipeline_runs`` row in one SQLite transaction,
after checking ``lines read = clean + quarantined + duplicates`` against a count made from the
staged bytes. A run killed at any point leaves the warehouse as it was: the next one redoes it.
"""
from __future__ import annotations

import itertools
import secrets
import shutil
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from studentflow.core.config import Settings
from studentflow.core.contract import CLEAN_COLUMNS
from studentflow.core.errors import DataError, StackError
from studentflow.core.reference import Reference, load_reference
from studentflow.core.staging import HINT, staging_files

from spark_jobs import incoming
from spark_jobs import increments as inc
from spark_jobs import normalize as nz
from spark_jobs import staging as stg
from spark_jobs import warehouse as wh
from spark_jobs.session import arrow_batches

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

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
    mode: str = "incremental"                                # or full_refresh
    headers: int = 0                                         # CSV header lines: counted, not written
    timings: dict[str, float] = field(default_factory=dict)   # phase -> seconds (no Spark start-up)
    spark_startup: float | None = None                       # seconds, when this call started Spark

    @property
    def written(self) -> bool:
        """False when there was no new complete line: nothing was committed, no run recorded."""
        return self.lines_read > 0

    @property
    def steady_seconds(self) -> float:
        return sum(self.timings.values())

    def summary(self) -> str:
        if not self.written:
            return f"normalize: no new complete line in staging since the last run; {self.warehouse} unchanged"
        rules = ", ".join(f"{k} {v:,}" for k, v in sorted(self.by_rule.items()))
        reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(self.by_reason.items(), key=lambda kv: -kv[1]))
        rate = self.lines_read / self.steady_seconds if self.steady_seconds else 0.0
        return (f"normalize: run {self.run_id} ({self.mode.replace('_', ' ')}): {self.lines_read:,} lines read"
                f" = {self.clean:,} clean ({rules or 'none'}) + {self.quarantined:,} quarantined"
                f" ({reasons or 'none'}) + {self.duplicates_removed:,} duplicates removed"
                + (f" + {self.headers:,} header lines" if self.headers else "") + f"; wrote {self.warehouse}"
                f" in {self.steady_seconds:.1f} s ({rate:,.0f} lines/s, Spark start-up excluded)")


def new_run_id(now: datetime) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _iso(now: datetime) -> str:
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Clock:
    """Seconds per phase, for the progress lines and the benchmark."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self.t = time.perf_counter()

    def restart(self) -> None:
        self.t = time.perf_counter()

    def __call__(self, name: str) -> float:
        now = time.perf_counter()
        self.timings[name] = self.timings.get(name, 0.0) + now - self.t
        self.t = now
        return self.timings[name]


def run_normalize(settings: Settings, staging: Path | Iterable[Path] | None = None,
                  spark: "SparkSession | None" = None, progress: Callable[[str], None] = print,
                  full_refresh: bool = False, before_commit: Callable[[], None] | None = None) -> NormalizeResult:
    """Normalize the next increment (or everything, with ``full_refresh``) into the warehouse.

    ``before_commit``: called once Spark is done with the increment, before the warehouse
    transaction (single-threaded SQLite: a core is free from here on), or at once when there is
    nothing new."""
    clock = _Clock()
    started = datetime.now(timezone.utc)
    mode = "full_refresh" if full_refresh else "incremental"
    files, slices = _plan(settings, staging, full_refresh)
    lines = sum(s.lines for s in slices)
    result = NormalizeResult(new_run_id(started), _iso(started), _iso(started), lines, 0, 0, 0, {}, {}, files,
                             settings.warehouse, mode=mode, timings=clock.timings)
    progress(f"normalize: [1/5] {mode.replace('_', ' ')}: {lines:,} new lines in "
             f"{len(slices)} of {len(files)} staging file(s) ({clock('plan'):.1f} s)")
    if not slices:
        if full_refresh:
            raise DataError("staging holds no complete line: nothing to rebuild from", HINT)
        if before_commit is not None:
            before_commit()
        progress(result.summary())
        return result

    columns = wh.ensure_tables(settings.warehouse)
    ref = load_reference(settings.majors_file, settings.major_aliases_file)
    attached = None
    if spark is None:   # attach to the stack's server (or one started for this call: say so)
        attached = _attach(settings, result, progress)
        spark = attached.session
        clock.restart()
    scratch = settings.paths.normalize_scratch / result.run_id
    try:
        chunks = inc.materialize(slices, scratch)
        rows = _transform(settings, spark, ref, columns, chunks, scratch, result.run_id, clock, progress)
        if before_commit is not None:
            before_commit()
        _commit(settings, result, rows, slices, chunks, full_refresh)
        progress(f"normalize: [5/5] committed: {lines:,} = {result.clean:,} clean + {result.quarantined:,} "
                 f"quarantined + {result.duplicates_removed:,} duplicates"
                 + (f" + {result.headers:,} headers" if result.headers else "") + f"; watermarks moved ({clock('commit'):.1f} s)")
        progress(result.summary())
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if attached is not None:
            attached.close()


def _plan(settings: Settings, staging: Path | Iterable[Path] | None,
          full_refresh: bool) -> tuple[tuple[Path, ...], list[inc.Slice]]:
    """The staging files and what this run reads of each (complete lines after the watermarks)."""
    marks = wh.read_watermarks(settings.warehouse)
    if staging is not None or full_refresh or not marks:
        files = stg.staging_files(settings.staging_dir if staging is None else staging)   # something to read
    else:
        files = staging_files(settings.staging_dir)
    return files, inc.plan(files, marks, full_refresh=full_refresh)


def _attach(settings: Settings, result: NormalizeResult, progress: Callable[[str], None]):
    """The stack's Spark server (or one started for this call, whose start-up goes in ``result``)."""
    from spark_jobs.server import Attached

    t = time.perf_counter()
    attached = Attached(settings, progress=lambda m: progress(f"normalize: {m}"))
    result.spark_startup = time.perf_counter() - t
    if attached.server.start_seconds is not None:
        progress(f"normalize: Spark ready in {result.spark_startup:.1f} s")
    return attached


def _transform(settings: Settings, spark: "SparkSession", ref: Reference, columns: list[str], chunks: list[inc.Chunk],
               scratch: Path, run_id: str, clock: _Clock, progress: Callable[[str], None]) -> incoming.Received:
    """Spark reads the increment's chunks and classifies every line; the rows land in ``scratch``
    (clean ones as the warehouse's ``columns``) as they arrive, checked against the staged bytes,
    and the duplicates within them are judged."""
    with _spark_errors(settings):
        def query(group: list[inc.Chunk]):   # (schema, batches); runs when its batches are read
            return arrow_batches(nz.normalize(stg.read_staging(spark, group).lines, ref, age_min=settings.age_min,
                                              age_max=settings.age_max))

        groups = stg.query_groups(chunks)
        progress(f"normalize: [2/5] {sum(c.lines for c in chunks):,} lines in {len(chunks)} chunk(s)"
                 + (f", {len(groups)} queries" if len(groups) > 1 else "") + f" ({clock('scan'):.1f} s)")
        schema, first = query(groups[0])
        # one query after the other, each planned when the one before has sent its last batch
        batches = itertools.chain(first, (batch for group in groups[1:] for batch in query(group)[1]))
        rows = incoming.receive(batches, schema, columns, scratch, run_id)
    progress(f"normalize: [3/5] transform: {sum(rows.counts.values()):,} rows landed as Spark sent them "
             f"({clock('transform'):.1f} s)")
    stg.check_line_stats(rows.line_stats(), chunks)
    incoming.judge_duplicates(rows)
    progress(f"normalize: [4/5] duplicates judged ({clock('dedup'):.1f} s)")
    return rows


def _commit(settings: Settings, result: NormalizeResult, rows: incoming.Received, slices: list[inc.Slice],
            chunks: list[inc.Chunk], full_refresh: bool) -> None:
    """One warehouse transaction: the rows, the watermarks and the run's row; counts into ``result``."""
    with closing(wh.connect(settings.warehouse)) as conn:
        result.finished_at = _iso(datetime.now(timezone.utc))
        run_row = {"run_id": result.run_id, "started_at": result.started_at, "finished_at": result.finished_at,
                   "lines_read": result.lines_read, "staging_files": ",".join(s.name for s in slices),
                   "status": "ok", "mode": result.mode}
        counts = wh.commit(conn, rows, run_id=result.run_id, lines_expected=result.lines_read, run_row=run_row,
                           marks=[s.watermark() for s in slices], full_refresh=full_refresh,
                           updated_at=result.finished_at, raw_lines=_raw_lines_of(chunks))
    result.by_rule, result.by_reason = counts["by_rule"], counts["by_reason"]
    result.clean, result.quarantined = counts.get("clean", 0), counts.get("quarantine", 0)
    result.duplicates_removed, result.headers = counts.get("duplicate", 0), counts.get("header", 0)


@contextmanager
def _spark_errors(settings: Settings):
    """A server that cannot read the increment's files (a remote cluster without the state folder)
    or that went away is a clear error, not a Java or gRPC stack trace."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001  (pyspark's errors differ between Spark versions)
        text = str(exc)
        if "PATH_NOT_FOUND" in text or "FileNotFoundException" in text or "does not exist" in text:
            raise DataError(f"the Spark server cannot read the increment's files under {settings.state_dir}: "
                            f"{text.strip().splitlines()[0][:300]}",
                            "a remote Spark (spark_remote) must see the same files: put STUDENTFLOW_STATE_DIR "
                            "on a filesystem the cluster mounts at the same path") from None
        if "UNAVAILABLE" in text or "Connection refused" in text or "Socket closed" in text:
            raise StackError(f"the Spark Connect server stopped answering: "
                             f"{text.strip().splitlines()[0][:200]}; nothing of this increment was written",
                             "rerun: `normalize` and `run` restart the stack's server (`studentflow stack status` "
                             "shows it); with spark_remote, check that endpoint") from None
        raise


# One line of each kind the salvage rules know, for :func:`warm_up`.
_WARM_UP_LINES = (
    '{"event_id":"00000000-0000-4000-8000-000000000001","student_id":"S1","first_name":"Léa","last_name":"Martin",'
    '"age":22,"major":"Physique","emitted_at":"2026-01-01T00:00:00Z","schema_version":1}',
    '{"prénom": "Léa", "nom": "Martin", "age": "22", "filière": "physique "}',
    "Léa,Martin,22,Physique", "first_name:Léa,last_name:Martin,age:22,major:Physique",
    "prénom,nom,age,filière", "", "hello", '{"first_name": "Léa"',
)


def warm_up(settings: Settings, spark: "SparkSession") -> float:
    """Run the Spark part of normalize once on a few lines of every kind, writing nothing.

    A fresh server spends seconds on its first queries that are not about their data: loading and
    compiling classes, generating code, the JIT. Whoever starts a server ahead of time (``stack
    up``, ``run`` while events are produced, ``run --follow`` before its first increment) pays
    them here, off the critical path.
    Returns the seconds it took."""
    t = time.perf_counter()
    folder = settings.paths.normalize_scratch / f"warm-up-{secrets.token_hex(3)}"
    try:
        copy = folder / "0" / "warm-up.txt"
        copy.parent.mkdir(parents=True)
        copy.write_text("".join(f"{line}\n" for line in _WARM_UP_LINES), encoding="utf-8")
        chunk = inc.Chunk(copy, copy.name, 1, len(_WARM_UP_LINES))
        ref = load_reference(settings.majors_file, settings.major_aliases_file)
        schema, batches = arrow_batches(nz.normalize(stg.read_staging(spark, [chunk]).lines, ref,
                                                     age_min=settings.age_min, age_max=settings.age_max))
        incoming.judge_duplicates(incoming.receive(batches, schema, CLEAN_COLUMNS, folder, "warm-up"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return time.perf_counter() - t


def _raw_lines_of(chunks: list[inc.Chunk]):
    """A lookup (file, line) -> the staged text, reading the increment's copies (rarely needed:
    only rows that turn out to conflict, whose text Spark did not send)."""
    def lookup(wanted: list[tuple[str, int]]) -> dict[tuple[str, int], str]:
        out: dict[tuple[str, int], str] = {}
        for c in chunks:
            numbers = {n for f, n in wanted if f == c.name and c.first_line <= n < c.first_line + c.lines}
            if not numbers:
                continue
            last = max(numbers)
            with open(c.path, "rb") as fh:
                for i, raw in enumerate(fh, start=c.first_line):
                    if i in numbers:
                        out[(c.name, i)] = raw.rstrip(b"\n").decode("utf-8", "replace")
                    if i >= last:   # the commit asks in batches, in line order: no need to read on
                        break
        return out
    return lookup


def _warm_up_main(url: str) -> int:
    """`python -m spark_jobs.job warm-up sc://HOST:PORT`: the background warm-up `stack up` starts."""
    from studentflow.core import config
    from studentflow.core.endpoints import SparkState
    from spark_jobs.server import Attached, Server

    settings = config.load(spark_remote=url)
    state = SparkState.read(settings)   # the record just written: the shared session is what gets warm
    server = Server(url, session_id=state.session_id if state and state.url == url else "")
    with Attached(settings, server=server) as spark:
        for _ in range(2):   # the second pass runs on compiled code: the JIT has seen the plan twice
            print(f"warm-up on {url}: {warm_up(settings, spark):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "warm-up":
        sys.exit(_warm_up_main(sys.argv[2]))
    sys.exit("usage: python -m spark_jobs.job warm-up sc://HOST:PORT")
