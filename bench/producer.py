"""Producer throughput on the embedded broker: ``python -m bench.producer [--sizes 100000,1000000]``.

Starts a throwaway embedded broker on a free loopback port, publishes generated events
(``acks=all``, idempotence on, the settings in ``producer.publish.PRODUCER_DEFAULTS``) and prints
events/s for each size: end to end (first message to last acknowledgement), plus the generator
alone and the CPU time of this process. Not a test: a figure to read and report.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.producer", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100000,1000000", help="comma-separated event counts")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--malformed-rate", type=float, default=0.0)
    ap.add_argument("--json", action="store_true", help="print one JSON object per size")
    args = ap.parse_args(argv)

    from producer import generate
    from producer.publish import PRODUCER_DEFAULTS, publish
    from studentflow import broker as broker_mod
    from studentflow.core import config, procs

    settings = config.load()
    sizes = [int(x) for x in args.sizes.split(",") if x]
    with tempfile.TemporaryDirectory(prefix="sf-producer-bench-") as tmp:
        port = procs.free_port()
        bootstrap = f"127.0.0.1:{port}"
        log = Path(tmp) / "broker.log"
        proc = broker_mod.start(port, log, tie_to_parent=True)
        try:
            broker_mod.wait_ready(bootstrap, proc, log)
            if not args.json:
                print(f"embedded broker {bootstrap}; producer settings: "
                      + ", ".join(f"{k}={v}" for k, v in PRODUCER_DEFAULTS.items() if k != "debug"))
                print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
            for i, n in enumerate(sizes):
                g = generate.for_settings(settings, seed=args.seed, malformed_rate=args.malformed_rate)
                t0 = time.perf_counter()
                for _ in g.messages(n):
                    pass
                gen_rate = n / (time.perf_counter() - t0)
                g = generate.for_settings(settings, seed=args.seed, malformed_rate=args.malformed_rate)
                cpu0, main0, broker0 = time.process_time(), time.thread_time(), _cpu_seconds(proc.pid)
                report = publish(settings, g.messages(n), conf={"bootstrap.servers": bootstrap}, topic=f"bench.{i}")
                cpu, main = time.process_time() - cpu0, time.thread_time() - main0
                broker_cpu = _cpu_seconds(proc.pid) - broker0
                row = {"events": n, "seconds": round(report.elapsed, 3), "events_per_s": round(report.rate),
                       "acked": report.acked, "failed": report.failed, "generator_events_per_s": round(gen_rate),
                       "process_cpu_s": round(cpu, 2), "main_thread_cpu_s": round(main, 2),
                       "broker_cpu_s": round(broker_cpu, 2), "load_avg_1m": round(os.getloadavg()[0], 2)}
                if args.json:
                    print(json.dumps(row))
                else:
                    print(f"{n:>10,} events: {report.rate:>9,.0f} events/s end to end ({report.elapsed:.2f} s, "
                          f"{report.acked:,} acked, {report.failed:,} failed); generator alone {gen_rate:,.0f}/s; "
                          f"CPU s: producer {cpu:.2f} (Python thread {main:.2f}), broker {broker_cpu:.2f}; "
                          f"load {row['load_avg_1m']}")
        finally:
            procs.stop_pid(proc.pid, timeout=5)
    return 0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    raise SystemExit(main())
