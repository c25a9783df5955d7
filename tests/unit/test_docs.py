"""The README stays true to the code: config reference, quickstart commands, CI entry point."""
from pathlib import Path

from studentflow.core import config
from studentflow.cli import build_parser

REPO = Path(__file__).resolve().parents[2]


def test_readme_config_reference_matches_the_code():
    readme = (REPO / "README.md").read_text()
    block = readme.split("<!-- config-reference:start", 1)[1].split("\n", 1)[1].split("<!-- config-reference:end -->")[0]
    assert block.strip() == config.reference_markdown().strip(), \
        "README config table is stale: regenerate it with `studentflow config --markdown`"


def test_quickstart_is_make_run_and_make_test_and_ci_calls_make_test():
    readme = (REPO / "README.md").read_text()
    quick = readme.split("## Quickstart", 1)[1].split("```", 2)[1]
    assert "make run" in quick and "make test" in quick
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci


def test_every_stage_command_is_registered_and_documented():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    commands = set(sub.choices)
    assert {"run", "stack", "connect", "produce", "normalize", "transform", "validate", "report", "config"} <= commands
    readme = (REPO / "README.md").read_text()
    for cmd in commands:
        assert f"studentflow {cmd}" in readme, f"`studentflow {cmd}` is not in the README"


def test_linked_docs_exist():
    import re
    readme = (REPO / "README.md").read_text()
    for link in re.findall(r"\]\(([^)#]+\.md)", readme):
        assert (REPO / link).is_file(), f"README links to missing {link}"
