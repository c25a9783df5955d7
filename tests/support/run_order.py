"""The order the suite hands its files to the workers (tests/conftest.py sorts by it).

With `--dist loadfile` a worker takes a whole file at a time, so a long file taken last keeps
one worker busy while the others idle. The files that take a minute or more (measured with
`--durations`) go out first, then whole folders from the slowest kind to the quickest; the
sort is stable, so inside a group the collection order stays.
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
