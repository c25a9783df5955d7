"""Clean rows from Arrow into the warehouse with no Python object per row, one SQLite library per file.

Python's sqlite3 (and dbt-sqlite, SQLAlchemy under Great Expectations) use the system SQLite;
adbc-driver-sqlite links a copy of its own. Two copies in one process must never open the same
file: each keeps its own table of the files it has open and of the POSIX locks it holds on them,
and POSIX drops every lock a process holds on a file when any of its descriptors on that file is
closed, so one copy's close() silently ends the other's locks ("How To Corrupt An SQLite Database
File", multiple copies of SQLite linked into one application). The hazard is per file (inode):
files the two copies do not share are independent.

So a :class:`Writer` has ADBC write the rows, batch by batch as Spark sends them, into a new file
in a new folder of its own (the landing file: never the warehouse, never opened before), closes
it and checks that no descriptor on it is left; only then does sqlite3 open it (to judge the
duplicates within the increment: spark_jobs/incoming.py) and attach it to the warehouse
connection (:func:`attached`), where the rows are copied and judged with ``INSERT .. SELECT``
inside the warehouse transaction. ADBC never opens the warehouse, and the
landing file is never open in both libraries at once. The folder goes when the block ends.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

SCHEMA = "studentflow_landing"   # the name the landing file is attached under
TABLE = "clean_rows"
FILE = "landing.db"
BATCH_ROWS = 50_000   # rows per Arrow batch handed to ADBC: memory stays flat at any size


def _folder_of(conn: sqlite3.Connection) -> Path:
    """The folder of the connection's main database file (the temp folder for one in memory)."""
    for _seq, name, file in conn.execute("PRAGMA database_list"):
        if name == "main" and file:
            return Path(file).parent
    return Path(tempfile.gettempdir())


def _open_descriptors(path: Path) -> list[str]:
    """This process's descriptors on ``path`` (Linux; elsewhere nothing is known: empty)."""
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        return []
    target, out = str(path), []
    for fd in os.listdir(fds):
        try:
            link = os.readlink(fds / fd)
        except OSError:   # the descriptor listdir itself used, or one closed meanwhile
            continue
        if link == target or link.startswith(target + "-"):   # the file, its journal or WAL
            out.append(fd)
    return out


def new_path(folder: Path) -> Path:
    """A landing file's path in a new folder of its own under ``folder`` (made; the file is not):
    absolute and resolved, as ADBC never reads it as a URI and it compares with /proc/self/fd links."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".landing-", dir=folder)).resolve() / FILE


def _plain_call(func, args, kwargs, cancel):
    return func(*args, **kwargs)


def _leave_sigint_to_the_command() -> None:
    """ADBC's DB-API wraps each call on the main thread in a SIGINT handler of its own, which
    cancels the statement (the SQLite driver cannot: NotSupportedError) and so swallows a Ctrl-C
    the command's handler (studentflow/signals.py) never sees: a first Ctrl-C failed the
    increment instead of letting it commit, a second one did not stop at once. Calls run plain
    here; Python runs the command's handler as soon as the ingest returns."""
    from adbc_driver_manager import dbapi

    if getattr(dbapi, "_blocking_call", None) is not None:
        dbapi._blocking_call = _plain_call


class Writer:
    """ADBC writing Arrow batches into tables of a new landing file, one ingest per batch (the
    caller holds one batch at a time). Closed, and checked to hold no descriptor, on exit."""

    def __init__(self, path: Path) -> None:
        if path.exists():   # a landing file is always new: so it cannot be the warehouse
            raise FileExistsError(f"landing file {path} already exists")
        self.path = path
        self._made: set[str] = set()
        self._conn = self._cur = None

    def __enter__(self) -> "Writer":
        import adbc_driver_sqlite.dbapi as adbc

        _leave_sigint_to_the_command()
        # autocommit: the PRAGMAs need no open transaction; each ingest is a transaction of its own
        self._conn = adbc.connect(str(self.path), autocommit=True)
        self._cur = self._conn.cursor()
        # a scratch file: a crash loses it and nothing else, so no journal and no fsync
        self._cur.execute("PRAGMA journal_mode = OFF")
        self._cur.execute("PRAGMA synchronous = OFF")
        return self

    def append(self, table: str, batch: Any) -> None:
        self._cur.adbc_ingest(table, batch, mode="append" if table in self._made else "create")
        self._made.add(table)

    def create(self, table: str, schema: Any) -> None:
        """``table`` with ``schema``'s columns, if no batch made it yet."""
        import pyarrow as pa

        if table not in self._made:
            self.append(table, pa.RecordBatch.from_pylist([], schema=schema))

    def __exit__(self, *exc: object) -> None:
        import pyarrow as pa

        self._cur.close()
        self._conn.close()
        # the batches were made on the driver's thread, whose freed pages Arrow's allocator keeps
        # (measured: +40 MB of RSS at 1M rows, then in the commit's peak): hand them back
        pa.default_memory_pool().release_unused()
        left = _open_descriptors(self.path)
        if left:   # the other library must not open a file this one still holds
            raise RuntimeError(f"the ADBC SQLite driver left {len(left)} descriptor(s) open on {self.path}")


@contextmanager
def attached(conn: sqlite3.Connection, path: Path) -> Iterator[str]:
    """The landing file ``path`` (closed by its writer) attached to ``conn``: yields the qualified
    name of its clean rows. Run it outside a transaction (ATTACH and DETACH need that); the file
    and its folder are deleted when the block ends, whatever happened."""
    done = False
    try:
        conn.execute(f"ATTACH DATABASE ? AS {SCHEMA}", (str(path),))
        done = True
        # the commit writes its scratch tables there: a file thrown away afterwards needs no
        # fsync, and a rollback journal in memory (only of the pages it changes: a few)
        conn.execute(f"PRAGMA {SCHEMA}.journal_mode = MEMORY")
        conn.execute(f"PRAGMA {SCHEMA}.synchronous = OFF")
        yield f"{SCHEMA}.{TABLE}"
    finally:
        if done and not conn.in_transaction:   # in a transaction only if its ROLLBACK failed
            conn.execute(f"DETACH DATABASE {SCHEMA}")
        shutil.rmtree(path.parent, ignore_errors=True)
