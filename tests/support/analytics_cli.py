"""Run a studentflow sub-command in-process with explicit Settings (as the CLI would)."""
from __future__ import annotations

from studentflow import cli
from studentflow.core import config
from studentflow.core.errors import StudentflowError


def run(argv: list[str], settings: config.Settings) -> tuple[int, str]:
    """(exit code, error line) of `studentflow <argv>` with these settings."""
    args = cli.build_parser().parse_args(argv)
    try:
        return int(args.handler(args, settings) or 0), ""
    except StudentflowError as exc:
        return exc.exit_code, str(exc)
