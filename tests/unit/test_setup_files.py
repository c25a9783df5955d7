"""Setup files a stock Debian 12 needs, and README tables that render whole."""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _apt_packages() -> set[str]:
    text = (REPO / "scripts" / "apt-packages.txt").read_text(encoding="utf-8")
    return {line.split("#")[0].strip() for line in text.splitlines() if line.split("#")[0].strip()}


def test_apt_list_has_what_a_stock_debian_lacks():
    assert {"python3", "python3-venv", "ca-certificates", "chromium", "openjdk-17-jre-headless"} <= _apt_packages()


def _tables(markdown: str) -> list[list[str]]:
    """Each run of consecutive table lines (a blank line ends a table in CommonMark/GFM)."""
    blocks, current = [], []
    for line in markdown.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def test_every_readme_table_has_a_header_and_no_orphan_rows():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for block in _tables(readme):
        # a table is a header row then a delimiter row; rows cut off by a blank line have neither
        assert len(block) >= 2 and re.fullmatch(r"\|( *:?-+:? *\|)+", block[1]), f"orphan table rows: {block[:2]}"


def test_troubleshooting_is_one_table():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    blocks = _tables(section)
    assert len(blocks) == 1 and any("Spark Connect server exited" in row for row in blocks[0])


def test_every_product_package_is_installed():
    """pyproject.toml lists packages one by one: a new package folder left out of the list works
    in the editable checkout and is missing from a real install (the Docker image)."""
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    found = {init.parent.relative_to(REPO).as_posix().replace("/", ".")
             for top in ("studentflow", "producer", "connect", "spark_jobs", "expectations")
             for init in (REPO / top).rglob("__init__.py")}
    assert "studentflow.core" in found and "producer" in found
    assert found == listed, f"packages missing from pyproject.toml: {sorted(found - listed)}; listed, not found: {sorted(listed - found)}"


def test_the_run_order_names_files_that_exist():
    """A renamed long file would silently lose its early start."""
    from tests.support import run_order

    for name in run_order.LONGEST_FILES:
        assert (run_order.TESTS / name).is_file(), name
    for folder in run_order.FOLDER_ORDER:
        assert (run_order.TESTS / folder).is_dir(), folder
    assert run_order.rank(run_order.TESTS / run_order.LONGEST_FILES[0]) < run_order.rank(run_order.TESTS / "unit" / "x.py")
