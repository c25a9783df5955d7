"""settings.paths (studentflow/core/paths.py): every output under data_dir or state_dir, a path setting
overriding only its own path, no product module joining those folders by hand, the README's table
of outputs in sync."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from studentflow.core import config, paths as paths_mod

REPO = Path(__file__).resolve().parents[2]
PRODUCT = ("studentflow", "producer", "connect", "spark_jobs", "expectations")


def _settings(tmp_path: Path, **overrides: str) -> config.Settings:
    return config.load(env={}, data_dir=str(tmp_path / "data"), state_dir=str(tmp_path / "state"), **overrides)


def _as_dict(p: paths_mod.Paths) -> dict[str, Path]:
    return {f.name: getattr(p, f.name) for f in dataclasses.fields(p)}


def test_data_dir_and_state_dir_alone_place_every_output_under_them(tmp_path):
    places = _as_dict(_settings(tmp_path).paths)
    # what `make setup` builds for the machine stays where setup put it, whatever the state folder
    default = config.load(env={})
    assert places.pop("connect_archive").parent == default.connect_libs_dir   # with the jars it was built for
    assert places.pop("spark_archive").parent == default.setup_dir == default.connect_libs_dir.parent
    outside = {name: p for name, p in places.items()
               if not (p.is_relative_to(tmp_path / "data") or p.is_relative_to(tmp_path / "state"))}
    assert outside == {}
    files = {name: p for name, p in places.items() if p.suffix}
    assert len(set(files.values())) == len(files), "two outputs share one file"


def test_a_path_setting_overrides_only_its_own_path(tmp_path):
    default = _as_dict(_settings(tmp_path).paths)
    elsewhere = tmp_path / "elsewhere"
    moved = {"warehouse": ("warehouse", elsewhere / "w.db"), "staging_dir": ("staging", elsewhere / "landing"),
             "drop_file": ("drop_file", elsewhere / "in.txt"), "connect_libs_dir": ("connect_archive", elsewhere / "libs")}
    for setting, (attribute, value) in moved.items():
        changed = _as_dict(_settings(tmp_path, **{setting: str(value)}).paths)
        differ = {name for name in default if changed[name] != default[name]}
        assert differ == {attribute}, setting
        assert changed[attribute] == value or changed[attribute].parent == value
    # setup_dir moves what setup builds: the Spark archive, and the Connect jars with theirs
    moved_setup = _settings(tmp_path, setup_dir=str(elsewhere / "setup"))
    changed = _as_dict(moved_setup.paths)
    assert {name for name in default if changed[name] != default[name]} == {"spark_archive", "connect_archive"}
    assert moved_setup.connect_libs_dir == elsewhere / "setup" / "connect-libs"
    assert changed["spark_archive"].parent == elsewhere / "setup"


def test_no_product_module_joins_the_data_or_state_folder_by_hand():
    joined = re.compile(r"\b(?:data_dir|state_dir|setup_dir|connect_libs_dir(?:\.parent)?)\s*/")
    found = [f"{py.relative_to(REPO)}:{n}" for package in PRODUCT for py in sorted((REPO / package).rglob("*.py"))
             if py.name != "paths.py" or py.parent.name != "core"
             for n, line in enumerate(py.read_text(encoding="utf-8").splitlines(), 1) if joined.search(line)]
    assert found == [], "build output paths in studentflow/core/paths.py (settings.paths)"


def test_the_readme_table_of_outputs_is_generated_from_paths():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- paths-reference:start.*?-->\n(.*?)<!-- paths-reference:end -->", readme, re.S)
    assert block, "README has no paths-reference block"
    assert block.group(1).strip() == paths_mod.reference_markdown(config.path_defaults()).strip(), \
        "README's table of outputs is stale: regenerate it with `studentflow config --markdown paths`"
