"""`studentflow run`: the whole pipeline end to end (what `make run` calls)."""
from __future__ import annotations

import argparse

from studentflow.config import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="run the whole pipeline: stack, produce, sink, normalize, dbt, gate, report",
        description="Brings the embedded stack up when no Kafka is configured (or uses the configured one), "
                    "applies the connectors, produces demo events, waits for the staging sink, normalizes with "
                    "Spark, builds the dbt marts, runs the Great Expectations gate and writes the report. "
                    "Stops what it started unless --keep-stack. Exit 1 if the gate fails.")
    p.add_argument("--count", type=int, default=10_000, help="demo events to produce (default 10,000)")
    p.add_argument("--malformed-rate", type=float, default=0.05,
                   help="share of malformed messages, so the quarantine is visible (default 0.05)")
    p.add_argument("--seed", type=int, help="seed for reproducible events (default: new events every run)")
    p.add_argument("--no-produce", action="store_true",
                   help="produce nothing: process what is already on the topic or in staging")
    p.add_argument("--keep-stack", action="store_true", help="leave the embedded stack running afterwards")
    p.add_argument("--fresh", action="store_true", help="delete staging files and the warehouse first")
    p.add_argument("--lang", choices=("fr", "en"), default="fr", help="report language (default fr)")
    p.add_argument("--no-gate", action="store_true", help="skip the Great Expectations gate")
    p.add_argument("--sink-timeout", type=float, default=600, help="seconds to wait for the sink to catch up")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from studentflow.pipeline import Pipeline, RunOptions

    if args.count < 0 or not 0 <= args.malformed_rate <= 1:
        from studentflow.errors import ConfigError
        raise ConfigError("--count must be >= 0 and --malformed-rate between 0 and 1", "fix the option")
    opts = RunOptions(count=args.count, malformed_rate=args.malformed_rate, seed=args.seed,
                      produce=not args.no_produce and args.count > 0, keep_stack=args.keep_stack,
                      fresh=args.fresh, lang=args.lang, sink_timeout=args.sink_timeout, gate=not args.no_gate)
    summary = Pipeline(settings, opts).run()
    print()
    print("== summary ==")
    c = summary.counts
    for key, label in (("produced", "events produced (acked)"), ("staged_this_run", "lines staged this run"),
                       ("sink_duplicates", "sink duplicates (at-least-once)"), ("lines_read", "lines normalized"),
                       ("clean", "clean"), ("quarantined", "quarantined"), ("duplicates_removed", "duplicates removed"),
                       ("headers", "CSV header lines")):
        if key in c:
            print(f"  {label:<34} {c[key]:>12,}")
    if "lines_read" in c:
        ok = c["lines_read"] == c["clean"] + c["quarantined"] + c["duplicates_removed"] + c.get("headers", 0)
        print(f"  {'balance (read = clean+quar.+dup.)':<34} {'OK' if ok else 'BROKEN':>12}")
    print("  time per stage:")
    for st in summary.stages:
        print(f"    {st.name:<10} {st.seconds:>7.1f} s  {st.detail}")
    print(f"    {'total':<10} {summary.total_seconds:>7.1f} s")
    print("  outputs:")
    for name, path in summary.outputs.items():
        print(f"    {name:<18} {path}")
    if summary.gate_passed is False:
        print("data-quality gate FAILED: see the table above and the Data Docs", flush=True)
        return 1
    return 0
