"""bench.plan: its argument checks (the run itself: tests/integration/test_bench_plan.py)."""
from __future__ import annotations

import pytest

from bench import plan


@pytest.mark.parametrize("args", [["--lines", "0"], ["--queries", "1"]])
def test_sizes_it_cannot_measure_are_refused(args, capsys):
    with pytest.raises(SystemExit) as exc:
        plan.main(args)
    assert exc.value.code == 2 and "at least" in capsys.readouterr().err
