"""Pure-Python parts of the normalization stage (no JVM): folding, reference data, staging edge,
conservation check."""
from __future__ import annotations

from pathlib import Path

import pytest

from spark_jobs import staging as stg
from spark_jobs.warehouse import check_conservation
from studentflow.core import config
from studentflow.core import contract, reference
from studentflow.core.errors import ConfigError, DataError


@pytest.mark.parametrize("raw, folded", [
    ("  Biologie  ", "biologie"),
    ("MATHÉMATIQUES", "mathematiques"),
    ("E\u0301conomie", "economie"),              # decomposed accent (combining mark)
    ("computer\t  science", "computer science"),
    ("Littérature", "litterature"),
    ("", ""),
])
def test_fold_text(raw, folded):
    assert reference.fold_text(raw) == folded


def test_reference_from_the_dbt_seeds_covers_every_canonical_major_and_alias():
    s = config.load(env={})
    ref = reference.load_reference(s.majors_file, s.major_aliases_file)
    assert set(ref.majors) == {"Informatique", "Chimie", "Mathématiques", "Economie", "Physique", "Philosophie",
                               "Littérature", "Biologie"}
    keys = dict(ref.keys)
    assert keys["info"] == "Informatique" and keys["mathematiques"] == "Mathématiques"
    assert len(keys) == len(ref.keys)                       # unique keys: the lookup cannot fan out
    for major in ref.majors:
        assert keys[reference.fold_text(major)] == major


def test_reference_rejects_alias_to_unknown_major_and_conflicts():
    with pytest.raises(ConfigError, match="not a canonical major"):
        reference.Reference.build(["Chimie"], [("art", "Arts")])
    with pytest.raises(ConfigError, match="already means"):
        reference.Reference.build(["Chimie", "Physique"], [("ch", "Chimie"), ("CH ", "Physique")])
    ref = reference.Reference.build(["Chimie"], [("chem", "chimie"), ("CHEM", "Chimie")])   # same meaning twice: fine
    assert dict(ref.keys)["chem"] == "Chimie"


def test_reference_files_missing_or_without_header(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        reference.load_reference(tmp_path / "nope.csv", tmp_path / "nope2.csv")
    bad = tmp_path / "majors.csv"
    bad.write_text("name\nChimie\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no column major"):
        reference.load_reference(bad, bad)


def test_staging_missing_empty_and_hidden_files(tmp_path: Path):
    with pytest.raises(DataError, match="does not exist") as missing:
        stg.staging_files(tmp_path / "staging")
    assert "connect lag --wait" in missing.value.hint
    folder = tmp_path / "staging"
    folder.mkdir()
    with pytest.raises(DataError, match="holds no file"):
        stg.staging_files(folder)
    (folder / "students.raw.txt").write_text("", encoding="utf-8")
    (folder / ".students.raw.txt.swp").write_text("x\n", encoding="utf-8")
    with pytest.raises(DataError, match="staging is empty"):
        stg.staging_files(folder)
    (folder / "b.txt").write_text("hello kafka\n", encoding="utf-8")
    assert [p.name for p in stg.staging_files(folder)] == ["b.txt", "students.raw.txt"]


def test_conservation_check():
    check_conservation(10, 7, 2, 1)
    with pytest.raises(DataError, match="conservation check failed.*nothing was written"):
        check_conservation(10, 7, 2, 0)


def test_cli_missing_or_empty_staging_is_one_clear_line(tmp_path: Path, monkeypatch, capsys):
    from studentflow import cli

    monkeypatch.setenv("STUDENTFLOW_STAGING_DIR", str(tmp_path / "staging"))
    monkeypatch.setenv("STUDENTFLOW_WAREHOUSE", str(tmp_path / "warehouse.db"))
    assert cli.main(["normalize"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert err.startswith("studentflow: error: staging folder") and "connect lag --wait" in err
    (tmp_path / "staging").mkdir()
    (tmp_path / "staging" / "students.raw.txt").write_text("", encoding="utf-8")
    assert cli.main(["normalize"]) == 1
    err = capsys.readouterr().err.strip()
    assert "staging is empty" in err and err.count("\n") == 0
    assert not (tmp_path / "warehouse.db").exists()


def test_every_quarantine_reason_is_known_to_dbt_and_the_report():
    """A reason added to the contract must reach the dbt accepted_values and the report's labels."""
    import yaml

    from studentflow.report import texts

    doc = yaml.safe_load((config.PROJECT_ROOT / "dbt_project/models/staging/stg_quarantine_students.yml")
                         .read_text(encoding="utf-8"))
    reason = next(c for c in doc["models"][0]["columns"] if c["name"] == "reason")
    accepted = next(t["accepted_values"]["arguments"]["values"] for t in reason["data_tests"]
                    if isinstance(t, dict) and "accepted_values" in t)
    assert set(accepted) == set(contract.REASONS)
    for lang in ("fr", "en"):
        assert set(contract.REASONS) <= set(texts.REASONS[lang]), lang
