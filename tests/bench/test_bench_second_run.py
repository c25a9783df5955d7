"""bench.second_run: its medians and argument checks (the benchmark itself starts whole stacks:
run by hand, `python -m bench.second_run`)."""
from __future__ import annotations

import pytest

from bench import second_run


def test_the_medians_are_per_stage_and_a_missing_stage_counts_as_zero():
    runs = [{"total_seconds": 7.0, "stages": {"normalize": 2.0, "transform": 1.0}},
            {"total_seconds": 5.0, "stages": {"normalize": 1.0, "transform": 3.0, "validate": 0.9}},
            {"total_seconds": 6.0, "stages": {"normalize": 4.0, "transform": 2.0, "validate": 0.6}}]
    assert second_run.summarize(runs) == {"total_seconds": 6.0,
                                          "stages": {"normalize": 2.0, "transform": 2.0, "validate": 0.6}}


@pytest.mark.parametrize("args", [["--runs", "0"], ["--count", "0"]])
def test_sizes_it_cannot_measure_are_refused(args, capsys):
    with pytest.raises(SystemExit) as exc:
        second_run.main(args)
    assert exc.value.code == 2 and "at least" in capsys.readouterr().err
