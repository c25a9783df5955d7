"""expectations/gx/, the saved Great Expectations project, is what expectations/project.py renders
from suites.py for the default settings (regenerate: `python -m expectations.project`)."""
from __future__ import annotations

import json

from studentflow.core import config
from expectations import project
from expectations.suites import build_suites


def test_the_committed_project_is_the_rendering_of_suites_py():
    settings = config.load(env={})
    assert project.stale(settings) == [], "run `python -m expectations.project` and commit expectations/gx/"
    # and nothing else lies in the project's configuration folders
    rendered = set(project.render(settings))
    on_disk = {str(p.relative_to(project.GX_DIR)) for p in project.GX_DIR.rglob("*") if p.is_file()}
    assert on_disk == rendered


def test_every_check_of_suites_py_is_in_the_saved_suite_with_its_arguments(tmp_path):
    settings = config.load(env={})
    for suite in build_suites(settings):
        saved = json.loads((project.GX_DIR / "expectations" / f"{suite.name}.json").read_text(encoding="utf-8"))
        assert [e["id"] for e in saved["expectations"]] == [project.expectation_id(suite, i) for i in range(len(suite.checks))]
        for check, expectation in zip(suite.checks, saved["expectations"], strict=True):
            kwargs = check.gx_kwargs()
            kwargs.pop("description", None)
            assert expectation["kwargs"] == kwargs


def test_other_settings_make_the_saved_project_stale_and_write_renders_them(tmp_path):
    settings = config.load(env={}, age_max=60)
    assert project.stale(settings) == ["expectations/clean_students.json", "expectations/major_age_stats.json",
                                       "expectations/major_avg_age_over_20.json"]
    written = project.write(settings, tmp_path)
    assert len(written) == len(project.render(settings))
    assert project.stale(settings, tmp_path) == []
    saved = json.loads((tmp_path / "expectations" / "clean_students.json").read_text(encoding="utf-8"))
    assert {"min_value": 15, "max_value": 60, "column": "age"} in [e["kwargs"] for e in saved["expectations"]]
    assert project.write(settings, tmp_path) == []   # nothing changes the second time


def test_the_saved_project_writes_where_paths_says(tmp_path):
    """GX itself writes the results and Data Docs (the saved project names the folders); Paths
    names them for everyone else. Both must point at the same places for any data_dir."""
    from expectations import history

    settings = config.load(env={}, data_dir=str(tmp_path / "elsewhere"), state_dir=str(tmp_path / "state"))
    context = project.open_context(settings)
    assert history.results_dir(context).resolve() == settings.paths.quality_results.resolve()
    assert history.docs_dir(context).resolve() == settings.paths.quality_docs.resolve()
