"""Which staged bytes are new: the staging lister, watermarks, increments (pure Python, no Spark).

The Connect file sink only ever appends whole lines to its file. A *watermark* records, per
staging file, how far it was normalized (lines and bytes) plus two fingerprints of what lay
before it (sha-256 of the first and of the last 4 KiB before the mark). An increment is, per
file, the bytes from the watermark to the end of the last complete line: a half-written last
line waits for the next increment. A file that got shorter, vanished or changed before its mark
means staging moved backwards: that is an error naming the file (re-reading or skipping lines
silently would double or lose them), and ``--full-refresh`` is the way out.

Every count here is made from the bytes themselves (newlines), independently of Spark: the job
checks Spark's per-file line counts against them.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from studentflow.core.errors import DataError
from studentflow.core.staging import BLOCK, scan as _scan

FULL_REFRESH_HINT = "run `studentflow normalize --full-refresh` to rebuild the warehouse from what staging holds now"
FINGERPRINT_BYTES = 4096


@dataclass(frozen=True)
class Watermark:
    """How far one staging file was normalized, as stored in ``staging_watermarks``."""

    source_file: str
    lines: int
    bytes: int
    head_sha256: str
    tail_sha256: str


@dataclass(frozen=True)
class Slice:
    """The complete lines of one file between two byte offsets (an increment's share of a file)."""

    path: Path
    start_byte: int
    end_byte: int
    first_line: int   # 1-based number of the slice's first line in the file
    lines: int        # complete lines in [start_byte, end_byte)

    @property
    def name(self) -> str:
        return self.path.name

    def watermark(self) -> Watermark:
        """The mark this slice leaves behind once committed."""
        head, tail = fingerprints(self.path, self.end_byte)
        return Watermark(self.name, self.first_line - 1 + self.lines, self.end_byte, head, tail)


def fingerprints(path: Path, upto: int) -> tuple[str, str]:
    """sha-256 of the first and of the last FINGERPRINT_BYTES bytes before ``upto``."""
    with open(path, "rb") as fh:
        head = fh.read(min(upto, FINGERPRINT_BYTES))
        fh.seek(max(0, upto - FINGERPRINT_BYTES))
        tail = fh.read(upto - max(0, upto - FINGERPRINT_BYTES))
    return hashlib.sha256(head).hexdigest(), hashlib.sha256(tail).hexdigest()


def plan(files: tuple[Path, ...], marks: Mapping[str, Watermark], *, full_refresh: bool = False) -> list[Slice]:
    """The slices of the next increment (files with no new complete line are left out).

    Raises DataError when staging moved backwards since the marks were taken.
    """
    present = {p.name: p for p in files}
    if not full_refresh:
        gone = sorted(set(marks) - set(present))
        if gone:
            raise DataError(f"staging file {gone[0]} was normalized before (up to line {marks[gone[0]].lines:,}) "
                            "but is no longer in staging: staging moved backwards", FULL_REFRESH_HINT)
    slices = []
    for p in files:
        mark = None if full_refresh else marks.get(p.name)
        start, first = (0, 1) if mark is None else (mark.bytes, mark.lines + 1)
        size = p.stat().st_size
        if mark is not None:
            if size < mark.bytes:
                raise DataError(f"staging file {p} is shorter ({size:,} bytes) than what was already normalized "
                                f"({mark.bytes:,} bytes, {mark.lines:,} lines): staging moved backwards",
                                FULL_REFRESH_HINT)
            if fingerprints(p, mark.bytes) != (mark.head_sha256, mark.tail_sha256):
                raise DataError(f"staging file {p} was replaced or rewritten: its first {mark.bytes:,} bytes are not "
                                "the ones already normalized", FULL_REFRESH_HINT)
        lines, end = _scan(p, start, size)
        if lines:
            slices.append(Slice(p, start, end, first, lines))
    return slices


@dataclass(frozen=True)
class Chunk:
    """A copy of some complete lines of one staging file: what one Spark task reads whole."""

    path: Path        # the copy: <scratch>/<n>/<staging file name>, so Spark's file name is the staging one
    name: str         # the staging file's name
    first_line: int   # number of the chunk's first line in the staging file
    lines: int


CHUNK_MIN, CHUNK_MAX, CHUNKS = 4 << 20, 64 << 20, 8


def materialize(slices: list[Slice], scratch: Path, chunk_bytes: int | None = None) -> list[Chunk]:
    """Copy the increment into chunks of whole lines under ``scratch``, each with its first line.

    Always a copy, even of a whole file: the sink may append while Spark reads, and Spark must see
    exactly the bytes that were counted. Chunks, cut at line ends and counted here, let Spark read
    each one as a single task and number its lines as first line + row index, without a counting
    pass over the data (a whole Spark job: seconds on a cold JVM); about CHUNKS of them keep both
    cores busy on a big increment, no chunk is split (see staging.read_staging)."""
    total = sum(s.end_byte - s.start_byte for s in slices)
    size = chunk_bytes or min(CHUNK_MAX, max(CHUNK_MIN, total // CHUNKS))
    out: list[Chunk] = []
    for s in slices:
        start, line = s.start_byte, s.first_line
        with open(s.path, "rb") as src:
            while start < s.end_byte:
                end = _line_end_after(src, start + size, s.end_byte)
                target = scratch / str(len(out)) / s.name
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "wb") as dst:
                    _copy_range(src, dst, start, end - start, s.path)
                lines, _ = _scan(s.path, start, end)
                out.append(Chunk(target, s.name, line, lines))
                start, line = end, line + lines
    return out


def _line_end_after(src, offset: int, end: int) -> int:
    """The offset just after the first newline at or after ``offset`` (``end`` when none before it)."""
    while offset < end:
        src.seek(offset)
        block = src.read(min(1 << 16, end - offset))
        at = block.find(b"\n")
        if at >= 0:
            return offset + at + 1
        offset += len(block)
    return end


def _copy_range(src, dst, offset: int, left: int, path: Path) -> None:
    """``left`` bytes of ``src`` from ``offset`` onto ``dst``: in the kernel (copy_file_range) where
    the two files' file systems allow it, else through a buffer (another device, an old kernel)."""
    import errno

    try:
        while left:
            n = os.copy_file_range(src.fileno(), dst.fileno(), min(left, 1 << 30), offset)
            if n == 0:
                raise DataError(f"staging file {path} changed while it was read", "rerun normalize")
            offset, left = offset + n, left - n
        return
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
            raise
    src.seek(offset)
    while left:
        block = src.read(min(left, BLOCK))
        if not block:
            raise DataError(f"staging file {path} changed while it was read", "rerun normalize")
        dst.write(block)
        left -= len(block)


def pending_bytes(files: Iterable[Path], marks: Mapping[str, Watermark]) -> int:
    """Bytes staged beyond the watermarks: a cheap "is there anything new?" (a stat per file)."""
    total = 0
    for p in files:
        try:
            size = p.stat().st_size
        except FileNotFoundError:
            continue
        mark = marks.get(p.name)
        total += max(0, size - (mark.bytes if mark else 0))
    return total
