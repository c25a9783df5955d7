"""`studentflow run`: the whole pipeline end to end (what `make run` calls)."""
from __future__ import annotations

import argparse
from pathlib import Path

from studentflow.cli._group import add_command, add_json
from studentflow.core.config import Settings
from studentflow.core.errors import ExitCode

DESCRIPTION = ("Brings the embedded stack up when no Kafka is configured (or uses the configured one), "
               "applies the connectors, produces demo events, waits for the staging sink, normalizes with "
               "Spark, builds the dbt marts, runs the Great Expectations gate and writes the report. "
               "Stops what it started unless --keep-stack. Exit 1 if the gate fails.")


def _run(args: argparse.Namespace, settings: Settings) -> int:
    import json
    import sys

    from studentflow.signals import stop_on_signal

    _check(args)
    out = sys.stderr if args.json else sys.stdout
    say = lambda m: print(m, file=out, flush=True)  # noqa: E731
    runner = _runner(args, settings, say, out)
    # The run handles SIGTERM / Ctrl-C itself (studentflow.signals); this outer handler, on the same
    # request, keeps a signal that comes as the run ends from killing the process before its summary.
    with stop_on_signal(runner.stopping, "stopping"):
        summary = runner.run()
        runner.stopping.unwind()
        if args.json:
            print(json.dumps(summary.as_json(), sort_keys=True), flush=True)
        else:
            _print_summary(summary)
    if summary.gate_passed is False:
        say("data-quality gate FAILED: see the table above and the Data Docs"
            + (f" ({summary.gate_failures} failing increment(s))" if summary.gate_failures else ""))
        return ExitCode.FAILED
    if runner.stopping.by_signal:
        print(f"studentflow: interrupted ({summary.stop_reason})", file=sys.stderr, flush=True)
        return ExitCode.INTERRUPTED
    return 0


def _check(args: argparse.Namespace) -> None:
    """Refuse contradicting or out-of-range options; the old `--follow --rate` becomes --generate-rate."""
    import sys

    from studentflow.core.errors import UsageError

    if (args.count < 0 or not 0 <= args.malformed_rate <= 1 or args.rate < 0 or args.generate_rate < 0
            or args.interval <= 0 or args.report_every < 0):
        raise UsageError("--count, --rate, --generate-rate and --report-every must be >= 0, --malformed-rate "
                         "between 0 and 1, --interval > 0", "fix the option")
    if args.follow and args.junit_xml:
        raise UsageError("--junit-xml is for a batch run (the continuous mode gates every increment)",
                         "drop --follow, or run `studentflow validate --junit-xml PATH` when you need the file")
    if args.generate_rate and not args.follow:
        raise UsageError("--generate-rate is for the continuous mode",
                         "add --follow, or cap a batch run's producing with --rate")
    if args.follow and args.rate and not args.generate_rate:   # the spelling before --generate-rate
        print("studentflow: `run --follow --rate` is deprecated: use --generate-rate", file=sys.stderr)
        args.generate_rate = args.rate


def _runner(args: argparse.Namespace, settings: Settings, say, out):
    """The batch Pipeline, or Follow for --follow (which produces nothing itself, only --generate-rate)."""
    from studentflow.pipeline import Pipeline, RunOptions

    opts = RunOptions(count=args.count, malformed_rate=args.malformed_rate, seed=args.seed,
                      produce=not args.no_produce and args.count > 0, keep_stack=args.keep_stack,
                      fresh=args.fresh, lang=args.lang, sink_timeout=args.sink_timeout, gate=not args.no_gate,
                      rate=args.rate, junit_xml=args.junit_xml)
    if not args.follow:
        return Pipeline(settings, opts, progress=say)
    from studentflow.pipeline.follow import Follow, FollowOptions, tty_status

    opts.produce = False
    follow = FollowOptions(rate=args.generate_rate, interval=args.interval, duration=args.duration,
                           report_every=args.report_every)
    return Follow(settings, opts, follow, progress=say, status=tty_status(out))


def _print_summary(summary) -> None:
    print()
    print("== summary ==")
    c = summary.counts
    for key, label in (("produced", "events produced (acked)"), ("staged_this_run", "lines staged this run"),
                       ("sink_duplicates", "sink duplicates (at-least-once)"), ("increments", "increments"),
                       ("lines_read", "lines normalized"), ("clean", "clean"), ("quarantined", "quarantined"),
                       ("duplicates_removed", "duplicates removed"), ("headers", "CSV header lines"),
                       ("staged_not_yet_normalized", "staged, not yet normalized")):
        if key in c:
            print(f"  {label:<34} {c[key]:>12,}")
    balance = summary.as_json()["balance_ok"]
    if balance is not None:
        print(f"  {'balance (read = clean+quar.+dup.)':<34} {'OK' if balance else 'BROKEN':>12}")
    if summary.freshness:
        f = summary.freshness
        print(f"  {'freshness p50 / p95 / max':<34} {f['p50_s']:.1f} / {f['p95_s']:.1f} / {f['max_s']:.1f} s "
              f"(over {f['events']:,} events)")
    if summary.stop_reason:
        print(f"  {'stopped':<34} {summary.stop_reason:>12}")
    print("  time per stage:")
    for st in summary.stages:
        print(f"    {st.name:<10} {st.seconds:>7.1f} s  {st.detail}")
    print(f"    {'total':<10} {summary.total_seconds:>7.1f} s")
    print("  outputs:")
    for name, path in summary.outputs.items():
        print(f"    {name:<18} {path}")


def register(sub: argparse._SubParsersAction) -> None:
    from studentflow.pipeline import RunOptions

    d = RunOptions()   # the defaults live there, once
    with add_command(sub, "run", help="run the whole pipeline: stack, produce, sink, normalize, dbt, gate, report",
                     description=DESCRIPTION, handler=_run, lock=True, can_fail=True) as p:
        p.add_argument("--count", type=int, default=d.count, help=f"demo events to produce (default {d.count:,})")
        p.add_argument("--malformed-rate", type=float, default=d.malformed_rate,
                       help=f"share of malformed messages, so the quarantine is visible (default {d.malformed_rate})")
        p.add_argument("--seed", type=int, help="seed for reproducible events (default: new events every run)")
        p.add_argument("--no-produce", action="store_true",
                       help="produce nothing: process what is already on the topic or in staging (a running stack's "
                            "dead Connect worker is restarted first)")
        p.add_argument("--keep-stack", action="store_true", help="leave the embedded stack running afterwards")
        p.add_argument("--fresh", action="store_true", help="delete staging files and the warehouse first")
        p.add_argument("--lang", choices=("fr", "en"), default=d.lang, help=f"report language (default {d.lang})")
        p.add_argument("--no-gate", action="store_true", help="skip the Great Expectations gate")
        p.add_argument("--sink-timeout", type=float, default=d.sink_timeout,
                       help=f"seconds to wait for the sink to catch up (default {d.sink_timeout:g})")
        p.add_argument("--rate", type=float, default=0.0, metavar="EVENTS_PER_S",
                       help="a cap on producing, in events per second (default 0: as fast as the broker takes them)")
        add_json(p, "print the summary as one JSON object on stdout (progress goes to stderr)")
        p.add_argument("--junit-xml", type=Path, metavar="PATH",
                       help="write dbt's tests and the gate's expectations there as JUnit XML (one test case each), "
                            "for CI test reporters; not with --follow")
        live = p.add_argument_group("continuous mode (--follow)")
        live.add_argument("--follow", action="store_true",
                          help="keep the statistics live: normalize -> marts -> gate -> report on every increment "
                               "staged, until Ctrl-C / SIGTERM (or --duration); restarts resume from the watermarks")
        from studentflow.pipeline.follow import FollowOptions

        fd = FollowOptions()
        live.add_argument("--generate-rate", type=float, default=0.0, metavar="EVENTS_PER_S",
                          help="with --follow: generate this many events per second (default 0: follow whatever "
                               "producers send); --malformed-rate applies")
        live.add_argument("--interval", type=float, default=fd.interval,
                          help=f"with --follow: seconds between looks (default {fd.interval:g})")
        live.add_argument("--report-every", type=float, default=fd.report_every, metavar="SECONDS",
                          help="with --follow: rebuild the report and the page at most this often (default "
                               f"{fd.report_every:g}; 0: with every increment); every increment is gated, and the "
                               "last one always gets its report")
        live.add_argument("--duration", type=float, help="with --follow: stop after this many seconds")
