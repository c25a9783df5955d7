"""The suite's CPU profiler (tests/support/cpu_per_test.py): its figures and its refusal under workers."""
from __future__ import annotations

import subprocess
import sys

from tests.support.cpu_per_test import REPO_ROOT, busy_seconds, by_file


def test_tests_are_summed_by_file_costliest_first():
    per_test = {"tests/a.py::t1": (1.5, 2.0), "tests/b.py::t1": (4.0, 1.0), "tests/a.py::t2": (3.0, 0.5),
                "tests/c.py::C::t": (0.25, 0.25)}
    assert by_file(per_test) == [("tests/a.py", 4.5, 2.5, 2), ("tests/b.py", 4.0, 1.0, 1), ("tests/c.py", 0.25, 0.25, 1)]


def test_busy_seconds_grow_while_this_process_works():
    before = busy_seconds()
    spent = sum(i * i for i in range(2_000_000))   # about 0.1 CPU-second
    assert spent and busy_seconds() > before


def test_it_refuses_to_run_beside_workers():
    res = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "-p", "tests.support.cpu_per_test",
                          "tests/unit/test_cpu_per_test.py::test_tests_are_summed_by_file_costliest_first"],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 4, res.stdout[-2000:] + res.stderr[-2000:]   # pytest's usage error
    assert "run it without workers (-n 0)" in res.stdout + res.stderr
