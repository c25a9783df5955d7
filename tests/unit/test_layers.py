"""The layering rule (docs/architecture.md), checked by reading every import with ``ast``.

- core/ (the ground floor) imports only the standard library, third-party libraries
  and itself;
- a stage package (producer, connect, spark_jobs, expectations) imports only itself, the core
  and third-party libraries: never another stage, never the orchestration;
- the orchestration (studentflow/: cli, pipeline, stack, broker, the dbt runner, the report,
  lock) sits on top and may import anything; nothing below imports it.

Imports inside functions count too (a lazy import is still a dependency).
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STAGES = ("producer", "connect", "spark_jobs", "expectations")
FIRST_PARTY = ("core", "studentflow", "bench", "tests", *STAGES)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import of a first-party module in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from studentflow import stack` names the module studentflow.stack
            names = [f"{node.module}.{a.name}" for a in node.names] if node.module in FIRST_PARTY else [node.module]
        else:
            continue
        found += [(node.lineno, n) for n in names if n.split(".")[0] in FIRST_PARTY]
    return found


def allowed(importer: str, module: str) -> bool:
    top = module.split(".")[0]
    if importer == "core":
        return module == "core" or module.startswith("core.")
    if importer in STAGES:
        return top == importer or module == "core" or module.startswith("core.")
    return True


def layer_of(path: Path) -> str:
    rel = path.relative_to(REPO).parts
    return rel[0]


def violations() -> list[str]:
    out = []
    for package in ("core", *STAGES):
        for path in sorted((REPO / package).rglob("*.py")):
            layer = layer_of(path)
            for line, module in imports(path):
                if not allowed(layer, module):
                    out.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    return out


def test_stages_and_core_import_only_downwards():
    assert violations() == []


def test_the_check_sees_a_violation(tmp_path):
    # the walker itself: a lazy import of the orchestration inside a function is found
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from studentflow import stack\n    import producer.events\n", encoding="utf-8")
    assert [m for _, m in imports(bad)] == ["studentflow.stack", "producer.events"]
    assert not allowed("connect", "studentflow.stack")
    assert not allowed("connect", "producer.events")
    assert not allowed("core", "studentflow.report")
    assert not allowed("core", "spark_jobs.contract")   # the ground floor stands on nothing above
    assert allowed("connect", "core.endpoints") and allowed("connect", "connect.rest")
    assert allowed("studentflow", "connect.rest")   # the orchestration sits on top
