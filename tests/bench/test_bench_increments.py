"""bench.increments: its argument checks and the /proc CPU reading its figures rest on."""
from __future__ import annotations

import os
import time

import pytest

from bench import increments


def test_cpu_seconds_reads_what_a_process_spent():
    before = increments.cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:   # busy for 0.3 CPU-seconds
        pass
    spent = increments.cpu_seconds(os.getpid()) - before
    assert 0.2 <= spent < 5, spent


@pytest.mark.parametrize("args", [["--lines", "0"], ["--increments", "0"]])
def test_empty_sizes_are_refused(args, capsys):
    with pytest.raises(SystemExit) as exc:
        increments.main(args)
    assert exc.value.code == 2 and "at least 1" in capsys.readouterr().err
