"""The pure normalization transform: staged lines in, classified rows out. No I/O in here.

Input: a DataFrame with ``value`` (the staged line, untouched), ``source_file`` and
``line_number``. Output (:func:`normalize`): one row per input line with a ``verdict``
(``clean`` | ``quarantine`` | ``header``) and every warehouse column. :func:`classify` adds the
last step, duplicates (``duplicate`` or ``conflicting_duplicate``), in Arrow on the driver
(spark_jobs/dedup.py), and returns the rows of both warehouse tables.

The transform is a chain of small ``DataFrame -> DataFrame`` steps, each testable alone::

    lines.transform(with_kind)          # json | text | empty | header | bad_encoding, from the first bytes
         .transform(with_parse)         # salvage.py: the typed contract parse; is the line exactly the contract?
         .transform(with_fields)        # salvage.py: the fields, by salvage rule
         .transform(with_verdict(...))  # verdicts.py: types, ranges, canonical major -> clean or a reason
         .transform(as_rows)            # the output columns, and a content hash for the dedup step
    dedup(rows.toArrow())               # first occurrence (file, line) of an event_id wins

Salvage rules, tried in this order, the one used is recorded in ``rule``:

* ``json_strict``  a JSON object with exactly the event contract's keys, ``age`` and
  ``schema_version`` given as JSON integers (the fast path: ~95% of real traffic);
* ``json_loose``   any other JSON object that still carries a name, an age and a major
  (age as a string, extra fields, missing event_id/emitted_at/..., French keys
  ``prénom``/``nom``/``filière``);
* ``csv``          ``first,last,age,major``;
* ``key_value``    the same with ``key:value`` fragments (``Bob,Martin,age:19,Physique``, or
  ``first_name:Bob,last_name:Martin,age:19,major:Physique`` in any order).

Performance, in one paragraph: only built-in Spark SQL functions (no Python UDF, no higher-order
function: both leave generated code), one pass over the lines. A contract line costs one typed
JSON parse, a byte-length comparison and a few null checks; the loose parse runs only for JSON lines
that are not exactly the contract, the comma/key:value machinery only for text lines, accent
folding only for majors that are not already canonical: ``CASE WHEN`` branches are evaluated
lazily. A separate narrow plan for contract lines (filter on ``_strict``, union with the full
plan for the rest) was measured slower on Spark Connect (1M bench/staged.py lines, warm,
alternated, medians of 5: 9.4 s against 6.0 s, server CPU 16.5 s against 10.5 s): each branch
scans and parses the input again (two text scans in the plan: Spark reuses no scan without an
exchange), and a plain filter on ``_strict`` is even pushed below the parse as one pruned
``from_json`` per field (158 s against 26 s, loaded machine). The steps after the loose parse
fuse into one generated method of 13.2 KB of bytecode that HotSpot does not always fully
optimize (C1's profiling tier runs out of registers on it, C2 at times out of nodes), so runs
vary (6.0 to 8.4 s on a quiet machine). The Column expressions are built on every call: on Spark
Connect a Column is a client-side message (about 50 ms for the whole transform); a classic
session pays about 1.2 s of py4j calls. The server analyzes and optimizes the whole plan for every
query, whatever its size, so a value used several times is a column of its own, computed in one
projection and referenced by name in the next, never an expression repeated at each use: the
csv / key:value split written as one expression made the plan 204 KB and cost a small increment
about a third of its time (salvage.py).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from studentflow.core.contract import CLEAN_COLUMNS, CONTENT_COLUMNS, CSV_HEADERS, QUARANTINE_COLUMNS, REPLACEMENT_CHAR
from studentflow.core.reference import Reference

from spark_jobs.folding import fold
from spark_jobs.salvage import with_fields, with_parse
from spark_jobs.verdicts import Step, with_verdict

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa
    from pyspark.sql import DataFrame


class Normalized(NamedTuple):
    rows: "pa.Table"         # one row per input line, with verdict/rule/reason, every field and the run id
    clean: "pa.Table"        # clean_students columns, deduplicated
    quarantine: "pa.Table"   # quarantine_students columns


def normalize(lines: "DataFrame", ref: Reference, *, age_min: int, age_max: int,
              every_raw_line: bool = False) -> "DataFrame":
    """Classify every staged line (the Spark part: no shuffle, one stage).

    ``lines`` needs ``value`` (string), ``source_file`` (string) and ``line_number`` (long). The
    duplicates are not judged yet: :func:`spark_jobs.dedup.dedup` does that on the rows in Arrow.
    ``raw_line`` is kept for quarantine rows only unless ``every_raw_line``.
    """
    return (lines.transform(with_kind)
                 .transform(with_parse)
                 .transform(with_fields)
                 .transform(with_verdict(ref, age_min=age_min, age_max=age_max))
                 .transform(as_rows(every_raw_line)))


def classify(lines: "DataFrame", ref: Reference, *, age_min: int, age_max: int, run_id: str) -> Normalized:
    """The whole transform for a library caller or a test: :func:`normalize`, then the dedup step,
    as Arrow tables (with the run id), in (file, line) order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from spark_jobs.dedup import dedup

    rows = dedup(normalize(lines, ref, age_min=age_min, age_max=age_max, every_raw_line=True).toArrow())
    rows = rows.append_column("run_id", pa.array([run_id] * rows.num_rows, pa.string()))
    clean = rows.filter(pc.equal(rows["verdict"], "clean")).select(list(CLEAN_COLUMNS))
    quarantine = rows.filter(pc.equal(rows["verdict"], "quarantine")).select(list(QUARANTINE_COLUMNS))
    return Normalized(rows, clean, quarantine)


# --- step 1: the kind of line ------------------------------------------------------------------
def with_kind(lines: "DataFrame") -> "DataFrame":
    """``_kind``: ``bad_encoding`` (not valid UTF-8, or carries U+FFFD), ``json``, ``empty``,
    ``header`` (a CSV header line) or ``text``.

    A UTF-8 check, a byte search and a first-byte test for nearly every line; the regexes and the
    header comparison only run for the few lines that do not start with ``{``.
    """
    return lines.select(*_kind_columns())


def _kind_columns() -> tuple:
    from pyspark.sql import functions as F

    # Bytes that are not UTF-8 (a staging file written by another tool) become U+FFFD here, as
    # Connect's StringConverter does: the line is then text SQLite and Python can hold.
    raw = F.col("value")
    v = F.when(F.is_valid_utf8(raw), raw).otherwise(F.make_valid_utf8(raw))
    kind = (F.when(v.contains(REPLACEMENT_CHAR), F.lit("bad_encoding"))
            .when(v.startswith("{"), F.lit("json"))
            .when(v.isNull() | v.rlike(r"^\s*$"), F.lit("empty"))
            .when(v.rlike(r"^\s*\{"), F.lit("json"))
            .when(F.regexp_replace(fold(F.translate(v, "\ufeff", "")), " ", "").isin(list(CSV_HEADERS)),
                  F.lit("header"))
            .otherwise(F.lit("text")))
    return (v.alias("value"), "source_file", "line_number", kind.alias("_kind"))


# --- step 5: the output columns ---------------------------------------------------------------
def as_rows(every_raw_line: bool = False) -> Step:
    """verdict (before duplicates), rule, reason, detail, the raw line (quarantine rows only, by
    default: the rest would cross to the driver for nothing), the fields, and ``_sig``: one 64-bit
    hash of a clean row's content, which the dedup step compares instead of six columns, and
    ``_idh``, one of its event_id, which the dedup step sorts instead of the id strings."""
    def step(df: "DataFrame") -> "DataFrame":
        return df.select(*_row_columns(every_raw_line))
    return step


def _row_columns(every_raw_line: bool) -> tuple:
    from pyspark.sql import functions as F

    reason = F.col("_reason")
    verdict = (F.when(reason.isNull(), F.lit("clean")).when(reason == "header", F.lit("header"))
               .otherwise(F.lit("quarantine")))
    return (
        "source_file", "line_number",
        (F.col("value") if every_raw_line else F.when(verdict == "quarantine", F.col("value"))).alias("raw_line"),
        verdict.alias("verdict"), "rule",
        F.when(reason != "header", reason).alias("reason"), "detail",
        "event_id", "student_id", "first_name", "last_name", "age", "major", "emitted_at", "schema_version",
        F.when(reason.isNull(), F.xxhash64(*CONTENT_COLUMNS)).alias("_sig"),
        F.when(reason.isNull(), F.xxhash64("event_id")).alias("_idh"))
