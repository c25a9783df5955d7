"""The `studentflow` command: one sub-command group per pipeline stage.

Each stage package owns its sub-commands in a small ``cli.py`` exposing ``register(subparsers)``;
those modules import nothing heavy at top level, so ``--help`` stays instant. Handlers take
``(args, settings)`` and return an exit code.
"""
from __future__ import annotations

import argparse
import sys

from studentflow import __version__, config
from studentflow.errors import StudentflowError

STAGE_CLIS = (
    "studentflow.stack_cli",   # stack up|down|status
    "connect.cli",             # connect apply|validate|status|lag|restart|delete
    "producer.cli",            # produce
    "spark_jobs.cli",          # normalize
    "studentflow.transform",   # transform (dbt)
    "expectations.cli",        # validate (GX)
    "studentflow.report.cli",  # report
    "studentflow.pipeline_cli",  # run
)

EPILOG = """\
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
"""


def _config_cmd(args: argparse.Namespace, settings: config.Settings) -> int:
    if args.markdown:
        print(config.reference_markdown())
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
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"studentflow {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    cfg = sub.add_parser("config", help="show the effective settings (secrets masked)")
    cfg.add_argument("--markdown", action="store_true", help="print the configuration reference as a markdown table")
    cfg.set_defaults(handler=_config_cmd)
    for name in STAGE_CLIS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # stage not built yet
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        settings = config.load()
        return int(args.handler(args, settings) or 0)
    except StudentflowError as exc:
        print(f"studentflow: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("studentflow: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
