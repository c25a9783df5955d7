"""The fault matrix at 100k events (docs/reliability.md, "Fault matrix"): real broker, real Connect
worker, real Spark, each fault proven to land where it targets, each ending in exact conservation
against independent counts (delivery reports, the topic read back, staged bytes, the warehouse).

The 1M variant runs the same functions: ``python -m tests.faults --events 1000000``.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.faults import disk
from tests.faults import harness as h
from tests.faults import matrix
from tests.support.stackutil import force_down, stack_env

pytestmark = pytest.mark.slow
N = 100_000


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One stack for the faults that can share it (worker kill, then the killed warehouse write)."""
    tmp = tmp_path_factory.mktemp("faults-shared")
    env = stack_env(tmp)
    yield tmp, env, {}
    force_down(env)


def test_worker_kill_mid_stream_then_run_restarts_it(shared):
    tmp, env, carry = shared
    counts = matrix.worker_kill(env, tmp, N, seed=1, run_count=2000)
    carry["prior"] = h.messages(N, 1) + h.messages(2000, 2)
    print(json.dumps(counts))
    assert counts["staged_at_kill"] < N
    # every line staged beyond what the topic holds is a redelivery, and the warehouse counted
    # it: a clean line's copy as a removed duplicate, a quarantined line's copy as one more row
    assert counts["sink_duplicates"] == counts["redelivered_clean"] + counts["redelivered_quarantined"]
    assert counts["duplicates_removed"] == counts["topic_repeats_clean"] + counts["redelivered_clean"]
    assert counts["quarantined"] == counts["topic_quarantined"] + counts["redelivered_quarantined"]


def test_normalize_killed_during_warehouse_write(shared, tmp_path):
    tmp, env, carry = shared
    own = None
    if "prior" not in carry:   # run alone (or after a failed worker-kill case): a stack of its own
        tmp, own = tmp_path, stack_env(tmp_path)
        env = own
    try:
        prior = carry["prior"] if own is None else matrix.normalized_stack(env, 2000, seed=2)
        counts = matrix.normalize_killed(env, tmp, N, seed=3, prior=prior)
    finally:
        if own is not None:
            force_down(own)
    print(json.dumps(counts))
    assert counts["next_run"] == counts["new_lines"]


def _on_own_stack(case, tmp_path, seed: int, **env_extra) -> dict:
    """One fault case on a stack of its own, always torn down; its counts printed for the report."""
    env = stack_env(tmp_path, **env_extra)
    try:
        counts = case(env, tmp_path, N, seed=seed)
    finally:
        force_down(env)
    print(json.dumps(counts))
    return counts


def test_worker_killed_then_run_no_produce_restarts_it(tmp_path):
    counts = _on_own_stack(matrix.worker_dead_no_produce, tmp_path, seed=9)
    assert counts["staged_at_kill"] < N <= counts["run_normalized"]


def test_broker_kill_mid_produce(tmp_path):
    # the run gives up on the dead broker's unacknowledged events after 8 s instead of the default 30 s
    counts = _on_own_stack(matrix.broker_kill, tmp_path, seed=5, STUDENTFLOW_DELIVERY_TIMEOUT="8")
    assert counts["acked"] < N and counts["run_says_lost"] == counts["acked_not_staged"]


def test_staging_disk_full(tmp_path):
    mnt = tmp_path / "small-disk"
    why_not = disk.mount_small_disk(mnt, 4)
    if why_not:
        pytest.skip(f"no small file system for staging: {why_not}")
    try:
        counts = _on_own_stack(matrix.disk_full, tmp_path, seed=7, STUDENTFLOW_STAGING_DIR=str(mnt / "staging"))
    finally:
        disk.umount(mnt)
    assert counts["staged_lines"] < N
    # staging on the small file system, the state folder elsewhere: the increment's copy crosses
    # file systems (disk_full asserts normalize's exit and the balance itself)
    assert counts["normalize_exit"] == 0, counts["normalize_error"]
