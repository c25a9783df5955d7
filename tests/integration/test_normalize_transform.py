"""The pure transform on tiny in-memory frames (one local[2] SparkSession for the test session).

The corpus: the original data's own messages, every kind of the producer/Spark contract table
(CONTRIBUTING.md), and the edge cases the rules promise to handle.
"""
from __future__ import annotations

import json
import re

import pytest

from spark_jobs import normalize as nz
from spark_jobs.folding import fold
from studentflow.core import config
from studentflow.core import contract, reference

pytestmark = pytest.mark.slow

EID = "6f1c2a4e-8b1d-4c3e-9f00-0123456789ab"


@pytest.fixture(scope="session")
def ref():
    s = config.load(env={})
    return reference.load_reference(s.majors_file, s.major_aliases_file)


def event(**over) -> str:
    """A contract event (compact JSON, as the producer writes it) with fields replaced or removed."""
    e = {"event_id": EID, "student_id": "S0001", "first_name": "Léa", "last_name": "Martin", "age": 22,
         "major": "Informatique", "emitted_at": "2026-11-27T10:00:00Z", "schema_version": 1}
    e.update(over)
    return json.dumps({k: v for k, v in e.items() if v is not None}, ensure_ascii=False, separators=(",", ":"))


def eid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


# (line, verdict, rule-or-reason); each line is unique unless it is meant to be a duplicate
CORPUS = [
    # --- the original data's own messages -------------------------------------------------------
    ("hello kafka", "quarantine", "not_json_or_csv"),
    ("Alice,Dupont,22,Informatique", "clean", "csv"),
    ("Bob,Martin,age:19,Physique", "clean", "key_value"),
    ('{"first_name": "Claire", "last_name": "Lemoine", "age": 23, "major": "Biologie"}', "clean", "json_loose"),
    ('{"first_name": "Hugo", "last_name": "Petit", "age": 21, "major": "  Biologie  "}', "clean", "json_loose"),
    # --- every kind of the contract table -------------------------------------------------------
    (event(event_id=eid(1)), "clean", "json_strict"),                                   # valid
    ("Emma,Durand,24,Chimie", "clean", "csv"),                                          # csv_like
    ("Jules,Roux,age:20,Economie", "clean", "key_value"),                               # age_key_value
    (event(event_id=eid(2), major="  biologie  "), "clean", "json_strict"),             # major_spacing_case
    (event(event_id=eid(3), age="22"), "clean", "json_loose"),                          # age_as_string
    (event(event_id=None, first_name="Inès"), "clean", "json_loose"),                   # missing_event_id
    ("ping", "quarantine", "not_json_or_csv"),                                          # non_student_text
    (event(event_id=eid(4))[:37], "quarantine", "invalid_json"),                        # truncated_json
    ("", "quarantine", "empty"),                                                        # empty
    (event(event_id=eid(5), age=7), "quarantine", "age_out_of_range"),                  # age_out_of_range
    (event(event_id=eid(6), age=140), "quarantine", "age_out_of_range"),
    (event(event_id=eid(7), age=-3), "quarantine", "age_out_of_range"),                 # age_negative
    (event(event_id=eid(8), age="vingt"), "quarantine", "age_not_a_number"),            # age_not_a_number
    (event(event_id=eid(9), major=None), "quarantine", "missing_major"),                # missing_major
    (event(event_id=eid(10), age=None), "quarantine", "missing_age"),                   # missing_age
    (event(event_id=eid(11), first_name=None), "quarantine", "missing_name"),           # missing_name
    (event(event_id=eid(12), last_name="   "), "quarantine", "missing_name"),
    (event(event_id=eid(13), major="Art"), "quarantine", "unknown_major"),              # unknown_major
    (event(event_id=eid(1)), "duplicate", None),                                        # duplicate (of eid 1)
    # --- edges the rules promise ----------------------------------------------------------------
    ("   ", "quarantine", "empty"),
    ("null", "quarantine", "not_json_or_csv"),                  # what a tombstone would look like
    ("[1, 2]", "quarantine", "not_json_or_csv"),
    ("a,b,c", "quarantine", "not_json_or_csv"),
    ("{not json}", "quarantine", "invalid_json"),
    (event(event_id=eid(14), major="info"), "clean", "json_strict"),                    # alias
    (event(event_id=eid(15), major="MATHEMATIQUES"), "clean", "json_strict"),           # case + accents
    (event(event_id=eid(16), major="E\u0301conomie"), "clean", "json_strict"),          # decomposed accent
    (event(event_id=eid(17), age=15), "clean", "json_strict"),                          # bounds are inclusive
    (event(event_id=eid(18), age=100), "clean", "json_strict"),
    (event(event_id=eid(19), age=14), "quarantine", "age_out_of_range"),
    (event(event_id=eid(20), age=101), "quarantine", "age_out_of_range"),
    (event(event_id=eid(21), age=22.0), "clean", "json_loose"),
    (event(event_id=eid(22), age=22.5), "quarantine", "age_not_a_number"),
    (event(event_id=eid(23), age=10**20), "quarantine", "age_out_of_range"),
    (event(event_id=eid(28), age=1e308), "quarantine", "age_out_of_range"),            # a number, far out
    ('{"first_name": "Aya", "last_name": "Ba", "age": 2.2e1, "major": "Chimie"}', "clean", "json_loose"),
    (event(event_id=eid(29), age=2.25e1), "quarantine", "age_not_a_number"),
    (event(event_id=eid(24), comment="extra field"), "clean", "json_loose"),
    (json.dumps(json.loads(event(event_id=eid(25)))), "clean", "json_strict"),          # spaced, same keys
    (json.dumps(json.loads(event(event_id=eid(30))), separators=(",", ":")),              # compact, é escaped:
     "clean", "json_strict"),                                                         # longer than its bytes
    (event(event_id=eid(26), schema_version="1"), "clean", "json_loose"),
    ('\t{"prénom": "Élise", "nom": "Roy", "age": "30", "filière": "Littérature"}', "clean", "json_loose"),
    ("first_name:Zoé, last_name:Roy, major:Économie, age=33", "clean", "key_value"),
    ("Noé,Petit,dix-neuf,Physique", "quarantine", "age_not_a_number"),
    ("Noé,Petit,,Physique", "quarantine", "missing_age"),
    ("Noé,Petit,19,Danse", "quarantine", "unknown_major"),
    (",Petit,19,Physique", "quarantine", "missing_name"),
    (event(event_id=eid(13), major="Chimie"), "clean", "json_strict"),       # eid 13 was quarantined: not a dup
    (event(event_id=eid(2), major="Physique"), "quarantine", "conflicting_duplicate"),   # same id, other content
    # --- bytes that were not UTF-8: Connect's StringConverter staged U+FFFD in their place -------
    (event(event_id=eid(27), last_name="Mart\ufffdn"), "quarantine", "invalid_encoding"),
    ("Alice,Dup\ufffdnt,22,Informatique", "quarantine", "invalid_encoding"),
    # --- CSV header lines of a drop file (source connector): counted as headers, in neither table --
    ("prénom,nom,age,filière", "header", None),
    ("\ufeffFirst_Name, Last_Name , AGE,Major", "header", None),
    ("prenom,nom,âge,FILIERE", "header", None),
    ("prénom,nom,age", "quarantine", "not_json_or_csv"),                     # three fields: not a header
]


def _frame(spark, lines, source="students.raw.txt"):
    return spark.createDataFrame([(line, source, i + 1) for i, line in enumerate(lines)],
                                 "value string, source_file string, line_number long")


def _run(spark, ref, lines, **kw):
    kw = {"age_min": 15, "age_max": 100, "run_id": "run-test", **kw}
    return nz.classify(_frame(spark, lines), ref, **kw)


def test_corpus_every_line_ends_where_it_should(spark, ref):
    result = _run(spark, ref, [c[0] for c in CORPUS])
    got = {r["line_number"]: r for r in result.rows.to_pylist()}
    assert len(got) == len(CORPUS)
    wrong = []
    for i, (line, verdict, why) in enumerate(CORPUS, start=1):
        r = got[i]
        actual = (r["verdict"], r["rule"] if r["verdict"] == "clean" else r["reason"])
        if r["verdict"] == "duplicate":
            actual = ("duplicate", None)
        if actual != (verdict, why):
            wrong.append(f"line {i} {line!r}: expected {(verdict, why)}, got {actual}")
    assert not wrong, "\n".join(wrong)
    # quarantine rows keep the raw text untouched, with a detail and the run id
    for i, (line, verdict, _why) in enumerate(CORPUS, start=1):
        if verdict == "quarantine":
            assert got[i]["raw_line"] == line and got[i]["detail"] and got[i]["run_id"] == "run-test"


def test_clean_fields_are_typed_trimmed_and_canonical(spark, ref):
    lines = ['{"first_name": "  Claire ", "last_name": "Lemoine", "age": 23, "major": "  biologie  "}',
             "Alice, Dupont , 22 ,INFO",
             event(event_id=eid(1), major="maths", first_name="éMILE")]
    rows = {r["line_number"]: r for r in _run(spark, ref, lines).rows.to_pylist()}
    assert (rows[1]["first_name"], rows[1]["last_name"], rows[1]["age"], rows[1]["major"]) == \
        ("Claire", "Lemoine", 23, "Biologie")
    assert (rows[2]["first_name"], rows[2]["last_name"], rows[2]["age"], rows[2]["major"], rows[2]["rule"]) == \
        ("Alice", "Dupont", 22, "Informatique", "csv")
    strict = rows[3]
    assert strict["event_id"] == eid(1) and strict["student_id"] == "S0001" and strict["first_name"] == "éMILE"
    assert strict["major"] == "Mathématiques" and strict["emitted_at"] == "2026-11-27T10:00:00Z"
    assert strict["schema_version"] == 1
    # derived ids: UUID-shaped, from the raw line's content only
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", rows[1]["event_id"])
    again = {r["line_number"]: r for r in _run(spark, ref, ["x", lines[1]]).rows.to_pylist()}
    assert again[2]["event_id"] == rows[2]["event_id"]


def test_duplicates_keep_the_first_occurrence_and_are_counted(spark, ref):
    a, b = event(event_id=eid(1)), event(event_id=eid(2))
    lines = [a, b, a, "Alice,Dupont,22,Informatique", a, "Alice,Dupont,22,Informatique", event(event_id=None)]
    result = _run(spark, ref, lines)
    verdicts = {r["line_number"]: r["verdict"] for r in result.rows.to_pylist()}
    assert verdicts == {1: "clean", 2: "clean", 3: "duplicate", 4: "clean", 5: "duplicate", 6: "duplicate",
                        7: "clean"}
    assert result.clean.num_rows == 4 and result.quarantine.num_rows == 0
    assert sorted(r["event_id"] for r in result.clean.to_pylist())[:2] == [eid(1), eid(2)]


def test_age_bounds_come_from_the_caller(spark, ref):
    lines = [event(event_id=eid(1), age=18), event(event_id=eid(2), age=30)]
    rows = {r["line_number"]: r for r in _run(spark, ref, lines, age_min=20, age_max=25).rows.to_pylist()}
    assert rows[1]["reason"] == "age_out_of_range" and rows[1]["detail"] == "age=18 outside 20..25"
    assert rows[2]["reason"] == "age_out_of_range"


def test_an_analyst_alias_is_honoured(spark, ref):
    extended = reference.Reference.build(list(ref.majors), list(ref.keys) + [("Génie logiciel", "Informatique")])
    lines = [event(event_id=eid(1), major="genie  LOGICIEL"), event(event_id=eid(2), major="Génie civil")]
    rows = {r["line_number"]: r for r in _run(spark, extended, lines).rows.to_pylist()}
    assert rows[1]["major"] == "Informatique" and rows[1]["verdict"] == "clean"
    assert rows[2]["reason"] == "unknown_major" and rows[2]["detail"] == "major=Génie civil"


def test_spark_folding_matches_the_python_twin(spark):
    from pyspark.sql import functions as F

    samples = ["  Biologie  ", "MATHÉMATIQUES", "E\u0301conomie", "computer\t  science", "Œuvre  Ÿ", "ß",
               "ΦΥΣΙΚΗ ΚΑΙ ΧΗΜΕΙΑΣ", "İSTANBUL"]
    df = spark.createDataFrame([(s,) for s in samples], "s string")
    expected = [reference.fold_text(s) for s in samples]
    # the server lower-cases with Java instead of ICU (spark_jobs/session.py): the same keys either way
    setting = "spark.sql.icu.caseMappings.enabled"
    assert spark.conf.get(setting) == "false"
    try:
        for icu in ("false", "true"):
            spark.conf.set(setting, icu)
            assert [r[0] for r in df.select(fold(F.col("s"))).collect()] == expected, f"ICU case mappings {icu}"
    finally:
        spark.conf.set(setting, "false")


def test_outputs_have_the_warehouse_columns(spark, ref):
    result = _run(spark, ref, ["hello kafka", "Alice,Dupont,22,Informatique"])
    assert tuple(result.clean.column_names) == contract.CLEAN_COLUMNS
    assert tuple(result.quarantine.column_names) == contract.QUARANTINE_COLUMNS
    q = result.quarantine.to_pylist()[0]
    assert (q["raw_line"], q["reason"], q["source_file"], q["line_number"]) == \
        ("hello kafka", "not_json_or_csv", "students.raw.txt", 1)


def test_the_plan_sent_for_every_query_stays_small(spark, ref):
    """The server analyzes and optimizes the whole plan for every query (each increment), so its
    size is a fixed cost per query. An expression used at several places and written inline
    multiplies (the csv / key:value split once made this plan 204 KB and a small increment a third
    slower); computed once in a column of its own and read by name, it is about 120 KB."""
    plan = nz.normalize(_frame(spark, ["x"]), ref, age_min=18, age_max=30)._plan.to_proto(spark.client)
    assert plan.ByteSize() < 140_000, f"the normalize plan is {plan.ByteSize():,} bytes: an expression repeated at each use?"


def test_the_servers_jit_setting_names_the_fused_stages_generated_method(spark, ref, tmp_path):
    """spark_jobs/session.py raises C2's node budget for the method Spark generates for the
    transform's fused stage, named by a pattern: a Spark that named its generated code otherwise
    would leave the setting matching nothing, silently."""
    from spark_jobs import increments as inc
    from spark_jobs import staging as stg
    from spark_jobs.session import FUSED_STAGE_METHOD, FUSED_STAGE_NODE_LIMIT, spark_conf

    class_glob, method = FUSED_STAGE_METHOD.split("::")
    inner = class_glob.rstrip("*").rsplit("$", 1)[1]   # the iterator class, inside Spark's GeneratedClass
    staged = tmp_path / "0" / "students.raw.txt"   # read from a file, as a run does (not a local frame)
    staged.parent.mkdir()
    staged.write_text(f"{event()}\n", encoding="utf-8")
    lines = stg.read_staging(spark, [inc.Chunk(staged, staged.name, 1, 1)]).lines
    text = nz.normalize(lines, ref, age_min=18, age_max=30)._explain_string(mode="codegen")
    assert re.search(rf"final class {re.escape(inner)}\d+ extends", text) and f"protected void {method}()" in text
    options = spark_conf(config.load(env={}))["spark.driver.extraJavaOptions"].split()
    # quiet first: a CompileCommand prints to stdout otherwise, which Spark's launcher parses
    assert options.index("-XX:CompileCommand=quiet") < options.index(
        f"-XX:CompileCommand=MaxNodeLimit,{FUSED_STAGE_METHOD},{FUSED_STAGE_NODE_LIMIT}")
