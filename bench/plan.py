"""Benchmark of what one normalize query costs before any row is read: the plan's size and its planning.

    python -m bench.plan [--lines 2000] [--queries 30] [--url sc://HOST:PORT] [--json F]

Starts a Spark Connect server of its own (or uses --url), stages --lines generated lines, then
--queries times builds the normalize plan (spark_jobs.normalize.normalize) on them and asks the
server, each a round trip of its own: the result's schema (the plan analyzed), ``explain`` (analyzed,
optimized and planned) and the rows (all of it, and the execution). Prints the plan's size in bytes
as the client sends it, then the medians over the second half of the queries (a new server's JIT
is still compiling Spark's own code before that) and the server's CPU seconds per query, from /proc
when the server is this benchmark's. The server analyzes and optimizes the whole plan for every
query, so at small sizes this is most of an increment (`python -m bench.increments`).
"""
from __future__ import annotations

import contextlib
import io
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench import arg_parser, load
from bench.increments import cpu_seconds
from bench.staged import generate, write_staging


def measure(lines: int, queries: int, url: str | None = None) -> dict:
    from spark_jobs import increments as inc, normalize as nz, server
    from spark_jobs.session import arrow_batches, connect
    from spark_jobs.staging import read_staging
    from studentflow.core import config, reference

    root = Path(tempfile.mkdtemp(prefix="sf-bench-plan-"))
    settings = config.load(env={}, state_dir=str(root / "state"))
    ref = reference.load_reference(settings.majors_file, settings.major_aliases_file)
    staged = write_staging(generate(lines, seed=5), root / "staging")
    chunks = inc.materialize(inc.plan((staged,), {}, full_refresh=True), root / "scratch")
    proc = None
    if url is None:
        proc, url = server.start(settings, tie_to_parent=True)
    rows: list[dict] = []
    try:
        server.wait_ready(url, proc, settings)
        spark = connect(url, server_pid=proc.pid if proc else None)
        for _ in range(queries):
            df = nz.normalize(read_staging(spark, chunks).lines, ref, age_min=settings.age_min, age_max=settings.age_max)
            before = cpu_seconds(proc.pid) if proc else 0.0
            t0 = time.perf_counter()
            df.schema
            t1 = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                df.explain()
            t2 = time.perf_counter()
            n = sum(b.num_rows for b in arrow_batches(df)[1])
            t3 = time.perf_counter()
            if n != lines:
                raise SystemExit(f"the query gave {n} rows for {lines} lines")
            rows.append({"schema_s": t1 - t0, "explain_s": t2 - t1, "query_s": t3 - t2,
                         "server_cpu_s": cpu_seconds(proc.pid) - before if proc else None})
        plan_bytes = df._plan.to_proto(spark.client).ByteSize()
        spark.stop()
    finally:
        if proc is not None:
            server.stop_pid(proc.pid)
        shutil.rmtree(root, ignore_errors=True)
    warm = rows[len(rows) // 2:]
    medians = {k: round(statistics.median(r[k] for r in warm), 3) for k in ("schema_s", "explain_s", "query_s")}
    if proc is not None:
        medians["server_cpu_s"] = round(statistics.median(r["server_cpu_s"] for r in warm), 2)
    return {"lines": lines, "queries": queries, "plan_bytes": plan_bytes, "load": load(), "medians": medians}


def main(argv: list[str] | None = None) -> int:
    ap = arg_parser("bench.plan", __doc__)
    ap.add_argument("--lines", type=int, default=2000, help="staged lines each query reads (default 2,000)")
    ap.add_argument("--queries", type=int, default=30, help="queries; the medians are over the second half (default 30)")
    ap.add_argument("--url", help="an already running Spark Connect server (default: start one)")
    ap.add_argument("--json", type=Path, help="also write the result as JSON to this file")
    args = ap.parse_args(argv)
    if args.lines < 1 or args.queries < 2:
        ap.error("--lines must be at least 1 and --queries at least 2")
    out = measure(args.lines, args.queries, args.url)
    m = out["medians"]
    print(f"plan {out['plan_bytes']:,} bytes; queries {args.queries // 2 + 1}-{args.queries} of "
          f"{args.lines:,} lines: schema {m['schema_s']:.3f} s, explain {m['explain_s']:.3f} s, "
          f"the whole query {m['query_s']:.3f} s"
          + (f", server {m['server_cpu_s']:.2f} CPU-s" if "server_cpu_s" in m else "") + f" (load {out['load']})")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
