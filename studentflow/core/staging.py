"""The staging folder: which files hold staged lines, and how many complete lines they hold.

One lister and one counter for everything that counts staged lines (the pipeline's balance, the
increments normalize reads, the report's file list), so their counts cannot disagree. Pure
Python, from the bytes: a line is complete when its newline is on disk (the Connect file sink
appends whole lines; a half-written last line waits for the next reader).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from studentflow.core.errors import DataError

HINT = ("run `studentflow connect lag --wait` once events are produced (`studentflow produce`), "
        "or point STUDENTFLOW_STAGING_DIR at the sink's folder")
BLOCK = 8 << 20   # bytes read at a time when counting


def is_staging_file(p: Path) -> bool:
    """The one rule for which files in the staging folder hold staged lines (hidden and
    ``_``-prefixed files are the tools' own: temp files, markers)."""
    return p.is_file() and not p.name.startswith((".", "_"))


def staging_files(staging: Path | Iterable[Path], *, must_exist: bool = True) -> tuple[Path, ...]:
    """The staging files to read (a folder's, sorted by name), or a DataError saying what to do."""
    if isinstance(staging, (str, Path)):
        folder = Path(staging)
        if folder.is_file():
            return (folder,)
        if not folder.is_dir():
            if not must_exist:
                return ()
            raise DataError(f"staging folder {folder} does not exist: nothing has been staged yet", HINT)
        return tuple(sorted(p for p in folder.iterdir() if is_staging_file(p)))
    files = tuple(Path(p) for p in staging)
    for p in files:
        if not p.is_file():
            raise DataError(f"staging file {p} does not exist", HINT)
    return files


def count_lines(files: Iterable[Path]) -> int:
    """Complete lines (newline-terminated) in ``files``: what normalize can read of them now."""
    return sum(scan(p, 0, p.stat().st_size)[0] for p in files)


def scan(path: Path, start: int, end: int) -> tuple[int, int]:
    """(complete lines, end offset of the last complete line) in ``path[start:end]``."""
    lines, last_end, pos = 0, start, start
    with open(path, "rb") as fh:
        fh.seek(start)
        while pos < end:
            block = fh.read(min(BLOCK, end - pos))
            if not block:
                break
            n = block.count(b"\n")
            if n:
                lines += n
                last_end = pos + block.rindex(b"\n") + 1
            pos += len(block)
    return lines, last_end
