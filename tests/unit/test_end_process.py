"""procs.end_process: the program ends without Python's teardown of its modules, but with what a
normal exit does that matters (the `studentflow` command and the quality worker end with it)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROGRAM = """
import atexit, pathlib, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
from studentflow.core import procs

out = pathlib.Path(sys.argv[1])

def late_writer():   # a thread that is not a daemon: a normal exit waits for it
    time.sleep(0.3)
    (out / "thread").write_text("done")

threading.Thread(target=late_writer).start()
# never shut down, as Spark Connect's client leaves its pool: the worker thread is no daemon either,
# and waits for work until the pool is told to stop (joined before that, the program never ends)
pool = ThreadPoolExecutor(1)
pool.submit(time.sleep, 0).result()
atexit.register(lambda: (out / "atexit").write_text("ran"))
sys.stdout.write("no newline, still buffered")   # a pipe: block-buffered until flushed
sys.stderr.write("said on stderr")
procs.end_process(3)
raise SystemExit("not reached")
"""


def test_end_process_stops_pools_waits_for_threads_runs_exit_handlers_flushes_and_keeps_the_code(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}   # stdout stays buffered
    res = subprocess.run([sys.executable, "-c", PROGRAM, str(tmp_path)], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 3
    assert res.stdout == "no newline, still buffered"
    assert res.stderr == "said on stderr"
    assert (tmp_path / "thread").read_text() == "done"
    assert (tmp_path / "atexit").read_text() == "ran"


def test_the_command_keeps_main_s_exit_code_and_its_error_line(tmp_path):
    """`python -m studentflow.cli` ends through end_process with main()'s code: 4 and its one line
    for a warehouse that is not there, 0 and the output for `config --json`."""
    env = {"PATH": "/usr/bin:/bin", "STUDENTFLOW_DATA_DIR": str(tmp_path / "data"),
           "STUDENTFLOW_STATE_DIR": str(tmp_path / "state")}
    res = subprocess.run([sys.executable, "-m", "studentflow.cli", "validate"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 4, res.stderr
    assert res.stderr.startswith("studentflow: error: warehouse ") and "does not exist" in res.stderr
    res = subprocess.run([sys.executable, "-m", "studentflow.cli", "config", "--json"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert '"data_dir"' in res.stdout and res.stdout.rstrip().endswith("}")
