"""`studentflow produce`: generated events, a CSV replay or captured lines -> the Kafka topic."""
from __future__ import annotations

import argparse
import json
import sys

from studentflow.cli._group import add_command
from studentflow.core.errors import ExitCode, UsageError

EXAMPLES = """\
examples:
  studentflow produce --count 100000 --seed 42             generated events, reproducible
  studentflow produce --count 10000 --malformed-rate 0.05  with the messy traffic of the original topic
  studentflow produce --count 20 --seed 1 --malformed-rate 1 --kinds csv_like,empty --dry-run --with-kinds
  studentflow produce --from-csv etudiants.csv             replay a CSV (prénom,nom,age,filière)
  cat captured.txt | studentflow produce --from-file -     send each line verbatim
  studentflow produce --list-kinds                         the malformed kinds and their downstream verdicts
  studentflow produce --count 1000 --malformed-rate 0.1 --hostile   add the hostile kinds (10 MB line, NUL, ...)

The summary line says how many messages the cluster acknowledged and why others failed
(--json: the same as one JSON object); the exit code is 1 if any message failed.
"""


def register(sub: argparse._SubParsersAction) -> None:
    with add_command(sub, "produce", help="publish student events to the Kafka topic",
                     description="Publish student events (JSON, one per message) to the topic: generated "
                                 "samples, a CSV replay, or captured lines sent verbatim.",
                     epilog=EXAMPLES, handler=_produce, lock=False, can_fail=True,
                     json="print the delivery report (or, with --list-kinds, the kinds) as one JSON object on stdout; "
                          "progress stays on stderr") as p:
        src = p.add_mutually_exclusive_group()
        src.add_argument("--count", type=int, metavar="N", help="generate N events (default 1000)")
        src.add_argument("--from-csv", metavar="FILE",
                         help="replay a CSV of students; headers prénom,nom,age,filière (accents, case and small "
                              "typos tolerated) or first_name,last_name,age,major; '-' reads standard input")
        src.add_argument("--from-file", metavar="FILE",
                         help="send each line of FILE verbatim as one message ('-' reads standard input)")
        p.add_argument("--seed", type=int, metavar="S",
                       help="seed: the same seed gives byte-identical messages (timestamps from a virtual clock)")
        p.add_argument("--malformed-rate", type=float, default=0.0, metavar="R",
                       help="share of generated messages replaced by malformed kinds, 0..1 (default 0)")
        p.add_argument("--kinds", metavar="K1,K2",
                       help="malformed kinds to draw from (default: all but the hostile ones; see --list-kinds)")
        p.add_argument("--hostile", action="store_true",
                       help="draw from the hostile kinds too (a 10 MB line, NUL bytes, invalid UTF-8, deep and wide "
                            "JSON, a 10,000-field CSV line, odd numbers, whitespace); raises message.max.bytes to 16 MiB")
        p.add_argument("--topic", help="topic to write (default: the topic setting)")
        p.add_argument("--rate", type=float, metavar="MSG_PER_S", help="send at most this many messages per second")
        p.add_argument("--timeout", type=float, metavar="SECONDS",
                       help="delivery timeout per message (default: the delivery_timeout setting, 30); nothing "
                            "waits longer than this")
        p.add_argument("--dry-run", action="store_true",
                       help="print the messages to standard output, one per line, instead of sending them")
        p.add_argument("--with-kinds", action="store_true", help="with --dry-run: prefix each line with its kind and a tab")
        p.add_argument("--list-kinds", action="store_true",
                       help="print every malformed kind with its expected downstream verdict, then exit")


def _produce(args: argparse.Namespace, settings) -> int:
    from producer import generate, hostile

    if args.list_kinds:
        return _list_kinds(generate, args.json)
    if args.json and args.dry_run:
        raise UsageError("--json reports a publish; --dry-run prints the messages themselves", "drop one of them")
    if args.timeout is not None and args.timeout <= 0:   # librdkafka reads 0 as "wait forever"
        raise UsageError(f"--timeout must be more than 0 seconds, got {args.timeout:g}", "pass a positive number")
    messages, total, gen = _source(args, settings)
    if args.dry_run:
        return _dry_run(messages, args.with_kinds)

    from producer.progress import Progress
    from producer.publish import publish
    from studentflow.core.config import redact
    from studentflow.core.endpoints import kafka_conf

    conf = kafka_conf(settings)
    topic = args.topic or settings.topic
    progress = Progress(total, sys.stderr)
    shown: set[str] = set()

    def on_error(err) -> None:   # client-level errors (connection lost ...), once per kind
        if err.name() not in shown and len(shown) < 8:
            shown.add(err.name())
            progress.clear()
            print(redact(f"studentflow: kafka: {err.str()}", settings), file=sys.stderr)

    # a huge_line is 10 MB: librdkafka's default message.max.bytes (1,000,000) would refuse it
    extra = {"message.max.bytes": hostile.HUGE_MESSAGE_MAX_BYTES} \
        if gen is not None and "huge_line" in gen.kinds else None
    report = publish(settings, messages, topic=topic, conf=conf, rate=args.rate,
                     delivery_timeout=settings.delivery_timeout if args.timeout is None else args.timeout,
                     progress=progress, on_error=on_error, extra_conf=extra)
    progress.clear()
    kinds = dict(sorted(gen.counts.items())) if gen is not None else {}
    if set(kinds) - {"valid"} and not args.json:
        print("kinds: " + ", ".join(f"{k} {n:,}" for k, n in kinds.items()))
    for reason, example in report.failure_examples.items():
        if example:
            print(redact(f"studentflow: {reason}: {example}", settings), file=sys.stderr)
    if args.json:
        print(redact(json.dumps(_report_json(report, kinds), sort_keys=True), settings))
    else:
        print(redact(report.summary(), settings))
    return ExitCode.OK if report.ok else ExitCode.FAILED


def _report_json(report, kinds: dict) -> dict:
    return {"ok": report.ok, "topic": report.topic, "attempted": report.attempted, "acked": report.acked,
            "failed": report.failed, "failures": dict(report.failures), "resent": report.resent,
            "producer_restarts": report.producer_restarts, "stopped_early": report.stopped_early or None,
            "elapsed_s": round(report.elapsed, 3), "kinds": kinds}


def _list_kinds(generate, as_json: bool) -> int:
    from producer import hostile

    rows = [{"kind": kind, "verdict": verdict, "detail": detail or "", "hostile": kind in hostile.HOSTILE_EXPECTED}
            for kind, (verdict, detail) in generate.ALL_EXPECTED.items()]
    if as_json:
        print(json.dumps({"kinds": rows}, sort_keys=True))
        return ExitCode.OK
    for row in rows:
        note = "  (hostile: --hostile or --kinds)" if row["hostile"] else ""
        print(f"{row['kind']:<20} {row['verdict']:<11} {row['detail']}{note}")
    return ExitCode.OK


def _source(args: argparse.Namespace, settings):
    """(messages, total or None, generator or None) for the chosen source."""
    from producer import generate, hostile, malformed, sources

    replay = args.from_csv is not None or args.from_file is not None
    if replay and (args.malformed_rate or args.kinds or args.hostile):
        raise UsageError("--malformed-rate and --kinds apply to generated events only",
                          "drop them, or use --count instead of --from-csv/--from-file")
    if args.from_csv is not None:
        return sources.csv_messages(args.from_csv, seed=args.seed), None, None
    if args.from_file is not None:
        return sources.file_messages(args.from_file), None, None
    count = 1000 if args.count is None else args.count
    if count < 0:
        raise UsageError(f"--count must be 0 or more, got {count}", "pass a positive number")
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()] if args.kinds else None
    if args.hostile:
        kinds = list(dict.fromkeys((kinds or list(malformed.MALFORMED_KINDS)) + list(hostile.HOSTILE_KINDS)))
    try:
        gen = generate.for_settings(settings, seed=args.seed, malformed_rate=args.malformed_rate, kinds=kinds)
    except ValueError as exc:
        raise UsageError(str(exc), "see `studentflow produce --list-kinds`") from None
    return gen.messages(count), count, gen


def _dry_run(messages, with_kinds: bool) -> int:
    import os

    out = sys.stdout.buffer
    buf = []
    try:
        for kind, _key, value in messages:
            line = value.encode("utf-8") if isinstance(value, str) else (value or b"")
            buf.append(kind.encode() + b"\t" + line if with_kinds else line)
            if len(buf) >= 4096:
                out.write(b"\n".join(buf) + b"\n")
                buf.clear()
        if buf:
            out.write(b"\n".join(buf) + b"\n")
        out.flush()
    except BrokenPipeError:   # `... --dry-run | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
