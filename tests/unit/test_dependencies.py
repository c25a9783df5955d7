"""Python dependencies: every third-party import is declared where it is used (the product's
`dependencies`, or the test extra for tests), and requirements.lock pins every declared package at
an allowed version, with hashes, so setup installs the same thing in every clone."""
from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
PRODUCT = ("studentflow", "producer", "connect", "spark_jobs", "expectations")
LOCAL = set(PRODUCT) | {"bench", "tests"}
# Declared though nothing imports them, each for a reason given in pyproject.toml.
NOT_IMPORTED = {"dbt-sqlite", "sqlalchemy", "pandas", "pytest-timeout", "pytest-xdist"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(group: str) -> dict[str, Requirement]:
    """``runtime``: `dependencies` and every extra but ``test`` (e.g. ``embedded``); or one extra."""
    extras = PROJECT.get("optional-dependencies", {})
    if group == "runtime":
        reqs = PROJECT["dependencies"] + [r for name, rs in extras.items() if name != "test" for r in rs]
    else:
        reqs = extras[group]
    return {_norm(r.name): r for r in map(Requirement, reqs)}


def _imports(folders: tuple[str, ...]) -> dict[str, set[str]]:
    """Top-level third-party modules imported anywhere (functions included) -> files."""
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for top in {n.split(".")[0] for n in names} - LOCAL - set(sys.stdlib_module_names):
                    found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return found


def _undeclared(imports: dict[str, set[str]], declared: set[str]) -> dict[str, list[str]]:
    by_module = md.packages_distributions()
    missing = {}
    for module, files in imports.items():
        dists = {_norm(d) for d in by_module.get(module, [module])}
        if not dists & declared:
            missing[module] = sorted(files)[:3]
    return missing


def test_product_imports_are_runtime_dependencies():
    missing = _undeclared(_imports(PRODUCT), set(_declared("runtime")))
    assert not missing, f"imported but not in pyproject.toml's dependencies (nor a product extra): {missing}"


def test_test_imports_are_declared_for_tests():
    declared = set(_declared("runtime")) | set(_declared("test"))
    missing = _undeclared(_imports(("tests",)), declared)
    assert not missing, f"tests import what neither dependencies nor the test extra declare: {missing}"


def test_every_runtime_dependency_is_used_by_the_product():
    by_module = md.packages_distributions()
    used = {_norm(d) for m in _imports(PRODUCT) for d in by_module.get(m, [m])}
    unused = set(_declared("runtime")) - used - NOT_IMPORTED
    assert not unused, f"runtime dependencies the product never imports (move them to the test extra?): {unused}"


def _lock(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) from a `--generate-hashes` requirements file."""
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip() if not line.lstrip().startswith("--hash") else line
        m = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)(.*)", line)
        if m:
            pins[_norm(m.group(1))] = (m.group(2), re.findall(r"--hash=sha256:([0-9a-f]{64})", m.group(3)))
    return pins


def test_lock_pins_every_declared_package_at_an_allowed_version_with_hashes():
    pins = _lock(REPO / "requirements.lock")
    assert len(pins) > 20
    for name, req in {**_declared("runtime"), **_declared("test")}.items():
        assert name in pins, f"{name} is declared but not in requirements.lock: run `make lock`"
        version, _ = pins[name]
        assert req.specifier.contains(version, prereleases=True), \
            f"requirements.lock pins {name}=={version}, which pyproject.toml's {req} excludes: run `make lock`"
    unhashed = [n for n, (_, hashes) in pins.items() if not hashes]
    assert not unhashed, f"pins without a sha256 (setup installs with --require-hashes): {unhashed}"


def test_setup_installs_from_the_locks_pip_and_connect_jars_pinned():
    setup = (REPO / "scripts" / "setup.sh").read_text(encoding="utf-8")
    assert "--require-hashes -r requirements.lock" in setup
    assert "--require-hashes -r scripts/pip.lock" in setup and "--no-deps -e ." in setup
    assert "pip install -q --upgrade" not in setup
    (pip_version, pip_hashes), = _lock(REPO / "scripts" / "pip.lock").values()
    assert pip_hashes and f'PIP_VERSION={pip_version}' in (REPO / "scripts" / "lock.sh").read_text()
    from studentflow.core import config
    name, _, version = config.Settings().connect_jars_wheel.partition("==")
    jars = _lock(REPO / "scripts" / "connect-jars.lock")
    assert jars.get(_norm(name), ("", []))[0] == version and jars[_norm(name)][1], \
        "the connect_jars_wheel default is not the wheel scripts/connect-jars.lock pins: run `make lock`"


def test_every_debian_package_has_its_tested_version_documented():
    text = (REPO / "scripts" / "apt-packages.txt").read_text(encoding="utf-8")
    packages = {line.split("#")[0].strip() for line in text.splitlines()} - {""}
    arch = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8").split("## Tested versions", 1)[1]
    rows = dict(re.findall(r"^\| ([a-z0-9.+-]+) \| ([^ |]+) \|", arch, re.M))
    assert packages <= set(rows), f"apt-packages.txt packages with no tested version in docs/architecture.md: " \
                                  f"{sorted(packages - set(rows))}"
    assert all(re.match(r"[0-9]", version) for version in rows.values())
