"""The documentation names files and modules that exist: every repository path (`studentflow/core/x.py`,
`tests/unit/test_x.py`, `dbt_project/...`) and every dotted module or attribute
(`studentflow.core.errors.from_world`) in docs/*.md, README.md and CONTRIBUTING.md, so a moved module makes
this fail instead of leaving the docs behind."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = sorted((REPO / "docs").glob("*.md")) + [REPO / "README.md", REPO / "CONTRIBUTING.md"]
PACKAGES = ("studentflow", "producer", "connect", "spark_jobs", "expectations", "bench")
TOP = PACKAGES + ("tests", "scripts", "docker", "dbt_project", "docs")
# a path: starts at a top-level folder of the repository (not inside another path or a URL)
PATH = re.compile(r"(?<![\w./:-])(?:%s)/[\w./*-]*[\w*]" % "|".join(TOP))
# a module: a whole `code span` (optionally a call) starting with a package
MODULE = re.compile(r"`((?:%s)(?:\.\w+)+)(?:\(\S*\))?`" % "|".join(PACKAGES))
NOT_MODULES = {"studentflow.toml"}   # the settings file, not a module
# Named on purpose though absent from a clone: a folder the dbt profile wants missing, and
# benchmark outputs (bench/results/ is written by `make bench`).
ABSENT_ON_PURPOSE = ("dbt_project/no_attached_schemas", "bench/results/")
FILE_SUFFIXES = (".toml", ".md", ".json", ".log", ".out", ".offsets", ".txt", ".db", ".yml", ".csv", ".html", ".png")


def _named(pattern: re.Pattern) -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        for match in pattern.finditer(doc.read_text(encoding="utf-8")):
            found.append((doc.name, match.group(1) if pattern.groups else match.group(0)))
    return found


def _module_exists(dotted: str) -> bool:
    """The longest prefix that is a module or package, and the rest defined in it."""
    parts = dotted.split(".")
    for cut in range(len(parts), 1, -1):
        base = REPO.joinpath(*parts[:cut])
        source = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
        if source.is_file():
            rest = parts[cut:]
            if not rest:
                return True
            text = source.read_text(encoding="utf-8")
            defined = rf"^\s*(?:def|class|async def)\s+{rest[0]}\b|^\s*{rest[0]}\s*[:=]"
            imported = rf"^from\s+[\w.]+\s+import\s+[^#\n]*\b{rest[0]}\b"
            return bool(re.search(defined, text, re.M) or re.search(imported, text, re.M))
    return False


@pytest.mark.parametrize("doc", [d.name for d in DOCS])
def test_paths_named_in_the_docs_exist(doc):
    missing = []
    for name, path in _named(PATH):
        if name != doc or "<" in path or "..." in path or "my_" in path or path.startswith(ABSENT_ON_PURPOSE):
            continue   # a placeholder, an example to create, or absent on purpose
        # dbt's own folders (tests/, models/) are named relative to the dbt project in its docs
        roots = (REPO, REPO / "dbt_project")
        if not any(any(root.glob(path)) if "*" in path else (root / path).exists() for root in roots):
            missing.append(path)
    assert not missing, f"{doc} names paths that do not exist: {sorted(set(missing))}"


@pytest.mark.parametrize("doc", [d.name for d in DOCS])
def test_modules_named_in_the_docs_exist(doc):
    missing = [m for name, m in _named(MODULE)
               if name == doc and m not in NOT_MODULES and not m.endswith(FILE_SUFFIXES) and not _module_exists(m)]
    assert not missing, f"{doc} names modules or attributes that do not exist: {sorted(set(missing))}"


def test_the_checks_find_what_they_check():
    paths, modules = _named(PATH), _named(MODULE)
    assert len(paths) > 50 and len(modules) > 10
    assert not _module_exists("studentflow.errors.from_world") and _module_exists("studentflow.core.errors.from_world")
    assert _module_exists("connect.rest.apply_all") and not _module_exists("connect.rest.no_such_name")
