"""Read edge: staged lines as a DataFrame (value, source_file, line_number), for Spark.

What to read is decided in :mod:`spark_jobs.increments` (pure Python): chunks of whole lines
copied from the staging files, each with the number of its first line. Lines are read with
Spark's text source split on ``\\n`` only (the sink's line end; a ``\\r`` inside a message stays
part of it), never with a JSON reader (which would drop or reinterpret lines); empty lines are
kept. Line numbers are exact without a shuffle or a counting pass: every chunk is read whole by
one task, so a row's number is its chunk's first line plus its index in the task
(``monotonically_increasing_id`` keeps that index in its low 33 bits). The job checks the numbers
it gets against the chunks' counts (:func:`check_line_numbers`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from studentflow.core.errors import DataError

from studentflow.core.staging import HINT, staging_files as list_staging

from spark_jobs.increments import Chunk

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession


@dataclass(frozen=True)
class Staged:
    lines: "DataFrame"          # value, source_file, line_number
    lines_read: int             # counted from the bytes when the chunks were cut
    chunks: tuple[Chunk, ...]


def staging_files(staging: Path | Iterable[Path]) -> tuple[Path, ...]:
    """The staging files to read, or a DataError when there is nothing at all to normalize."""
    candidates = list_staging(staging)
    if not candidates:
        raise DataError(f"staging folder {staging} holds no file: nothing has been staged yet", HINT)
    if all(p.stat().st_size == 0 for p in candidates):
        names = ", ".join(p.name for p in candidates)
        raise DataError(f"staging is empty ({names}: 0 bytes): no line to normalize", HINT)
    return candidates


# Staged bytes per Spark query. The server collects every task's result of a query before the
# limit spark.driver.maxResultSize (1 GiB) stops it: 10M staged lines (1.9 GB) in one query sent
# 1,047 MiB and failed. A bigger increment is read as several queries, one after the other.
QUERY_BYTES = 512 << 20
_ROW_BITS = (1 << 33) - 1   # monotonically_increasing_id = partition index << 33 | row index


def read_staging(spark: "SparkSession", chunks: Sequence[Chunk]) -> Staged:
    """Lines of ``chunks`` as (value, source_file, line_number)."""
    from pyspark.sql import functions as F

    if not chunks:
        raise DataError("staging holds no line", HINT)
    # One task per chunk, never a chunk split in two: a split as big as the largest chunk, and
    # opening a file "costs" a whole split, so two chunks never share a task either.
    whole = str(max(128 << 20, max(c.path.stat().st_size for c in chunks) + 1))
    spark.conf.set("spark.sql.files.maxPartitionBytes", whole)
    spark.conf.set("spark.sql.files.openCostInBytes", whole)
    # A chunk's copy is <scratch>/<n>/<file>: n finds its first line, in any subset of chunks read.
    first_lines = F.create_map(*(F.lit(x) for c in chunks for x in (int(c.path.parent.name), c.first_line)))
    # the folder's name, between the last two slashes: two byte scans from the end of the path (a
    # regexp there ran for every line: 8 % of a warm 1M transform's samples)
    chunk_no = F.substring_index(F.substring_index(F.col("_metadata.file_path"), "/", -2), "/", 1).cast("int")
    lines = (spark.read.option("lineSep", "\n").text([str(c.path) for c in chunks])
             .select("value", F.col("_metadata.file_name").alias("source_file"),
                     (F.element_at(first_lines, chunk_no)
                      + F.monotonically_increasing_id().bitwiseAND(F.lit(_ROW_BITS))).alias("line_number")))
    return Staged(lines, sum(c.lines for c in chunks), tuple(chunks))


def query_groups(chunks: Sequence[Chunk], max_bytes: int | None = None) -> list[list[Chunk]]:
    """The chunks in runs of at most ``max_bytes`` (QUERY_BYTES; at least one chunk each), one Spark
    query per run; no chunk at all is one empty run, which :func:`read_staging` refuses with its message."""
    max_bytes = max_bytes or QUERY_BYTES
    groups: list[list[Chunk]] = []
    size = 0
    for c in chunks:
        n = c.path.stat().st_size
        if not groups or size + n > max_bytes:
            groups.append([])
            size = 0
        groups[-1].append(c)
        size += n
    return groups or [[]]


def check_line_numbers(rows: Any, chunks: Sequence[Chunk]) -> None:
    """:func:`check_line_stats` of a pyarrow Table with source_file and line_number."""
    got = rows.group_by("source_file").aggregate([("line_number", "count"), ("line_number", "count_distinct"),
                                                  ("line_number", "min"), ("line_number", "max")]).to_pylist()
    check_line_stats({g["source_file"]: (g["line_number_count"], g["line_number_min"], g["line_number_max"],
                                         g["line_number_count"] == g["line_number_count_distinct"]) for g in got},
                     chunks)


def check_line_stats(got: dict[str, tuple[int, int, int, bool]], chunks: Sequence[Chunk]) -> None:
    """Every chunk's lines arrived once each, numbered first_line .. first_line + lines - 1
    (``got``: file -> (rows, first line, last line, every line once), as Spark numbered them).
    A DataError otherwise: a chunk read in two tasks would number two rows alike."""
    want: dict[str, list[int]] = {}
    for c in chunks:
        w = want.setdefault(c.name, [0, c.first_line, c.first_line + c.lines - 1])
        w[0] += c.lines
        w[1], w[2] = min(w[1], c.first_line), max(w[2], c.first_line + c.lines - 1)
    have = {name: [rows, lo, hi] for name, (rows, lo, hi, once) in got.items() if once}
    wrong = sorted(n for n in set(want) | set(got) if have.get(n) != want.get(n))
    if wrong:
        raise DataError(f"Spark read the lines of {', '.join(wrong)} otherwise than the staged bytes hold "
                        f"({sum(c.lines for c in chunks):,} complete lines); nothing was written",
                        "make sure nothing rewrites the staging files during the run, then rerun")
