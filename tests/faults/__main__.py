"""The fault matrix at any scale (the 1M variant of tests/faults/test_fault_matrix.py):

    .venv/bin/python -m tests.faults --events 1000000                  # every fault
    .venv/bin/python -m tests.faults --events 1000000 --faults broker_kill,disk_full

Same functions, same assertions as the slow tests; each fault gets fresh folders under a temporary
directory and its own stack, stopped afterwards. Prints one JSON line of counts per fault and exits
1 if any fault's assertions failed. Takes minutes at 1M on 2 cores; the disk-full case needs root
(a tmpfs, else a loop-mounted ext4 image: tests/faults/disk.py); after the disk fills, normalize
must succeed and balance every complete staged line.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

FAULTS = ("worker_kill", "normalize_killed", "worker_dead_no_produce", "broker_kill", "disk_full")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000, help="events per fault (default 1,000,000)")
    ap.add_argument("--faults", default=",".join(FAULTS), help=f"comma-separated subset of {', '.join(FAULTS)}")
    args = ap.parse_args(argv)
    chosen = [f.strip() for f in args.faults.split(",") if f.strip()]
    unknown = set(chosen) - set(FAULTS)
    if unknown:
        ap.error(f"unknown fault(s) {', '.join(sorted(unknown))}")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from tests.faults import disk
    from tests.faults import harness as h
    from tests.faults import matrix
    from tests.support.stackutil import force_down, stack_env

    failed = 0
    with tempfile.TemporaryDirectory(prefix="studentflow-faults-") as root:
        shared_tmp = Path(root) / "shared"
        shared_env = stack_env(shared_tmp)
        prior: list | None = None
        for fault in chosen:
            t0 = time.monotonic()
            tmp = Path(root) / fault
            env = shared_env if fault in ("worker_kill", "normalize_killed") else stack_env(tmp)
            mnt = tmp / "small-disk"
            try:
                if fault == "worker_kill":
                    counts = matrix.worker_kill(env, shared_tmp, args.events, seed=1)
                    prior = h.messages(args.events, 1) + h.messages(2000, 2)
                elif fault == "normalize_killed":
                    if prior is None:   # needs a normalized warehouse and a running stack first
                        counts = matrix.worker_kill(env, shared_tmp, args.events, seed=1)
                        prior = h.messages(args.events, 1) + h.messages(2000, 2)
                    counts = matrix.normalize_killed(env, shared_tmp, args.events, seed=3, prior=prior)
                elif fault == "worker_dead_no_produce":
                    counts = matrix.worker_dead_no_produce(env, tmp, args.events, seed=9)
                elif fault == "broker_kill":
                    counts = matrix.broker_kill(env, tmp, args.events, seed=5)
                else:
                    why_not = disk.mount_small_disk(mnt, 4)
                    if why_not:
                        raise RuntimeError(f"no small file system for staging: {why_not}")
                    env = stack_env(tmp, STUDENTFLOW_STAGING_DIR=str(mnt / "staging"))
                    counts = matrix.disk_full(env, tmp, args.events, seed=7)
                    counts.pop("run_output", None)
                counts["seconds"] = round(time.monotonic() - t0, 1)
                print(json.dumps(counts), flush=True)
            except Exception:   # noqa: BLE001 - report and go on with the next fault
                failed += 1
                print(json.dumps({"fault": fault, "failed": traceback.format_exc(limit=3)}), flush=True)
            finally:
                if env is not shared_env:
                    force_down(env)
                if fault == "disk_full":
                    disk.umount(mnt)
        force_down(shared_env)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
