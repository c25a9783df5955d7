"""`studentflow report`: the markdown report and its charts, from the warehouse marts."""
from __future__ import annotations

import argparse
import json

from core.config import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="write the markdown report and the charts (boxplot, counts) from the dbt marts",
        description="Reads the SQLite warehouse built by `studentflow transform` (and the Great Expectations "
                    "results of `studentflow validate`, if any) and writes <data_dir>/report/rapport.md "
                    "(report.md in English), age_boxplot.png and major_counts.png (age_boxplot_en.png and "
                    "major_counts_en.png in English).")
    p.add_argument("--lang", choices=("fr", "en"), default="fr",
                   help="report language: fr (default, rapport.md) or en (report.md)")
    p.add_argument("--json", action="store_true", help="print the files written as one JSON object on stdout")
    p.set_defaults(handler=_report)

    d = sub.add_parser("docs", help="the local page: report, charts, run history, dbt docs and Data Docs",
                       description="`docs serve` builds one page from the warehouse (the report's tables and charts, "
                                   "quarantine reasons, the run history of pipeline_runs), generates the dbt docs, and "
                                   "serves them with the Great Expectations Data Docs on 127.0.0.1 until Ctrl-C.")
    ds = d.add_subparsers(dest="docs_command", metavar="ACTION", required=True)
    serve = ds.add_parser("serve", help="build the page and serve it on 127.0.0.1 (Ctrl-C stops)")
    serve.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    serve.add_argument("--lang", choices=("fr", "en"), default="fr", help="language of the front page (default fr)")
    serve.add_argument("--no-dbt-docs", action="store_true", help="do not run `dbt docs generate` first")
    serve.add_argument("--refresh", type=int, default=0, metavar="S",
                       help="the page reloads itself every S seconds (0: never)")
    serve.set_defaults(handler=_serve)
    build = ds.add_parser("build", help="write the page (and the dbt docs) without serving")
    build.add_argument("--lang", choices=("fr", "en"), default="fr", help="language of index.html (default fr)")
    build.add_argument("--no-dbt-docs", action="store_true", help="do not run `dbt docs generate` first")
    build.add_argument("--json", action="store_true",
                       help="print the page written as one JSON object on stdout (progress on stderr)")
    build.set_defaults(handler=_build, refresh=0)


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from studentflow.report.report import build_report

    paths = build_report(settings, lang=args.lang)
    if args.json:
        print(json.dumps({"directory": str(paths.directory), "files": [str(p) for p in paths.files()],
                          "lang": args.lang}, sort_keys=True))
        return 0
    print(f"report written to {paths.directory}:")
    for path in paths.files():
        print(f"  {path}")
    return 0


def _build_site(args: argparse.Namespace, settings: Settings):
    from studentflow.report import site

    if not args.no_dbt_docs:
        print("generating the dbt docs ...", flush=True)
        if not site.generate_dbt_docs(settings):
            print("  no dbt docs: the warehouse is not ready (run `make run` or `studentflow run` first)")
    return site.build(settings, default_lang=args.lang, refresh=args.refresh)


def _build(args: argparse.Namespace, settings: Settings) -> int:
    import contextlib
    import sys

    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        where = _build_site(args, settings)
    if args.json:
        print(json.dumps({"index": str(where[""] / "index.html")}, sort_keys=True))
        return 0
    print(f"page written: {where[''] / 'index.html'}")
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from studentflow.report import site

    _build_site(args, settings)
    server = site.make_server(settings, args.port)
    host, port = server.server_address[:2]
    print(f"serving http://{host}:{port}/  (dbt docs: /dbt/, Data Docs: /quality/; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
