"""An increment's classified rows as Spark sends them: landed, counted and judged batch by batch.

Spark Connect streams a query's result as Arrow record batches. :func:`receive` handles each
batch as it arrives and then lets it go, so the Python process holds one batch at a time, however
big the increment:

- its clean rows go to the landing file (ADBC, see spark_jobs/landing.py), table ``clean_rows``,
  with their id and content hashes in table ``clean_keys`` of the same file, row for row;
- its quarantine rows go to table ``quarantine_rows`` of the same file; every verdict and every
  quarantine reason is counted;
- its runs of consecutive lines are noted as :class:`Segment` objects (one per batch, usually), so
  that the line order, the line-number check and the copy into the warehouse need no per-row state.

:func:`judge_duplicates` then finds the later occurrences of an event_id within the increment in
SQL on the landing file, by the rule of :mod:`spark_jobs.dedup`: the first occurrence (file, line)
wins; a later one with the same content is a ``duplicate``, with other content a quarantined
``conflicting_duplicate``. They move, judged, from ``clean_rows`` to table ``later_rows`` of the
same file (``INSERT .. SELECT`` and ``DELETE``), where the commit judges them again against the
warehouse (spark_jobs/warehouse.py). No row of them becomes a Python object: the Python process
holds a few counters whatever the number of duplicates.
"""
from __future__ import annotations

import shutil
import sqlite3
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from studentflow.core.contract import QUARANTINE_COLUMNS

from spark_jobs import landing
from spark_jobs.dedup import conflict_detail_sql

CLEAN_ROWS, CLEAN_KEYS, QUARANTINE_ROWS = landing.TABLE, "clean_keys", "quarantine_rows"
LATER_ROWS = "later_rows"   # the later occurrences of an id: the clean columns, then JUDGED
JUDGED = ("verdict", "reason", "detail", "raw_line")
KEYS = ("_idh", "_sig")


@dataclass
class Segment:
    """Consecutive rows of one staging file, lines strictly increasing, in one batch."""

    source_file: str
    first_line: int
    last_line: int
    rows: int
    first_rowid: int    # the landing rowid its first clean row got (rowids count from 1)
    clean: int          # how many clean rows it landed

    @property
    def key(self) -> tuple[str, int]:
        return self.source_file, self.first_line


@dataclass
class Received:
    """What :func:`receive` kept of an increment: the landing file and what fits in a few KB."""

    path: Path                                   # the landing file (closed by ADBC)
    counts: Counter = field(default_factory=Counter)    # verdict -> rows
    by_rule: Counter = field(default_factory=Counter)   # clean rows per parse rule
    reasons: Counter = field(default_factory=Counter)   # landed quarantine rows per reason
    segments: list[Segment] = field(default_factory=list)   # in arrival order

    def in_line_order(self) -> list[Segment]:
        return sorted(self.segments, key=lambda s: s.key)

    def line_stats(self) -> dict[str, tuple[int, int, int, bool]]:
        """file -> (rows, first line, last line, every line once): what the line-number check compares."""
        out: dict[str, tuple[int, int, int, bool]] = {}
        last: dict[str, int] = {}
        for s in self.in_line_order():
            rows, lo, hi, once = out.get(s.source_file, (0, s.first_line, s.last_line, True))
            once = once and last.get(s.source_file, s.first_line - 1) < s.first_line
            out[s.source_file] = (rows + s.rows, min(lo, s.first_line), max(hi, s.last_line), once)
            last[s.source_file] = s.last_line
        return out

    def clean_ranges(self) -> list[tuple[int, int]]:
        """Landing rowid ranges [first, end) of the clean rows in line order, adjacent ones merged."""
        out: list[tuple[int, int]] = []
        for s in self.in_line_order():
            if not s.clean:
                continue
            if out and out[-1][1] == s.first_rowid:
                out[-1] = (out[-1][0], s.first_rowid + s.clean)
            else:
                out.append((s.first_rowid, s.first_rowid + s.clean))
        return out


def _segments(batch: Any, clean_mask: Any, next_rowid: int) -> list[Segment]:
    """The runs of ``batch`` (one file, strictly increasing lines): usually the whole batch."""
    import numpy as np
    import pyarrow.compute as pc

    n = batch.num_rows
    files = batch.column(batch.schema.get_field_index("source_file"))
    lines = batch.column(batch.schema.get_field_index("line_number")).to_numpy(zero_copy_only=False)
    cut = np.zeros(n, dtype=bool)
    if n > 1:
        cut[1:] = np.diff(lines) <= 0
        cut[1:] |= pc.not_equal(files.slice(1), files.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    starts = [0, *np.flatnonzero(cut).tolist(), n]
    clean_before = np.concatenate(([0], np.cumsum(clean_mask.to_numpy(zero_copy_only=False))))
    out = []
    for a, b in zip(starts, starts[1:]):
        if a == b:
            continue
        clean = int(clean_before[b] - clean_before[a])
        out.append(Segment(files[a].as_py(), int(lines[a]), int(lines[b - 1]), b - a,
                           next_rowid + int(clean_before[a]), clean))
    return out


def receive(batches: Iterable[Any], schema: Any, clean_columns: Sequence[str], folder: Path,
            run_id: str) -> Received:
    """Land the clean rows of ``batches`` (Arrow record batches of ``schema``, the normalize
    output) as ``clean_columns``, and its quarantine rows as QUARANTINE_COLUMNS, in a new landing
    file under ``folder``; count the rest."""
    import pyarrow as pa

    clean_schema = pa.schema([pa.field("run_id", pa.string()) if c == "run_id" else schema.field(c)
                              for c in clean_columns])
    keys_schema = pa.schema([schema.field(k) for k in KEYS])
    q_schema = pa.schema([pa.field("run_id", pa.string()) if c == "run_id" else schema.field(c)
                          for c in QUARANTINE_COLUMNS])
    later_schema = pa.schema([*clean_schema, *(schema.field(c) for c in JUDGED)])
    got = Received(landing.new_path(folder))
    try:
        _land(got, batches, schema, clean_columns, (clean_schema, keys_schema, q_schema, later_schema), run_id)
    except BaseException:
        shutil.rmtree(got.path.parent, ignore_errors=True)
        raise
    return got


def _with_run_id(batch: Any, columns: Sequence[str], schema: Any, run_id: str) -> Any:
    import pyarrow as pa

    run_ids = pa.repeat(pa.scalar(run_id, pa.string()), batch.num_rows)
    return pa.RecordBatch.from_arrays([run_ids if c == "run_id" else batch.column(c) for c in columns], schema=schema)


def _land(got: Received, batches: Iterable[Any], schema: Any, clean_columns: Sequence[str], schemas: tuple,
          run_id: str) -> None:
    import pyarrow.compute as pc

    clean_schema, keys_schema, q_schema, later_schema = schemas
    next_rowid = 1
    with landing.Writer(got.path) as writer:
        for batch in batches:
            if batch.schema != schema:
                batch = batch.cast(schema)
            verdicts = batch.column(schema.get_field_index("verdict"))
            got.counts.update({v["values"]: v["counts"] for v in pc.value_counts(verdicts).to_pylist()})
            is_clean = pc.equal(verdicts, "clean")
            got.segments.extend(_segments(batch, is_clean, next_rowid))
            clean = batch.filter(is_clean)
            got.by_rule.update({v["values"]: v["counts"] for v in pc.value_counts(clean.column("rule")).to_pylist()})
            judged = _judged_already(batch, verdicts)
            if pc.any(judged).as_py():
                writer.append(LATER_ROWS, _with_run_id(batch.filter(judged), later_schema.names, later_schema,
                                                       run_id))
            quarantine = batch.filter(pc.and_(pc.equal(verdicts, "quarantine"), pc.invert(judged)))
            if quarantine.num_rows:
                got.reasons.update({v["values"]: v["counts"]
                                    for v in pc.value_counts(quarantine.column("reason")).to_pylist()})
                writer.append(QUARANTINE_ROWS, _with_run_id(quarantine, QUARANTINE_COLUMNS, q_schema, run_id))
            if clean.num_rows:
                writer.append(CLEAN_ROWS, _with_run_id(clean, clean_columns, clean_schema, run_id))
                writer.append(CLEAN_KEYS, clean.select(list(KEYS)))
                next_rowid += clean.num_rows
        # the tables exist even when no row went into them
        for table, table_schema in ((CLEAN_ROWS, clean_schema), (CLEAN_KEYS, keys_schema), (QUARANTINE_ROWS, q_schema),
                                    (LATER_ROWS, later_schema)):
            writer.create(table, table_schema)


def _judged_already(batch: Any, verdicts: Any) -> Any:
    """The rows a test or :func:`from_table` hands over judged already (duplicates and conflicts:
    they land in ``later_rows``, where the commit may judge them again against the warehouse): a
    mask. Spark sends none."""
    import pyarrow.compute as pc

    reason = batch.column(batch.schema.get_field_index("reason"))
    return pc.fill_null(pc.or_kleene(pc.equal(verdicts, "duplicate"), pc.equal(reason, "conflicting_duplicate")),
                        False)


# The later occurrences within the increment, with their first occurrence. Candidates: the clean
# rows whose 64-bit id hash is seen twice (a few per cent); the window then compares the id
# strings, so a hash collision is never taken for a duplicate. Line order decides, rowid breaks a tie.
_PAIRS = f"""
    CREATE TEMP TABLE later_pairs AS
    WITH candidates AS (
        SELECT c.rowid AS rid, k._sig AS sig, c.event_id, c.source_file, c.line_number
        FROM {CLEAN_KEYS} AS k JOIN {CLEAN_ROWS} AS c ON c.rowid = k.rowid
        WHERE k._idh IN (SELECT _idh FROM {CLEAN_KEYS} WHERE _idh IS NOT NULL GROUP BY _idh HAVING count(*) > 1)),
    ranked AS (
        SELECT rid, sig, event_id, first_value(rid) OVER w AS first_rid, first_value(sig) OVER w AS first_sig,
               first_value(source_file) OVER w AS first_file, first_value(line_number) OVER w AS first_line
        FROM candidates WINDOW w AS (PARTITION BY event_id ORDER BY source_file, line_number, rid))
    SELECT rid, sig IS first_sig AS same, event_id, first_file, first_line FROM ranked WHERE rid <> first_rid"""


def judged_sql(same: str, event_id: str, first_file: str, first_line: str) -> tuple[str, str, str, str]:
    """The JUDGED columns of a later occurrence as SQL expressions: ``same`` (true when its content
    is the first occurrence's) decides duplicate or conflict; a conflict's raw text comes later."""
    detail = conflict_detail_sql(event_id, first_file, first_line)
    return (f"CASE WHEN {same} THEN 'duplicate' ELSE 'quarantine' END",
            f"CASE WHEN {same} THEN NULL ELSE 'conflicting_duplicate' END",
            f"CASE WHEN {same} THEN NULL ELSE {detail} END", "NULL")


def judge_duplicates(got: Received) -> None:
    """The later occurrences of an event_id among the landed clean rows move, judged, from
    ``clean_rows`` to ``later_rows`` (conflicts without their raw text: the commit fetches it);
    the counts follow. All in SQL: only a few counts come back to Python (reading the later
    occurrences back as dicts held 120k of them at 10M lines: peak RSS 486 MB, 312 MB without)."""
    with closing(sqlite3.connect(got.path, isolation_level=None)) as conn:
        conn.execute("PRAGMA temp_store = FILE")   # the GROUP BY's b-tree: 60 MB of RSS at 3M rows in memory
        # a scratch file, as when ADBC wrote it: no journal, no fsync, and one transaction
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        conn.execute(_PAIRS)
        moved = conn.execute(f"SELECT p.same, c.rule, count(*) FROM later_pairs AS p "
                             f"JOIN {CLEAN_ROWS} AS c ON c.rowid = p.rid GROUP BY 1, 2").fetchall()
        columns = ", ".join(r[1] for r in conn.execute(f"PRAGMA table_info({CLEAN_ROWS})"))
        conn.execute(f"""
            INSERT INTO {LATER_ROWS} ({columns}, {', '.join(JUDGED)})
            SELECT {', '.join(f'c.{name}' for name in columns.split(', '))},
                   {', '.join(judged_sql('p.same', 'p.event_id', 'p.first_file', 'p.first_line'))}
            FROM later_pairs AS p JOIN {CLEAN_ROWS} AS c ON c.rowid = p.rid ORDER BY p.rid""")
        conn.execute(f"DELETE FROM {CLEAN_ROWS} WHERE rowid IN (SELECT rid FROM later_pairs)")
        conn.execute("DROP TABLE later_pairs")
        conn.execute("COMMIT")
    for same, rule, n in moved:
        got.counts["clean"] -= n
        got.by_rule[rule] -= n
        got.counts["duplicate" if same else "quarantine"] += n


def from_table(rows: Any, clean_columns: Sequence[str], folder: Path, run_id: str) -> Received:
    """:func:`receive` over an Arrow table (a test's rows, or a classic session's ``toArrow()``),
    its duplicates judged."""
    got = receive(rows.to_batches(max_chunksize=landing.BATCH_ROWS), rows.schema, clean_columns, folder, run_id)
    judge_duplicates(got)
    return got
