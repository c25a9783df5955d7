"""How a command line is declared: `add_command` for a command or a group's action, `add_group` for a
group of actions (`studentflow stack up`, `connect apply`, `docs serve`), which is not a command itself."""
from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def add_command(sub: argparse._SubParsersAction, name: str, *, help: str, description: str | None = None,
                epilog: str | None = None, handler: Callable[..., int],
                lock: bool | Callable[[argparse.Namespace], bool], can_fail: bool, json: str | None = None,
                **defaults) -> Iterator[argparse.ArgumentParser]:
    """Add command line ``name``, run by ``handler``; the ``with`` block adds its options, then comes
    ``--json`` with help ``json`` (last, as --help lists it). ``lock``, ``can_fail`` and any other
    ``defaults`` are set on the parsed arguments (see studentflow/cli/__init__.py)."""
    parser = sub.add_parser(name, help=help, description=description, epilog=epilog)
    yield parser
    if json:
        add_json(parser, json)
    parser.set_defaults(handler=handler, lock=lock, can_fail=can_fail, **defaults)


def add_json(parser: argparse._ActionsContainer, help: str) -> None:
    """``--json``, where a command lists it before other options or in a group of exclusive options."""
    parser.add_argument("--json", action="store_true", help=help)


def add_group(sub: argparse._SubParsersAction, name: str, help: str, description: str) -> argparse._SubParsersAction:
    """Add command ``name`` and return the subparsers its actions are added to; one action is required
    (`studentflow NAME` alone is a usage error), shown as ACTION in the usage line."""
    group = sub.add_parser(name, help=help, description=description)
    return group.add_subparsers(dest=f"{name}_command", metavar="ACTION", required=True)
