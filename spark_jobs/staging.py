"""Read edge: the staging folder's files as text lines, with their file name and line number.

The Connect FileStreamSink writes each message's text on its own line, untouched. Lines are read
with Spark's text source (never a JSON reader, which would drop or reinterpret lines); empty lines
are kept. Line numbers are exact (1-based per file) without a shuffle: one cheap counting pass per
file split gives each split's first line, then each row's number is its offset inside the split.
That counting pass also gives ``lines_read`` for the conservation check, independently of the
transform.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from studentflow.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

HINT = ("run `studentflow connect lag --wait` once events are produced (`studentflow produce`), "
        "or point STUDENTFLOW_STAGING_DIR at the sink's folder")


@dataclass(frozen=True)
class Staged:
    lines: "DataFrame"          # value, source_file, line_number
    lines_read: int
    files: tuple[Path, ...]


def staging_files(staging: Path | Iterable[Path]) -> tuple[Path, ...]:
    """The regular, non-hidden files to read (a folder's, sorted by name), or a DataError."""
    if isinstance(staging, (str, Path)):
        folder = Path(staging)
        if folder.is_file():
            candidates = [folder]
        elif not folder.is_dir():
            raise DataError(f"staging folder {folder} does not exist: nothing has been staged yet", HINT)
        else:
            candidates = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith((".", "_")))
    else:
        candidates = [Path(p) for p in staging]
        for p in candidates:
            if not p.is_file():
                raise DataError(f"staging file {p} does not exist", HINT)
    if not candidates:
        raise DataError(f"staging folder {staging} holds no file: nothing has been staged yet", HINT)
    if all(p.stat().st_size == 0 for p in candidates):
        names = ", ".join(p.name for p in candidates)
        raise DataError(f"staging is empty ({names}: 0 bytes): no line to normalize", HINT)
    return tuple(candidates)


def read_staging(spark: "SparkSession", files: tuple[Path, ...]) -> Staged:
    """Lines of ``files`` as (value, source_file, line_number), plus the number of lines read."""
    from pyspark.sql import functions as F

    raw = (spark.read.text([str(p) for p in files])
           .select("value",
                   F.col("_metadata.file_name").alias("source_file"),
                   F.col("_metadata.file_block_start").alias("_block"),
                   F.monotonically_increasing_id().alias("_rid")))
    splits = (raw.groupBy("source_file", "_block")
                 .agg(F.count(F.lit(1)).alias("n"), F.min("_rid").alias("first_rid"))
                 .collect())
    first_line: list[tuple[str, int, int, int]] = []
    for name in sorted({r["source_file"] for r in splits}):
        line = 1
        for r in sorted((r for r in splits if r["source_file"] == name), key=lambda r: r["_block"]):
            first_line.append((name, int(r["_block"]), int(r["first_rid"]), line))
            line += int(r["n"])
    lines_read = sum(int(r["n"]) for r in splits)
    if lines_read == 0:
        raise DataError(f"staging holds no line ({', '.join(p.name for p in files)})", HINT)
    offsets = F.broadcast(spark.createDataFrame(
        first_line, "source_file string, _block long, _first_rid long, _first_line long"))
    lines = (raw.join(offsets, ["source_file", "_block"])
                .select("value", "source_file",
                        (F.col("_first_line") + F.col("_rid") - F.col("_first_rid")).alias("line_number")))
    return Staged(lines, lines_read, files)
