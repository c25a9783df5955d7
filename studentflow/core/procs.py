"""Child-process plumbing shared by the embedded broker, the Connect worker and tests.

Processes are started in their own session (so a stop can signal the whole group) and,
when ``tie_to_parent`` is set, with PR_SET_PDEATHSIG so the kernel kills them if their owner
dies without cleaning up (a killed test run, a Ctrl-C'd pipeline).
"""
from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Sequence

from studentflow.core.errors import StackError

_PR_SET_PDEATHSIG = 1



def system_java() -> str | None:
    """The java a JVM started here runs when nothing chooses another: ``$JAVA_HOME/bin/java``,
    else the first on PATH (as Kafka's and Spark's launch scripts look); None when there is none."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")

def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def _tied(cmd: list[str]) -> tuple[list[str], Callable[[], None] | None]:
    """``cmd`` and the preexec_fn that make it die with its parent. util-linux's ``setpriv`` sets
    the signal and then execs ``cmd``, so no Python runs between fork and exec: a preexec_fn makes
    Python fork() (not vfork), which runs every library's fork handlers in the child, and gRPC's
    (the Spark Connect client) aborted a broker's start that way (SIGABRT, "epoll_wait error")."""
    setpriv = shutil.which("setpriv")
    if setpriv:
        return [os.path.realpath(setpriv), "--pdeathsig", "KILL", "--", *cmd], None
    return cmd, _die_with_parent


def _until_exec_from(proc: subprocess.Popen, launcher: str) -> None:
    """Wait until ``proc`` runs its command rather than ``launcher`` (setpriv): the parent-death
    signal is set from then on, so an owner that dies after spawn() returns takes it along."""
    deadline = time.monotonic() + 5
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if os.readlink(f"/proc/{proc.pid}/exe") != launcher:
                return
        except OSError:
            return
        time.sleep(0.001)


def spawn(cmd: Sequence[str], log_path: Path, *, env: dict | None = None,
          cwd: Path | None = None, tie_to_parent: bool = False) -> subprocess.Popen:
    """Start ``cmd`` detached from the terminal, stdout+stderr appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    args, preexec = _tied(list(cmd)) if tie_to_parent else (list(cmd), None)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=cwd, start_new_session=True, preexec_fn=preexec,
        )
    if tie_to_parent and preexec is None:
        _until_exec_from(proc, args[0])
    return proc


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) is not alive for our purposes.
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().split(b") ", 1)[1][:1] != b"Z"
    except OSError:
        return False


def pid_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def stop_pid(pid: int, *, timeout: float = 10.0, expect_in_cmdline: str = "") -> bool:
    """SIGTERM the process group of ``pid``, then SIGKILL after ``timeout``. Returns True if it was running.

    ``expect_in_cmdline`` guards against PID reuse: we never signal a process that is not ours.
    """
    if not pid_alive(pid):
        return False
    if expect_in_cmdline and expect_in_cmdline not in pid_cmdline(pid):
        return False
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:  # reap if it is our child
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            if not pid_alive(pid):
                return True
            time.sleep(0.05)
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, proc: subprocess.Popen | None = None,
               log_path: Path | None = None, interval: float = 0.1) -> None:
    """Poll ``check`` until it is true; fail fast with the log tail if ``proc`` dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StackError(f"{what} exited with code {proc.returncode} while starting{_tail(log_path)}",
                             f"see {log_path}" if log_path else "")
        try:
            if check():
                return
        except Exception:  # not ready yet
            pass
        time.sleep(interval)
    raise StackError(f"{what} not ready after {timeout:.0f}s{_tail(log_path)}",
                     f"see {log_path}" if log_path else "retry, or raise the timeout")


def start_service(cmd: Sequence[str], log_path: Path, *, ready: Callable[[], bool], what: str, timeout: float,
                  env: dict | None = None, cwd: Path | None = None, tie_to_parent: bool = False,
                  expect_in_cmdline: str = "", stop_timeout: float = 10.0) -> subprocess.Popen:
    """:func:`spawn` ``cmd`` and :func:`wait_until` it is ``ready``; a process that never gets there
    (it died, it timed out, the wait was interrupted) is stopped before the error goes on."""
    proc = spawn(cmd, log_path, env=env, cwd=cwd, tie_to_parent=tie_to_parent)
    try:
        wait_until(ready, timeout=timeout, what=what, proc=proc, log_path=log_path)
    except BaseException:
        stop_pid(proc.pid, timeout=stop_timeout, expect_in_cmdline=expect_in_cmdline)
        raise
    return proc


def _tail(log_path: Path | None, lines: int = 3) -> str:
    if not log_path or not log_path.exists():
        return ""
    text = log_path.read_text(errors="replace").strip().splitlines()[-lines:]
    return (": " + " | ".join(t.strip()[:200] for t in text)) if text else ""


def end_process(code: int) -> None:
    """End this program now, without Python's teardown of its modules. A `studentflow run` has
    Spark's client, dbt, Great Expectations and matplotlib imported, and freeing them object by
    object took about 1.3 s of one core after the summary was printed, for a process that is ending
    anyway. What a normal exit does that matters still happens: thread pools are told to stop, the
    threads that are not daemons are waited for, the exit handlers run (logging, temporary
    folders), the output is flushed, and the exit code is ``code``."""
    import atexit
    import sys
    import threading

    # What the interpreter's own exit does first: the threading exit hooks (they tell thread
    # pools such as concurrent.futures' to stop), then wait for every thread that is not a daemon.
    threading._shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):   # a closed pipe or stream: nothing more can be said
            pass
    os._exit(code)


def release_freed_memory() -> None:
    """Hand the heap glibc keeps after frees back to the system (``malloc_trim``).

    A long-lived process that allocates and frees hundreds of MB per cycle (the continuous mode:
    Arrow batches, SQLite's page cache per commit) otherwise keeps its high-water mark as RSS.
    A no-op where there is no glibc.
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
