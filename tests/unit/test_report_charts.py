"""The boxplot's statistics from an (age, count) histogram, checked against matplotlib's own
``boxplot_stats`` on the expanded list of ages (one entry per student)."""
from __future__ import annotations

import random

import numpy as np
import pytest
from matplotlib.cbook import boxplot_stats

from studentflow.report.charts import box_stats


def _cases():
    rng = random.Random(11)
    yield [(22, 1)]                                   # one student
    yield [(20, 2), (21, 2)]                          # an even count: the median between two ages
    yield [(18, 5), (19, 5), (90, 1)]                 # a flier above
    yield [(16, 1), (30, 50), (31, 50), (32, 1)]      # fliers on both sides, IQR of one year
    yield [(25, 7)]                                   # everyone the same age: IQR 0
    for _ in range(40):
        ages = rng.sample(range(16, 80), rng.randint(1, 25))
        yield [(a, rng.choice([0, 1, 2, 3, 10, 250, 4000])) for a in ages]


@pytest.mark.parametrize("histogram", list(_cases()))
def test_box_stats_match_matplotlib_on_the_expanded_ages(histogram):
    if not any(n for _, n in histogram):
        pytest.skip("nobody: the chart leaves such a major out")
    expanded = np.repeat([a for a, _ in histogram], [n for _, n in histogram])
    (want,) = boxplot_stats(expanded)
    got = box_stats(histogram)
    assert got["n"] == len(expanded)
    for key in ("mean", "med", "q1", "q3", "iqr", "cilo", "cihi", "whislo", "whishi"):
        assert got[key] == pytest.approx(want[key], abs=1e-9), key
    assert sorted(set(got["fliers"])) == sorted(set(want["fliers"].tolist()))
    assert len(got["fliers"]) == len(set(got["fliers"]))   # each age once
