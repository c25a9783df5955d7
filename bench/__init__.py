"""bench: benchmark harness (not part of the product)."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any


def arg_parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    """The command line of ``python -m <module>``, its docstring shown as written in --help."""
    return argparse.ArgumentParser(prog=f"python -m {module}", description=doc,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def load() -> str:
    """The machine's load averages (1, 5, 15 minutes), as a benchmark notes them beside a figure."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def portable_json(result: dict[str, Any], *, out_dir: Path, work_root: Path) -> str:
    """A benchmark's result as JSON that names no machine path: its scratch folder as <work>, its
    output folder as <out> (both may lie outside the project), the rest relative to the project."""
    from studentflow.core import config

    text = json.dumps(result, indent=2, default=str)
    for path, name in ((work_root, "<work>"), (out_dir, "<out>")):
        text = text.replace(str(path), name)
    return text.replace(str(config.PROJECT_ROOT) + "/", "")
