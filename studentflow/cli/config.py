"""`studentflow config`: the effective settings (secrets masked), or the settings reference."""
from __future__ import annotations

import argparse

from studentflow.cli._group import add_command, add_json
from studentflow.core import config


def register(sub: argparse._SubParsersAction) -> None:
    with add_command(sub, "config", help="show the effective settings (secrets masked)",
                     handler=_config, lock=False, can_fail=False) as cfg:
        fmt = cfg.add_mutually_exclusive_group()
        fmt.add_argument("--markdown", nargs="?", const="settings", choices=("settings", "paths"),
                         help="print a reference as a markdown table: the settings (default) or where each "
                              "output lives (settings.paths)")
        add_json(fmt, "print the effective settings as one JSON object")


def _config(args: argparse.Namespace, settings: config.Settings) -> int:
    if args.markdown:
        from studentflow.core import paths

        print(paths.reference_markdown(config.path_defaults()) if args.markdown == "paths" else config.reference_markdown())
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
