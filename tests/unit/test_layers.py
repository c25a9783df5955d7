"""The layering rule (docs/architecture.md), checked by reading every import with ``ast``.

- the ground floor, ``studentflow.core``, imports only the standard library, third-party
  libraries and itself;
- a stage (producer, connect, spark_jobs, expectations, the dbt transform, the report) imports
  only itself, the ground floor and third-party libraries: never another stage, never the
  orchestration;
- the orchestration (the rest of studentflow/: the commands, the pipeline, the stack, the lock)
  sits on top and may import anything; nothing below imports it.

Every package of the product is read, each file under the layer of the longest prefix that
names it. Imports inside functions count too (a lazy import is still a dependency).
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GROUND = "studentflow.core"
# Stages: top-level packages (the layout's folders) and the stages living under studentflow/.
STAGES = ("producer", "connect", "spark_jobs", "expectations", "studentflow.transform", "studentflow.report")
ORCHESTRATION = "studentflow"
FIRST_PARTY = ("studentflow", "bench", "tests", "producer", "connect", "spark_jobs", "expectations")


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import of a first-party module in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from studentflow import stack` names the module studentflow.stack
            first = node.module.split(".")[0] in FIRST_PARTY
            names = [f"{node.module}.{a.name}" for a in node.names] if first else [node.module]
        else:
            continue
        found += [(node.lineno, n) for n in names if n.split(".")[0] in FIRST_PARTY]
    return found


def layer_of(module: str) -> str:
    """The layer a module belongs to: the ground floor, its stage, or the orchestration."""
    for layer in (GROUND, *STAGES):
        if _within(module, layer):
            return layer
    return ORCHESTRATION if _within(module, ORCHESTRATION) else module.split(".")[0]


def allowed(importer: str, module: str) -> bool:
    """May a module of layer ``importer`` import ``module``?"""
    if importer == ORCHESTRATION:
        return True
    target = layer_of(module)
    # `from studentflow import core` names the package the ground floor lives in: the ground floor
    return target in (importer, GROUND) or module in ("studentflow", GROUND)


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def product_files() -> list[Path]:
    return sorted(p for top in ("studentflow", "producer", "connect", "spark_jobs", "expectations")
                  for p in (REPO / top).rglob("*.py"))


def violations() -> list[str]:
    out = []
    for path in product_files():
        layer = layer_of(_module_name(path))
        for line, module in imports(path):
            if not allowed(layer, module):
                out.append(f"{path.relative_to(REPO)}:{line} ({layer}) imports {module}")
    return out


def test_every_package_imports_only_downwards():
    assert violations() == []


def test_every_product_file_is_read():
    names = {_module_name(p) for p in product_files()}
    assert {"studentflow.core.config", "studentflow.report.site", "spark_jobs.normalize", "producer.publish",
            "studentflow.pipeline"} <= names


def test_the_check_sees_a_violation(tmp_path):
    # the walker itself: a lazy import of the orchestration inside a function is found
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from studentflow import stack\n    import producer.events\n", encoding="utf-8")
    assert [m for _, m in imports(bad)] == ["studentflow.stack", "producer.events"]
    assert not allowed("connect", "studentflow.stack")
    assert not allowed("connect", "producer.events")
    assert not allowed(GROUND, "studentflow.report")
    assert not allowed(GROUND, "spark_jobs.folding")   # the ground floor stands on nothing above
    assert not allowed(GROUND, "studentflow.pipeline")
    # a stage under studentflow/ is a stage like the others: no sideways import, no upward one
    assert not allowed("studentflow.report", "studentflow.transform.runner")
    assert not allowed("studentflow.report", "studentflow.pipeline")
    assert not allowed("studentflow.transform", "spark_jobs.warehouse")
    assert allowed("connect", "studentflow.core.endpoints") and allowed("connect", "connect.rest")
    assert allowed("studentflow.report", "studentflow.core.warehouse")
    assert allowed(ORCHESTRATION, "connect.rest")   # the orchestration sits on top
