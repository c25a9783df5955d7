"""`studentflow docs serve|build`: the local page, which gathers three stages' outputs (the report's
tables and charts, the dbt docs, the Great Expectations Data Docs)."""
from __future__ import annotations

import argparse
import json

from studentflow.cli._group import add_command, add_group
from studentflow.core.config import Settings


def register(sub: argparse._SubParsersAction) -> None:
    ds = add_group(sub, "docs", help="the local page: report, charts, run history, dbt docs and Data Docs",
                   description="`docs serve` builds one page from the warehouse (the report's tables and charts, "
                               "quarantine reasons, the run history of pipeline_runs), generates the dbt docs, and "
                               "serves them with the Great Expectations Data Docs on 127.0.0.1 until Ctrl-C.")
    with add_command(ds, "serve", help="build the page and serve it on 127.0.0.1 (Ctrl-C stops)",
                     handler=_serve, lock=False, can_fail=False) as serve:
        serve.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
        serve.add_argument("--lang", choices=("fr", "en"), default="fr", help="language of the front page (default fr)")
        serve.add_argument("--no-dbt-docs", action="store_true", help="do not run `dbt docs generate` first")
        serve.add_argument("--refresh", type=int, default=0, metavar="S",
                           help="the page reloads itself every S seconds (0: never)")
    with add_command(ds, "build", help="write the page (and the dbt docs) without serving",
                     handler=_build, lock=True, can_fail=True, refresh=0,
                     json="print the page written as one JSON object on stdout (progress on stderr)") as build:
        build.add_argument("--lang", choices=("fr", "en"), default="fr", help="language of index.html (default fr)")
        build.add_argument("--no-dbt-docs", action="store_true", help="do not run `dbt docs generate` first")


def _build_site(args: argparse.Namespace, settings: Settings):
    from studentflow.report import site
    from studentflow.transform import runner

    if not args.no_dbt_docs:
        print("generating the dbt docs ...", flush=True)
        if not runner.generate_docs(settings):
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
