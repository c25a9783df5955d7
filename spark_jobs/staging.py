"""Read edge: staged lines as a DataFrame (value, source_file, line_number), for Spark.

What to read is decided in :mod:`spark_jobs.increments` (pure Python): whole staging files, or
copies of their new complete lines. Lines are read with Spark's text source split on ``\\n``
only (the sink's line end; a ``\\r`` inside a message stays part of it), never with a JSON reader
(which would drop or reinterpret lines); empty lines are kept. Line numbers are exact without a
shuffle: one cheap counting pass per file split gives each split's first line, then each row's
number is its offset inside the split, plus the line the slice starts at in its staging file.
That counting pass also gives Spark's own line count per file, which the job compares with the
count made from the bytes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

from core.errors import DataError

from core.staging import HINT, staging_files as list_staging

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession


@dataclass(frozen=True)
class Staged:
    lines: "DataFrame"          # value, source_file, line_number
    lines_read: int
    files: tuple[Path, ...]
    per_file: Mapping[str, int] = field(default_factory=dict)   # Spark's line count per file name


def staging_files(staging: Path | Iterable[Path]) -> tuple[Path, ...]:
    """The staging files to read, or a DataError when there is nothing at all to normalize."""
    candidates = list_staging(staging)
    if not candidates:
        raise DataError(f"staging folder {staging} holds no file: nothing has been staged yet", HINT)
    if all(p.stat().st_size == 0 for p in candidates):
        names = ", ".join(p.name for p in candidates)
        raise DataError(f"staging is empty ({names}: 0 bytes): no line to normalize", HINT)
    return candidates


def read_staging(spark: "SparkSession", files: tuple[Path, ...],
                 first_lines: Mapping[str, int] | None = None) -> Staged:
    """Lines of ``files`` as (value, source_file, line_number), plus the number of lines read.

    ``first_lines``: file name -> number of its first line in the staging file (1 when absent),
    for files that hold a staging file's tail (an increment).
    """
    from pyspark.sql import functions as F

    raw = (spark.read.option("lineSep", "\n").text([str(p) for p in files])
           .select("value",
                   F.col("_metadata.file_name").alias("source_file"),
                   F.col("_metadata.file_block_start").alias("_block"),
                   F.monotonically_increasing_id().alias("_rid")))
    splits = (raw.groupBy("source_file", "_block")
                 .agg(F.count(F.lit(1)).alias("n"), F.min("_rid").alias("first_rid"))
                 .collect())
    first_line: list[tuple[str, int, int, int]] = []
    per_file: dict[str, int] = {}
    for name in sorted({r["source_file"] for r in splits}):
        line = (first_lines or {}).get(name, 1)
        for r in sorted((r for r in splits if r["source_file"] == name), key=lambda r: r["_block"]):
            first_line.append((name, int(r["_block"]), int(r["first_rid"]), line))
            line += int(r["n"])
            per_file[name] = per_file.get(name, 0) + int(r["n"])
    lines_read = sum(per_file.values())
    if lines_read == 0:
        raise DataError(f"staging holds no line ({', '.join(p.name for p in files)})", HINT)
    offsets = F.broadcast(spark.createDataFrame(
        first_line, "source_file string, _block long, _first_rid long, _first_line long"))
    lines = (raw.join(offsets, ["source_file", "_block"])
                .select("value", "source_file",
                        (F.col("_first_line") + F.col("_rid") - F.col("_first_rid")).alias("line_number")))
    return Staged(lines, lines_read, tuple(files), per_file)
