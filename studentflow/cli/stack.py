"""`studentflow stack up|down|status`: the embedded broker + Kafka Connect worker."""
from __future__ import annotations

import argparse
import json
import sys
import time

from studentflow.cli._group import add_command, add_group
from studentflow.core.config import Settings
from studentflow.core.errors import ExitCode


def register(sub: argparse._SubParsersAction) -> None:
    s = add_group(sub, "stack",
                  help="start/stop/inspect the embedded Kafka broker, Connect worker, Spark Connect server and quality worker",
                  description="The local stack: Tansu (Kafka protocol, memory only), a real Apache "
                              "Kafka Connect worker, a Spark Connect server (warm Spark for every "
                              "normalize) and a quality worker (dbt, Great Expectations and the report "
                              "with their libraries imported, for every run), on free 127.0.0.1 ports. State and logs live in the state folder.")
    with add_command(s, "up", help="start the stack (no-op if it is already running)",
                     handler=_up, lock=True, can_fail=False,
                     json="print the state (as `stack status --json`) as one JSON object") as u:
        u.add_argument("--broker-port", type=int, help="broker port (default: a free one)")
        u.add_argument("--connect-port", type=int, help="Connect REST port (default: a free one)")
        u.add_argument("--mode", choices=("standalone", "distributed"), help="Connect worker mode (default: connect_mode setting)")
    with add_command(s, "down", help="stop exactly the processes `stack up` started",
                     handler=_down, lock=True, can_fail=False, json="print what was stopped as one JSON object"):
        pass   # no option but --json
    with add_command(s, "status", help="show ports, PIDs and log files; exit 1 if not running",
                     handler=_status, lock=False, can_fail=True, json="print the state as one JSON object"):
        pass


def _up(args: argparse.Namespace, settings: Settings) -> int:
    from studentflow import stack

    t0 = time.monotonic()
    log = (lambda msg: print(msg, file=sys.stderr, flush=True)) if args.json else print
    state, started = stack.up(settings, broker_port=args.broker_port, connect_port=args.connect_port,
                              mode=args.mode, progress=log)
    if args.json:
        print(json.dumps(stack.status(settings), sort_keys=True))
        return 0
    if not started:
        # a Spark server or quality worker that had died was restarted above (its line says so)
        print(f"stack already running (started {state.started_at}): the broker and the Connect worker are kept")
    else:
        print(f"stack ready in {time.monotonic() - t0:.1f}s")
    print(f"bootstrap server: {state.bootstrap}")
    print(f"Connect REST:     {state.connect_url}")
    spark = stack.status(settings).get("spark") or {}
    print(f"Spark Connect:    {spark.get('remote') or spark.get('url', '(not started)')}"
          + ("" if spark.get("remote") else "  (warming up in the background)" if started else ""))
    quality = stack.status(settings).get("quality") or {}
    print(f"quality worker:   {quality.get('remote') or quality.get('address', '(off: warm_quality)')}"
          + ("" if quality.get("remote") else "  (importing dbt and Great Expectations in the background)" if started else ""))
    print(f"logs:             {state.broker_log or '(hosted broker)'} , {state.connect_log} , {spark.get('log', '')}"
          f"{' , ' + quality['log'] if quality.get('log') else ''}")
    return 0


def _down(args: argparse.Namespace, settings: Settings) -> int:
    from studentflow import stack

    stopped = stack.down(settings)
    if args.json:
        print(json.dumps({"stopped": list(stopped)}, sort_keys=True))
        return 0
    print("stopped: " + ", ".join(stopped) if stopped else "no stack running")
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    from studentflow import stack

    st = stack.status(settings)
    if args.json:
        print(json.dumps(st, sort_keys=True))
    elif not st["running"] and "alive" not in st:
        print("stack: not running (start it with `studentflow stack up`)")
    else:
        print(f"stack: {'running' if st['running'] else 'DEGRADED'} (mode {st['connect_mode']}, since {st['started_at']})")
        print(f"  broker   {st['bootstrap']:<24} pid {st['broker_pid']:<8} {'up' if st['alive']['broker'] else 'DOWN'}  log {st['broker_log']}")
        print(f"  connect  {st['connect_url']:<24} pid {st['connect_pid']:<8} {'up' if st['alive']['connect'] else 'DOWN'}  log {st['connect_log']}")
        _print_spark(st)
        _print_quality(st)
        if not st["running"]:
            print("  a process died: `studentflow stack up` restarts it (broker data is memory only; "
                  "a dead Spark server or quality worker is also restarted by the next `run`)")
    return ExitCode.OK if st["running"] else ExitCode.FAILED


def _print_spark(st: dict) -> None:
    spark = st.get("spark")
    if spark is None:
        print("  spark    not started (`studentflow stack up` starts it; `normalize` alone starts one for itself)")
    elif "remote" in spark:
        print(f"  spark    {spark['remote']:<24} (configured remote Spark Connect endpoint: not ours to watch)")
    else:
        print(f"  spark    {spark['url']:<24} pid {spark['pid']:<8} {'up' if st['alive'].get('spark') else 'DOWN'}  "
              f"log {spark['log']}  (master {spark['master']})")


def _print_quality(st: dict) -> None:
    q = st.get("quality")
    if q is None:
        print("  quality  not started (`studentflow stack up` starts it unless warm_quality is off; "
              "`run` then imports dbt and Great Expectations itself)")
    elif "remote" in q:
        print(f"  quality  {q['remote']:<24} (configured quality worker: not ours to watch)")
    else:
        print(f"  quality  {q['address']:<24} pid {q['pid']:<8} {'up' if st['alive'].get('quality') else 'DOWN'}  "
              f"log {q['log']}  (dbt, Great Expectations, the report)")
        if q.get("code_changed"):
            print("           it runs studentflow's code from before a change: the next `run` or `stack up` restarts it")

