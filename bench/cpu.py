"""CPU seconds by process role while one command runs: every process on the machine, not only its children.

    python -m bench.cpu [--interval 0.2] [--json F] -- COMMAND [ARGS...]

A stack's services (the broker, the Connect worker, the Spark server) are not children of the
command that uses them, so a child-only count misses what a run costs them. This reads every
process's user + system time from /proc before the command, every --interval seconds while it
runs (a process that ends in between is counted up to its last sample), and after; prints the
seconds each role used during the command, and the machine's busy CPU seconds from /proc/stat
beside them (what the roles miss: processes that lived shorter than one interval, the kernel).
The command's own output goes to /dev/null; its exit code is this one's.
"""
from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from pathlib import Path

from bench import arg_parser, load
from bench.rss import CLK_TCK, PROC, cmdline


def role(cmd: str) -> str:
    """What a process is, from its command line."""
    for needle, name in (("SparkConnectServer", "spark server"), ("org.apache.kafka.connect", "connect worker"),
                         ("tansu", "broker"), ("quality_service", "quality worker"), ("multiprocessing", "checker (child)"),
                         ("bin/studentflow ", "studentflow"), ("studentflow.cli", "studentflow"),
                         ("bin/dbt ", "dbt"), ("java", "other java"), ("python", "other python")):
        if needle in cmd:
            return name
    return "other"


def _ticks(proc: Path) -> dict[tuple[int, bytes], int]:
    """(pid, its start time) -> CPU ticks so far, for every process (a reused pid is another key)."""
    out = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:   # one read of stat: fields after the command name (which may hold spaces)
                fields = (entry / "stat").read_bytes().rsplit(b")", 1)[1].split()
                out[(int(entry.name), fields[19])] = int(fields[11]) + int(fields[12])   # start; utime + stime
            except (OSError, ValueError, IndexError):
                continue
    return out


def busy_ticks() -> int:
    """The machine's busy CPU time so far (all CPUs), from /proc/stat: everything but idle and iowait."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4]


def measure(command: list[str], interval: float = 0.2, proc: Path = PROC) -> dict:
    before, busy0, t0 = _ticks(proc), busy_ticks(), time.perf_counter()
    last, names = dict(before), {}
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        done = child.poll() is not None
        for key, ticks in _ticks(proc).items():
            last[key] = ticks
            if key not in names:
                names[key] = role(cmdline(key[0], proc))
        if done:
            break
        time.sleep(interval)
    by_role: Counter = Counter()
    for key, ticks in last.items():
        spent = ticks - before.get(key, 0)
        if spent > 0:
            by_role[names.get(key) or role(cmdline(key[0], proc))] += spent / CLK_TCK
    return {"command": command, "exit_code": child.returncode, "wall_s": round(time.perf_counter() - t0, 2),
            "machine_busy_cpu_s": round((busy_ticks() - busy0) / CLK_TCK, 2),
            "cpu_s_by_role": {k: round(v, 2) for k, v in by_role.most_common()},
            "load": load()}


def main(argv: list[str] | None = None) -> int:
    ap = arg_parser("bench.cpu", __doc__)
    ap.add_argument("--interval", type=float, default=0.2, help="seconds between two readings of /proc (default 0.2)")
    ap.add_argument("--json", type=Path, help="also write the result as JSON to this file")
    ap.add_argument("command", nargs="+", help="the command to measure (after --)")
    args = ap.parse_args(argv)
    out = measure(args.command, args.interval)
    for name, seconds in out["cpu_s_by_role"].items():
        print(f"{seconds:8.2f}  {name}")
    print(f"{sum(out['cpu_s_by_role'].values()):8.2f}  all roles; machine busy {out['machine_busy_cpu_s']:.2f} "
          f"CPU-s in {out['wall_s']:.2f} s (load {out['load']}); exit code {out['exit_code']}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return out["exit_code"]


if __name__ == "__main__":
    raise SystemExit(main())
