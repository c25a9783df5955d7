"""Which steps keep dbt's parse between runs: the stack's quality worker's (it serves many runs),
not a one-shot `run`'s (a parse and then a build would be two dbt invocations for one)."""
from __future__ import annotations

from studentflow.pipeline import quality_service
from studentflow.pipeline.derive import Report, Transform, Validate


def test_the_workers_transform_keeps_the_parse_and_a_runs_own_does_not():
    steps = quality_service._steps(["transform", "validate", "report"])
    assert [type(s) for s in steps] == [Transform, Validate, Report]
    assert steps[0].keep_parse is True
    assert Transform().keep_parse is False
