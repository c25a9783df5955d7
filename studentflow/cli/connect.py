"""`studentflow connect ...`: connectors as code, through the Kafka Connect REST API."""
from __future__ import annotations

import argparse
import json
import sys

from studentflow.cli._group import add_command, add_group
from studentflow.core.config import Settings
from studentflow.core.errors import ConnectError, ExitCode

FILES_HELP = "connector JSON file(s) (default: every file in connect/connectors/)"
JSON_HELP = "print the result as one JSON object on stdout"


def register(sub: argparse._SubParsersAction) -> None:
    s = add_group(sub, "connect", help="manage Kafka Connect connectors (apply, validate, status, lag, ...)",
                  description="Connectors are code: one {\"name\", \"config\"} JSON file per connector in "
                              "connect/connectors/. Values use Kafka's config providers (${env:STUDENTFLOW_TOPIC}, "
                              "${file:PATH:KEY}), resolved by the worker: the files can be posted as they are "
                              "with curl too.")
    _add_files_actions(s)
    _add_inspect_actions(s)
    _add_lifecycle_actions(s)
    _add_offsets(s)


def _add_files_actions(s: argparse._SubParsersAction) -> None:
    with add_command(s, "apply", help="create or update connectors (idempotent: unchanged files are no-ops)",
                     handler=_apply, lock=True, can_fail=True, json=JSON_HELP) as a:
        a.add_argument("files", nargs="*", help=FILES_HELP)
        a.add_argument("--no-wait", action="store_true", help="do not wait for the connector and its tasks to be RUNNING")
        a.add_argument("--timeout", type=float, default=60, help="seconds to wait for RUNNING (default 60)")

    with add_command(s, "validate",
                     help=f"validate connector files against the worker; exit {ExitCode.FAILED:d} on any error",
                     handler=_validate, lock=False, can_fail=True, json=JSON_HELP) as v:
        v.add_argument("files", nargs="*", help=FILES_HELP)


def _add_inspect_actions(s: argparse._SubParsersAction) -> None:
    with add_command(s, "status", help="connector and task states (and the trace of a failed task)",
                     handler=_status, lock=False, can_fail=True, json=JSON_HELP) as st:
        st.add_argument("name", nargs="?", help="connector name (default: all)")

    with add_command(s, "lag",
                     help="messages the sink has not consumed yet (committed offsets vs the topic's true end)",
                     handler=_lag, lock=False, can_fail=True, json=JSON_HELP) as lg:
        lg.add_argument("name", nargs="?", help="connector name (default: the staging sink)")
        lg.add_argument("--wait", action="store_true", help="block until lag is 0")
        lg.add_argument("--timeout", type=float, default=300,
                        help=f"with --wait: give up (exit {ExitCode.FAILED:d}) after this many seconds (default 300)")


def _add_lifecycle_actions(s: argparse._SubParsersAction) -> None:
    for action, handler, text in (("restart", _restart, "restart a connector and its tasks (e.g. after a FAILED task)"),
                                  ("delete", _delete, "delete a connector (its staging file stays)")):
        with add_command(s, action, help=text, handler=handler, lock=True, can_fail=False, json=JSON_HELP) as x:
            x.add_argument("name", help="connector name")

    for action, text in (("pause", "pause a connector and its tasks (PUT /connectors/NAME/pause)"),
                         ("resume", "resume a paused or stopped connector (PUT /connectors/NAME/resume)"),
                         ("stop", "stop a connector, keeping its config (PUT /connectors/NAME/stop); "
                                  "needed before its offsets can be reset or changed")):
        with add_command(s, action, help=text, handler=_lifecycle, lock=True, can_fail=False, action=action,
                         json=JSON_HELP) as x:
            x.add_argument("name", help="connector name")
            x.add_argument("--timeout", type=float, default=30, help="seconds to wait for the new state (default 30)")


def _add_offsets(s: argparse._SubParsersAction) -> None:
    with add_command(s, "offsets", help="show a connector's offsets; --reset or --set them (Kafka 3.6+, STOPPED only)",
                     description="Without options: GET /connectors/NAME/offsets. --reset: DELETE (a sink starts "
                                 "again from its consumer's auto.offset.reset, a source from the start of its "
                                 "input); --set FILE: PATCH with {\"offsets\": [...]} from a JSON file. Both need "
                                 "the connector STOPPED (`connect stop NAME`, or --stop); `connect resume NAME` after.",
                     handler=_offsets, lock=_changes_offsets, can_fail=False, json=JSON_HELP) as o:
        o.add_argument("name", help="connector name")
        g = o.add_mutually_exclusive_group()
        g.add_argument("--reset", action="store_true", help="delete every offset of the connector")
        g.add_argument("--set", metavar="FILE", help='JSON file {"offsets": [{"partition": {...}, "offset": {...}}]}')
        o.add_argument("--stop", action="store_true", help="stop the connector first if it is not STOPPED")


def _changes_offsets(args: argparse.Namespace) -> bool:
    """Only resetting or setting offsets changes state; showing them reads only."""
    return bool(args.reset or args.set)


def _client(settings: Settings):
    from connect import rest

    return rest.client(settings)


def _default_connector(settings: Settings) -> str:
    from connect import rest

    sinks = [cf for cf in rest.connector_files(None, settings) if not cf.is_source]
    if not sinks:
        raise ConnectError("no sink connector file in connect/connectors/", "name the connector: `connect lag NAME`")
    return sinks[0].name


def _apply(args, settings: Settings) -> int:
    from connect import rest

    done: list[dict] = []

    def applied(cf, outcome: str, st: dict | None) -> None:
        done.append({"connector": cf.name, "file": cf.path.name, "outcome": outcome,
                     "state": None if st is None else "RUNNING", "tasks": None if st is None else len(st.get("tasks", []))})
        if not args.json:
            print(f"{cf.name}: {outcome}")
            if st is not None:
                print(f"{cf.name}: RUNNING ({len(st.get('tasks', []))} task(s))")

    invalid = None
    try:
        rest.apply_all(_client(settings), rest.connector_files(args.files, settings),
                       make_folders=settings.embedded_connect, wait=not args.no_wait, timeout=args.timeout,
                       on_applied=applied)
    except rest.ConnectorInvalid as exc:
        _print_errors(exc.connector_file, exc.errors)
        invalid = _invalid_json(exc.connector_file, exc.errors)
    if args.json:
        print(json.dumps({"ok": invalid is None, "applied": done, "invalid": [invalid] if invalid else []},
                         sort_keys=True))
    return ExitCode.FAILED if invalid else ExitCode.OK


def _invalid_json(cf, errors) -> dict:
    return {"connector": cf.name, "file": cf.path.name,
            "errors": [{"field": field, "message": message} for field, message in errors]}


def _print_errors(cf, errors) -> None:
    print(f"{cf.path.name} ({cf.name}): {len(errors)} error(s)", file=sys.stderr)
    for field, message in errors:
        print(f"  {field}: {message}", file=sys.stderr)


def _validate(args, settings: Settings) -> int:
    from connect import rest

    client = _client(settings)
    valid, invalid = [], []
    for cf in rest.connector_files(args.files, settings):
        errors = rest.validate(client, cf)
        if errors:
            _print_errors(cf, errors)
            invalid.append(_invalid_json(cf, errors))
        else:
            valid.append({"connector": cf.name, "file": cf.path.name})
            if not args.json:
                print(f"{cf.path.name} ({cf.name}): valid")
    if args.json:
        print(json.dumps({"ok": not invalid, "valid": valid, "invalid": invalid}, sort_keys=True))
    return ExitCode.FAILED if invalid else ExitCode.OK


def _status(args, settings: Settings) -> int:
    client = _client(settings)
    names = [args.name] if args.name else client.request("GET", "/connectors")
    report = {n: client.request("GET", f"/connectors/{n}/status") for n in names}
    if args.json:
        print(json.dumps(report, sort_keys=True))
    elif not names:
        print("no connectors (apply them with `studentflow connect apply`)")
    failed = False
    for name, st in report.items():
        conn = st.get("connector", {})
        failed |= conn.get("state") == "FAILED"
        if not args.json:
            print(f"{name}: {conn.get('state')} on {conn.get('worker_id')}")
        for task in st.get("tasks", []):
            failed |= task.get("state") == "FAILED"
            if not args.json:
                print(f"  task {task.get('id')}: {task.get('state')}")
                if task.get("trace"):
                    print("    " + "\n    ".join(task["trace"].strip().splitlines()[:15]))
    return ExitCode.FAILED if failed else ExitCode.OK


def _lag(args, settings: Settings) -> int:
    from connect import lag as lag_mod
    from studentflow.core.endpoints import kafka_conf

    name = args.name or _default_connector(settings)
    if args.name and lag_mod.is_source(name, settings):
        raise ConnectError(f"{name} is a source connector: it has no consumer lag",
                           f"`studentflow connect offsets {name}` shows how far it has read")
    conf = kafka_conf(settings)
    if args.wait:
        def progress(total, end):
            if sys.stderr.isatty():
                print(f"\r  lag {total:>10,} of {end:,} messages", end="", file=sys.stderr, flush=True)
        lags = lag_mod.wait_for_zero(conf, name, settings.topic, timeout=args.timeout, progress=progress)
        if sys.stderr.isatty():
            print(file=sys.stderr)
    else:
        lags = lag_mod.connector_lag(conf, name, settings.topic)
    total = sum(x.lag for x in lags)
    if args.json:
        print(json.dumps({"connector": name, "topic": settings.topic, "total_lag": total,
                          "partitions": [{"partition": x.partition, "end": x.end, "committed": x.committed,
                                          "lag": x.lag} for x in lags]}, sort_keys=True))
    else:
        for x in lags:
            print(f"  {settings.topic}[{x.partition}] end {x.end:>10,} committed {x.committed:>10,} lag {x.lag:>10,}")
        print(f"{name}: total lag {total:,}")
    return 0


def _restart(args, settings: Settings) -> int:
    client = _client(settings)
    client.request("POST", f"/connectors/{args.name}/restart?includeTasks=true&onlyFailed=false")
    _done(args, "restart requested")
    return 0


def _done(args, outcome: str) -> None:
    """The one-line result of an operation on connector ``args.name`` (a JSON object with --json)."""
    if args.json:
        print(json.dumps({"connector": args.name, "outcome": outcome}, sort_keys=True))
    else:
        print(f"{args.name}: {outcome}")


def _delete(args, settings: Settings) -> int:
    client = _client(settings)
    if client.request("GET", f"/connectors/{args.name}", ok_missing=True) is None:
        raise ConnectError(f"connector {args.name} does not exist", "`studentflow connect status` lists connectors")
    client.request("DELETE", f"/connectors/{args.name}")
    _done(args, "deleted")
    return 0


_WANTED = {"pause": "PAUSED", "resume": "RUNNING", "stop": "STOPPED"}


def _lifecycle(args, settings: Settings) -> int:
    from connect import rest

    client = _client(settings)
    rest.connector_state(client, args.name)  # a clear error for an unknown name
    getattr(rest, args.action)(client, args.name)
    rest.wait_state(client, args.name, _WANTED[args.action], timeout=args.timeout)
    _done(args, _WANTED[args.action])
    return 0


def _offsets(args, settings: Settings) -> int:
    from connect import rest

    client = _client(settings)
    if (args.reset or args.set) and args.stop and rest.connector_state(client, args.name) != "STOPPED":
        rest.stop(client, args.name)
        rest.wait_state(client, args.name, "STOPPED")
        print(f"{args.name}: STOPPED", file=sys.stderr if args.json else sys.stdout)
    if args.reset:
        _done(args, rest.reset_offsets(client, args.name) or "offsets reset")
        print(f"  resume it with `studentflow connect resume {args.name}`", file=sys.stderr if args.json else sys.stdout)
        return 0
    if args.set:
        from pathlib import Path
        try:
            doc = json.loads(Path(args.set).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConnectError(f"cannot read offsets file {args.set}: {exc}", 'write {"offsets": [...]}') from None
        new = doc.get("offsets") if isinstance(doc, dict) else None
        if not isinstance(new, list):
            raise ConnectError(f"{args.set} has no \"offsets\" list", "see `studentflow connect offsets NAME --json`")
        _done(args, rest.alter_offsets(client, args.name, new) or "offsets changed")
        return 0
    offsets = rest.offsets(client, args.name)
    if args.json:
        print(json.dumps({"connector": args.name, "offsets": offsets}, sort_keys=True))
        return 0
    if not offsets:
        print(f"{args.name}: no offsets committed yet")
    for item in offsets:
        part = ", ".join(f"{k}={v}" for k, v in item.get("partition", {}).items())
        off = ", ".join(f"{k}={v}" for k, v in item.get("offset", {}).items())
        print(f"  {part}: {off}")
    return 0
