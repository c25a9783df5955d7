"""Why acknowledged events did not reach staging, said in one line: the broker stopped, or the
staging folder's disk is full.

`run` compares what the broker acknowledged with what reached staging. When they disagree it
looks for a cause it can see, and the error names it with its count:

* the embedded broker (memory only) is no longer running (``stack_health(settings).broker_stopped``,
  studentflow/core/endpoints.py): every acknowledged event that was not staged before it stopped
  is gone with its memory;
* the staging folder's file system has no space left: Kafka's FileStreamSinkTask writes through a
  ``java.io.PrintStream``, which swallows the ``IOException``, so the task stays RUNNING, commits
  its offsets and logs nothing; the free space is what shows it. The last line it began is cut
  (no newline): normalize reads complete lines only, so it waits, unread.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from studentflow.core import staging
from studentflow.core.config import Settings
from studentflow.core.errors import DataError

FULL_BELOW = 1 << 20   # bytes free under which a shortfall is put down to the disk (a line rarely needs more)


def settled_lines(settings: Settings, quiet: float = 1.0, timeout: float = 15.0) -> int:
    """Complete staged lines once staging has stopped growing for ``quiet`` seconds (the worker may
    still be writing records it fetched before the broker stopped), or after ``timeout``."""
    deadline = time.monotonic() + timeout
    last = staging.count_lines(staging.staging_files(settings.staging_dir, must_exist=False))
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = staging.count_lines(staging.staging_files(settings.staging_dir, must_exist=False))
        if now == last:
            break
        last = now
    return last


def broker_lost(acked: int, staged: int, attempted: int | None = None) -> DataError:
    """The error for a broker that stopped during the run: acknowledged, never staged, lost."""
    lost = max(acked - staged, 0)
    unacked = "" if attempted is None or attempted <= acked else \
        f"; {attempted - acked:,} of the {attempted:,} events sent were never acknowledged"
    return DataError(f"the broker stopped during the run: {lost:,} of {acked:,} acknowledged events never reached "
                     f"staging (lost with the memory-only broker){unacked}",
                     "staged lines are kept (`studentflow run --no-produce` normalizes what is left of them); send "
                     "the lost events again (`studentflow run` starts a new broker), or use a Kafka that keeps its "
                     "data (STUDENTFLOW_BOOTSTRAP_SERVERS)")


def free_bytes(folder: Path) -> int:
    """Bytes this user can still write on the file system holding ``folder`` (root may use the reserve)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    st = os.statvfs(folder)
    return (st.f_bfree if os.geteuid() == 0 else st.f_bavail) * st.f_frsize


def cut_tail(folder: Path) -> int:
    """Bytes after the last newline of the staging files (a line whose end never reached the disk)."""
    total = 0
    for path in staging.staging_files(folder, must_exist=False):
        size = path.stat().st_size
        with open(path, "rb") as fh:
            fh.seek(max(size - (1 << 16), 0))
            block = fh.read()
        total += len(block) - block.rfind(b"\n") - 1   # no newline at all: the whole block is cut
    return total


def disk_full(settings: Settings, staged: int, acked: int) -> DataError | None:
    """The error for a sink that fell short because the staging disk is full, or None if it has room."""
    folder = settings.staging_dir
    free = free_bytes(folder)
    if free >= FULL_BELOW:
        return None
    tail = cut_tail(folder)
    cut = f"; the last line is cut ({tail:,} bytes, no newline) and is not normalized" if tail else ""
    return DataError(f"no space left on device for the staging folder {folder} ({free:,} bytes free): only "
                     f"{staged:,} of {acked:,} acknowledged events reached staging, {acked - staged:,} did not "
                     f"(the file sink does not report write errors){cut}",
                     "free space on that file system or point STUDENTFLOW_STAGING_DIR at a larger one, then send "
                     "the missing events again; `studentflow normalize` reads the complete lines")
