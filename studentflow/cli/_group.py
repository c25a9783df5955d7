"""A command group with actions (`studentflow stack up`, `connect apply`, `docs serve`): not a command."""
from __future__ import annotations

import argparse


def add_group(sub: argparse._SubParsersAction, name: str, help: str, description: str) -> argparse._SubParsersAction:
    """Add command ``name`` and return the subparsers its actions are added to; one action is required
    (`studentflow NAME` alone is a usage error), shown as ACTION in the usage line."""
    group = sub.add_parser(name, help=help, description=description)
    return group.add_subparsers(dest=f"{name}_command", metavar="ACTION", required=True)
