"""The `studentflow` command: one sub-command group per pipeline stage.

Each stage package owns its sub-commands in a small ``cli.py`` exposing ``register(subparsers)``;
those modules import nothing heavy at top level, so ``--help`` stays instant. A handler is named
after the last word of its command line (``connect apply`` -> ``_apply``, ``normalize`` ->
``_normalize``), takes ``(args, settings)`` and returns an exit code.
"""
from __future__ import annotations

import argparse
import sys

from studentflow import __version__
from studentflow.core import config
from studentflow.core.errors import ExitCode, exit_codes_help, from_world

STAGE_CLIS = (
    "studentflow.stack_cli",   # stack up|down|status
    "connect.cli",             # connect apply|validate|status|lag|restart|delete
    "producer.cli",            # produce
    "spark_jobs.cli",          # normalize
    "studentflow.transform.cli",  # transform (dbt)
    "expectations.cli",        # validate (GX)
    "studentflow.report.cli",  # report
    "studentflow.docs_cli",    # docs serve|build
    "studentflow.pipeline_cli",  # run
)

EPILOG = f"""\
typical flow:
  studentflow run                     everything, end to end, on the embedded stack
  studentflow stack up                start the embedded broker + Kafka Connect worker
  studentflow produce --count 1000    publish student events to the topic
  studentflow connect lag --wait      wait until the staging sink has caught up
  studentflow normalize               staging -> clean_students + quarantine_students
  studentflow transform               dbt build (marts + tests)
  studentflow validate                Great Expectations gate (exit 1 on a breach)
  studentflow report                  markdown report + plots

settings come from STUDENTFLOW_* environment variables or studentflow.toml;
`studentflow config` shows the effective values (secrets masked).

one state-changing command at a time per project: a second one waits for the first
(it prints who holds the lock) or, with `studentflow --fail-if-busy COMMAND`, exits {ExitCode.BUSY:d} at once.
read-only commands (config, stack status, connect status/lag/validate, docs serve) never wait.

--json (on every command that reports): one JSON object on stdout, progress on stderr,
the same exit code; an error stays one line on stderr.

"""


class _Formatter(argparse.HelpFormatter):
    """Wraps a one-line description; keeps a multi-line text (examples, exit codes) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def _config(args: argparse.Namespace, settings: config.Settings) -> int:
    if args.markdown:
        print(config.reference_markdown())
        return 0
    if args.json:
        import json

        def typed(key: str, text: str):   # numbers and booleans stay so; paths and secrets (masked) are text
            value = getattr(settings, key)
            return value if isinstance(value, (int, float, bool)) and key not in config.SECRET_KEYS else text

        print(json.dumps({k: typed(k, v) for k, v in settings.redacted().items()}, sort_keys=True))
        return 0
    width = max(len(k) for k in settings.redacted())
    for key, value in settings.redacted().items():
        print(f"{key:<{width}}  {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="studentflow",
        description="Event-driven student data pipeline: Kafka -> Kafka Connect -> Spark -> dbt -> Great Expectations -> report.",
        epilog=EPILOG + exit_codes_help(),
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"studentflow {__version__}")
    parser.add_argument("--fail-if-busy", action="store_true",
                        help="if another state-changing command (run, stack up/down, normalize, transform, validate, "
                             "report, docs build, connect apply/delete/...) is running in this project, refuse at once "
                             f"with exit code {ExitCode.BUSY:d} instead of waiting for it: `studentflow --fail-if-busy run`")
    parser.add_argument("--no-wait", dest="old_no_wait", action="store_true",
                        help="deprecated spelling of --fail-if-busy, removed in the next release "
                             "(`connect apply --no-wait` is another option: do not wait for RUNNING)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    cfg = sub.add_parser("config", help="show the effective settings (secrets masked)")
    fmt = cfg.add_mutually_exclusive_group()
    fmt.add_argument("--markdown", action="store_true", help="print the configuration reference as a markdown table")
    fmt.add_argument("--json", action="store_true", help="print the effective settings as one JSON object")
    cfg.set_defaults(handler=_config)
    for name in STAGE_CLIS:
        importlib.import_module(name).register(sub)   # a broken stage fails loudly, never vanishes from --help
    # Record which command and action were chosen (stages may use `command` for their own ends).
    for name, cmd in sub.choices.items():
        cmd.set_defaults(sf_command=name, sf_action=None)
        for action in cmd._actions:
            if isinstance(action, argparse._SubParsersAction):
                for act_name, act in action.choices.items():
                    act.set_defaults(sf_action=act_name)
    _exit_code_epilogs(sub)
    return parser


# Commands whose checks can fail (ExitCode.FAILED): "command" or "command action".
CAN_FAIL = {"run", "normalize", "transform", "validate", "report", "produce", "docs build", "stack status",
            "connect apply", "connect validate", "connect status", "connect lag"}


def _exit_code_epilogs(sub: argparse._SubParsersAction) -> None:
    """Append to each command's --help the exit codes it can return (from studentflow.core.errors, once)."""
    for name, cmd in sub.choices.items():
        actions = [a for a in cmd._actions if isinstance(a, argparse._SubParsersAction)]
        leaves = [(f"{name} {act}", p, act) for a in actions for act, p in a.choices.items()] or [(name, cmd, None)]
        for line, parser, action in leaves:
            codes = {ExitCode.OK, ExitCode.USAGE, ExitCode.SETUP, ExitCode.INTERRUPTED}
            if line in CAN_FAIL or name in CAN_FAIL:
                codes.add(ExitCode.FAILED)
            if name in LOCKED and (LOCKED[name] is None or action in LOCKED[name]):
                codes.add(ExitCode.BUSY)
            parser.epilog = (parser.epilog.rstrip("\n") + "\n\n" if parser.epilog else "") + exit_codes_help(codes)
            parser.formatter_class = _Formatter


# Commands that change the project's state take the project lock (studentflow/lock.py):
# command -> None (every action) or the set of its actions that change state.
LOCKED = {"run": None, "normalize": None, "transform": None, "validate": None, "report": None,
          "stack": {"up", "down"}, "docs": {"build"},
          "connect": {"apply", "delete", "pause", "resume", "stop", "restart", "offsets"}}


def locked_command(args: argparse.Namespace) -> str | None:
    """The command line to record as lock holder, or None for a read-only command."""
    command = getattr(args, "sf_command", None)
    if command not in LOCKED:
        return None
    actions = LOCKED[command]
    if actions is None:
        return command
    action = getattr(args, "sf_action", None)
    if action not in actions:
        return None
    if action == "offsets" and not (getattr(args, "reset", False) or getattr(args, "set", None)):
        return None  # showing offsets reads only
    return f"{command} {action}"


def main(argv: list[str] | None = None) -> int:

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return ExitCode.USAGE
    if args.old_no_wait:
        print("studentflow: `--no-wait` before the command is deprecated: use --fail-if-busy", file=sys.stderr)
        args.fail_if_busy = True
    settings = None
    try:
        settings = config.load()
        name = locked_command(args)
        if name is None:
            return int(args.handler(args, settings) or 0)
        from studentflow.lock import project_lock

        with project_lock(settings, name, wait=not args.fail_if_busy,
                          say=lambda msg: print(msg, file=sys.stderr, flush=True)):
            return int(args.handler(args, settings) or 0)
    except KeyboardInterrupt:
        print("studentflow: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - what the world does becomes one line; bugs keep their traceback
        err = from_world(exc)
        if err is None:
            raise
        print(config.redact(f"studentflow: error: {err}", settings), file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())
