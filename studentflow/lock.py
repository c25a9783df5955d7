"""One state-changing command at a time per project: an OS file lock in the state folder.

``project_lock(settings, "run")`` takes ``fcntl.flock`` on ``settings.paths.lock`` (``<state_dir>/studentflow.lock``).
The kernel drops the lock when the holder's process dies (kill -9 included), so a crash never
leaves a stale lock behind. The holder writes who it is (command, pid, start time) into the
file; a second command prints one line naming it and waits, or with ``wait=False`` refuses at
once (``LockBusy``, ``ExitCode.BUSY``: 3).

The lock is re-entrant within one process: `run` holds it and calls ``stack.up``, which takes
it too (so library callers of ``stack.up`` are covered) without deadlocking on itself.
The lock file descriptor is close-on-exec, so the broker and worker started under the lock do
not inherit it (they outlive the command; the lock must not).
"""
from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from studentflow.core.config import Settings
from studentflow.core.errors import ExitCode, StudentflowError

_held: dict[str, int] = {}       # lock path -> depth, for this process
_guard = threading.Lock()


class LockBusy(StudentflowError):
    """Another state-changing command holds the project lock (and we were told not to wait)."""

    exit_code = ExitCode.BUSY


def holder(settings: Settings) -> dict | None:
    """Who holds (or last held) the lock, as recorded in the lock file; None if unknown."""
    try:
        text = settings.paths.lock.read_text(encoding="utf-8")
        info = json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def describe(info: dict | None) -> str:
    if not info:
        return "another studentflow command"
    return f"`studentflow {info.get('command', '?')}` (pid {info.get('pid', '?')}, started {info.get('started_at', '?')})"


def is_held(settings: Settings) -> bool:
    """True if this process holds the project lock."""
    return _held.get(str(settings.paths.lock), 0) > 0


@contextmanager
def project_lock(settings: Settings, command: str, *, wait: bool = True,
                 say: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the project lock for the duration of the block (re-entrant in one process)."""
    path = settings.paths.lock
    key = str(path)
    with _guard:
        if _held.get(key):
            _held[key] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _guard:
                _held[key] -= 1
        return
    fd = _acquire(path, command, wait=wait, say=say)
    with _guard:
        _held[key] = 1
    try:
        yield
    finally:
        with _guard:
            _held.pop(key, None)
        os.close(fd)  # closing the descriptor releases the flock


def _acquire(path: Path, command: str, *, wait: bool, say: Callable[[str], None] | None) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_CLOEXEC: processes started under the lock (broker, worker, Spark) must not inherit it.
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            who = describe(_read_holder(fd))
            if not wait:
                raise LockBusy(f"{who} is running in this project ({path.parent})",
                               "wait for it to finish, or run without --fail-if-busy to queue behind it") from None
            if say is not None:
                say(f"studentflow: waiting for {who} to finish (it holds {path})")
            fcntl.flock(fd, fcntl.LOCK_EX)
        _write_holder(fd, command)
        return fd
    except BaseException:
        os.close(fd)
        raise


def _read_holder(fd: int) -> dict | None:
    # The holder writes its record right after taking the lock: a reader can see an empty file
    # for that instant, so read a few times before giving up on naming it.
    import time

    for _ in range(20):
        try:
            raw = os.pread(fd, 4096, 0)
            info = json.loads(raw) if raw.strip() else None
        except (OSError, ValueError):
            info = None
        if isinstance(info, dict):
            return info
        time.sleep(0.01)
    return None


def _write_holder(fd: int, command: str) -> None:
    record = {"command": command, "pid": os.getpid(),
              "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    data = (json.dumps(record) + "\n").encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
