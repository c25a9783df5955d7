"""The order the suite's files are collected in (tests/conftest.py sorts by it).

With `--dist loadfile` a worker takes a whole file at a time. pytest-xdist (3.x) then hands the
files out with the most tests first (its `--loadscope-reorder`, on by default), so this sort
only orders files with as many tests as each other: the many quick unit files go out first and
the long end-to-end files mid-run, one or two at a time. Handing the long files out first
instead (`--no-loadscope-reorder`) was measured worse: two fresh clones took 8 min 48 s and
9 min 14 s of pytest (1,094 and 1,145 busy CPU-seconds), against 7 min 27 s to 8 min 3 s
(937 to 1,037) for four clones with xdist's order, the same evening (most likely because the
heaviest files then run side by side on the 2 cores).
"""
from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
LONGEST_FILES = ("integration/test_spark_server.py", "integration/test_normalize_increments.py",
                 "e2e/test_follow.py", "e2e/test_run_options.py", "faults/test_fault_matrix.py",
                 "e2e/test_stop_signals.py", "e2e/test_run.py")
FOLDER_ORDER = ("e2e", "faults", "integration", "bench", "unit")


def rank(path: Path) -> tuple[int, int]:
    """Sort key of a test file: its place among the longest files, then its folder's place."""
    try:
        relative = path.resolve().relative_to(TESTS)
    except ValueError:
        return len(LONGEST_FILES), len(FOLDER_ORDER)
    name, folder = relative.as_posix(), relative.parts[0]
    return (LONGEST_FILES.index(name) if name in LONGEST_FILES else len(LONGEST_FILES),
            FOLDER_ORDER.index(folder) if folder in FOLDER_ORDER else len(FOLDER_ORDER))
