"""bench: benchmark harness (not part of the product)."""
from __future__ import annotations

import argparse
import os


def arg_parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    """The command line of ``python -m <module>``, its docstring shown as written in --help."""
    return argparse.ArgumentParser(prog=f"python -m {module}", description=doc,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def load() -> str:
    """The machine's load averages (1, 5, 15 minutes), as a benchmark notes them beside a figure."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
