"""The `studentflow` command: one module per command group in this package.

Each module exposes ``register(subparsers)`` and declares each command line it adds with
``add_command`` (studentflow/cli/_group.py), naming its handler and what the assembler needs:
``handler=..., lock=..., can_fail=...``.
``lock`` is True when the command changes the project's state (it takes the project lock,
studentflow/lock.py), or a function of the parsed arguments when only some uses do;
``can_fail`` is True when a check can fail (``ExitCode.FAILED``). A handler takes
``(args, settings)`` and returns an exit code. Command modules import nothing heavy at top level
(pyspark, dbt, Great Expectations, pandas, confluent_kafka), so ``--help`` stays instant.
This module only assembles them, parses, applies the lock and maps errors to exit codes.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from studentflow import __version__
from studentflow.core import config as core_config   # `config` names this package's command module
from studentflow.core.errors import ExitCode, exit_codes_help, from_world

# In --help order; adding a command group is one module here and one name below.
COMMANDS = ("config", "stack", "connect", "produce", "normalize", "transform", "validate", "report", "docs", "run")

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


def build_parser() -> argparse.ArgumentParser:
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
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)   # a broken module fails loudly
    for name, line, leaf in leaves(sub):
        leaf.set_defaults(sf_command=name, sf_action=line.partition(" ")[2] or None)
        _add_exit_codes(leaf)
    return parser


def leaves(sub: argparse._SubParsersAction) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(command, "command" or "command action", parser) of every command line that runs a handler."""
    out = []
    for name, cmd in sub.choices.items():
        actions = [a for a in cmd._actions if isinstance(a, argparse._SubParsersAction)]
        found = [(name, f"{name} {act}", p) for a in actions for act, p in a.choices.items()]
        out += found or [(name, name, cmd)]
    return out


def _add_exit_codes(parser: argparse.ArgumentParser) -> None:
    """Append to a command's --help the exit codes it can return, from its declaration."""
    codes = {ExitCode.OK, ExitCode.USAGE, ExitCode.SETUP, ExitCode.INTERRUPTED}
    if parser.get_default("can_fail"):
        codes.add(ExitCode.FAILED)
    if parser.get_default("lock"):
        codes.add(ExitCode.BUSY)
    parser.epilog = (parser.epilog.rstrip("\n") + "\n\n" if parser.epilog else "") + exit_codes_help(codes)
    parser.formatter_class = _Formatter


def locked_command(args: argparse.Namespace) -> str | None:
    """The command line to record as lock holder, or None for a command that only reads."""
    lock = getattr(args, "lock", False)
    if callable(lock):
        lock = lock(args)
    if not lock:
        return None
    action = getattr(args, "sf_action", None)
    return f"{args.sf_command} {action}" if action else args.sf_command


def _closed_outputs() -> list[int]:
    """Standard output and error descriptors that are pipes whose reader has gone (`... | head`)."""
    import select

    closed = []
    for fd in (1, 2):
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        if any(events & select.POLLERR for _fd, events in poller.poll(0)):
            closed.append(fd)
    return closed


def _run(args: argparse.Namespace, settings: core_config.Settings) -> int:
    name = locked_command(args)
    if name is None:
        code = int(args.handler(args, settings) or 0)
    else:
        from studentflow.lock import project_lock

        with project_lock(settings, name, wait=not args.fail_if_busy,
                          say=lambda msg: print(msg, file=sys.stderr, flush=True)):
            code = int(args.handler(args, settings) or 0)
    try:
        sys.stdout.flush()   # a closed pipe shows here, not at exit
    except BrokenPipeError:
        closed = _closed_outputs()
        if not closed:
            raise
        _silence(closed)   # the command ran to its end: its exit code stands
    return code


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    try:
        return parser.parse_args(argv)
    except SystemExit:   # --help, --version or a usage error: written, then flushed at exit
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            _silence(_closed_outputs())
        raise


def _silence(fds: list[int]) -> None:
    """Point closed outputs at /dev/null, so nothing written later (the exit's flush included) fails."""
    import os

    for fd in fds:
        os.dup2(os.open(os.devnull, os.O_WRONLY), fd)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = _parse(parser, argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return ExitCode.USAGE
    if args.old_no_wait:
        print("studentflow: `--no-wait` before the command is deprecated: use --fail-if-busy", file=sys.stderr)
        args.fail_if_busy = True
    settings = None
    try:
        settings = core_config.load()
        return _run(args, settings)
    except KeyboardInterrupt:
        print("studentflow: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - what the world does becomes one line; bugs keep their traceback
        closed = _closed_outputs() if isinstance(exc, BrokenPipeError) else []
        if closed:   # the reader has seen enough: end quietly, as `... | head` expects
            _silence(closed)
            return ExitCode.OK
        err = from_world(exc)
        if err is None:
            raise
        print(core_config.redact(f"studentflow: error: {err}", settings), file=sys.stderr)
        return err.exit_code


def entry() -> None:
    """The `studentflow` program (the console script and ``python -m studentflow.cli``): :func:`main`,
    then :func:`studentflow.core.procs.end_process` (``--help`` and usage errors end in argparse's
    SystemExit, the normal way)."""
    from studentflow.core.procs import end_process

    end_process(int(main()))
