"""The generator: contract-valid events, every malformed kind on demand and labelled, seeds."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections import Counter

import pytest

from producer import events, generate, malformed
from producer.generate import Generator
from producer.malformed import EXPECTED, MALFORMED_KINDS
from studentflow.core import config, contract
from studentflow.core.reference import load_aliases, load_majors

REPO = config.PROJECT_ROOT

SETTINGS = config.load(env={})
MAJORS = load_majors(SETTINGS.majors_file)


def verdict(text: str, majors, age_min: int, age_max: int) -> tuple[str, str | None]:
    """A reference reading of one message by the agreed rules (CONTRIBUTING.md): what the Spark
    stage must conclude. Kept deliberately simple: it checks the generator's labels, not Spark."""
    s = text.strip()
    if not s:
        return ("quarantine", "empty")
    canon = {m.casefold(): m for m in majors}
    if s.startswith("{"):
        try:
            obj = json.loads(s)
        except json.JSONDecodeError:
            return ("quarantine", "invalid_json")
        if not obj.get("first_name") or not obj.get("last_name"):
            return ("quarantine", "missing_name")
        if "age" not in obj:
            return ("quarantine", "missing_age")
        if "major" not in obj:
            return ("quarantine", "missing_major")
        age, loose = obj["age"], "event_id" not in obj
        if isinstance(age, str):
            if not age.strip().lstrip("-").isdigit():
                return ("quarantine", "age_not_a_number")
            age, loose = int(age), True
        rule = "json_loose" if loose else "json_strict"
        fields = (obj["first_name"], obj["last_name"], age, obj["major"])
    else:
        parts = s.split(",")
        if len(parts) != 4:
            return ("quarantine", "not_json_or_csv")
        first, last, age_text, major = (p.strip() for p in parts)
        rule = "key_value" if age_text.startswith("age:") else "csv"
        age_text = age_text.removeprefix("age:")
        if not age_text.lstrip("-").isdigit():
            return ("quarantine", "age_not_a_number")
        fields = (first, last, int(age_text), major)
    _, _, age, major = fields
    if not age_min <= age <= age_max:
        return ("quarantine", "age_out_of_range")
    if major.strip().casefold() not in canon:
        return ("quarantine", "unknown_major")
    return ("clean", rule)


def gen(seed=7, **kw) -> Generator:
    return generate.for_settings(SETTINGS, seed=seed, **kw)


def _contract_tables() -> dict[str, tuple[str, str | None]]:
    """CONTRIBUTING.md's tables of kinds, read as kind -> (verdict, rule or reason)."""
    text = (REPO / "CONTRIBUTING.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| ([a-z0-9_]+) +\|.*\| ([^|]+) \|$", text.split("## The producer ↔ Spark contract")[1], re.M)
    out: dict[str, tuple[str, str | None]] = {}
    for kind, said in rows:
        if said.startswith("removed as duplicate"):
            out[kind] = ("duplicate", None)
        else:
            verdict, name = re.match(r"(clean|quarantine)\b[^`]*`([a-z_]+)`", said).groups()
            out[kind] = (verdict, name)
    return out


def test_kinds_match_the_agreed_contract():
    # CONTRIBUTING.md's tables are the contract agreed with the Spark stage: the same kinds, the same verdicts.
    assert _contract_tables() == generate.ALL_EXPECTED
    assert EXPECTED["valid"] == ("clean", "json_strict")
    assert EXPECTED["duplicate"] == ("duplicate", None)
    assert "valid" not in MALFORMED_KINDS and len(MALFORMED_KINDS) == len(EXPECTED) - 1


def test_verdicts_and_fields_use_the_contract_words():
    # The producer's own tables (kind -> verdict, the fields' wire order) name only what
    # studentflow/core/contract.py defines.
    for kind, (verdict, detail) in generate.ALL_EXPECTED.items():
        allowed = {"clean": contract.RULES, "quarantine": contract.REASONS, "duplicate": (None,)}
        assert verdict in contract.VERDICTS and detail in allowed[verdict], kind
    assert sorted(events.FIELDS) == sorted(contract.CONTRACT_FIELDS)


def test_generated_events_validate_against_the_json_schema():
    check = events.validator(events.schema_for(SETTINGS))
    msgs = list(gen(seed=11).messages(20_000))
    for kind, key, value in msgs:
        assert kind == "valid"
        event = json.loads(value)
        check.validate(event)
        assert key == event["student_id"]
        assert uuid.UUID(event["event_id"]).version == 4
        assert "\n" not in value
    assert len({json.loads(v)["event_id"] for _, _, v in msgs}) == len(msgs)


def test_schema_file_is_valid_and_bounds_come_from_settings():
    s = events.schema_for(SETTINGS)
    assert s["properties"]["age"]["minimum"] == SETTINGS.age_min
    assert s["properties"]["age"]["maximum"] == SETTINGS.age_max
    assert s["properties"]["major"]["enum"] == list(MAJORS)
    assert set(s["required"]) == set(events.FIELDS)
    events.validator(events.base_schema())   # check_schema raises if the file is not a valid schema


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_every_kind_on_demand_is_labelled_and_gets_its_verdict(kind):
    g = gen(seed=3)
    first = g.message("valid")
    for _ in range(30):   # several draws per kind: the randomised details must all hold
        label, key, value = g.message(kind)
        assert label == kind
        assert isinstance(value, str)
        assert verdict(value, MAJORS, SETTINGS.age_min, SETTINGS.age_max) == EXPECTED[kind] or kind == "duplicate"
        if kind == "duplicate":
            assert value in {first[2]} | {m[2] for m in g._recent}   # byte-identical copy of an earlier event
    assert g.counts[kind] == 30 + (kind == "valid")


def test_malformed_forms_look_like_the_original_topic():
    g = gen(seed=5)
    assert re.fullmatch(r"[^,{}]+,[^,]+,\d+,[^,]+", g.message("csv_like")[2])
    assert re.fullmatch(r"[^,{}]+,[^,]+,age:\d+,[^,]+", g.message("age_key_value")[2])
    assert g.message("empty")[2] == ""
    spaced = json.loads(g.message("major_spacing_case")[2])["major"]
    assert spaced != spaced.strip() and spaced.strip() not in MAJORS
    assert spaced.strip().casefold() in {m.casefold() for m in MAJORS}
    original = json.loads(g.message("missing_event_id")[2])
    assert set(original) == {"first_name", "last_name", "age", "major"}   # the original message shape
    assert isinstance(json.loads(g.message("age_as_string")[2])["age"], str)
    assert json.loads(g.message("age_negative")[2])["age"] < 0
    truncated = g.message("truncated_json")[2]
    assert truncated.startswith("{")
    with pytest.raises(json.JSONDecodeError):
        json.loads(truncated)
    aliases = load_aliases(SETTINGS.major_aliases_file)
    for m in malformed.UNKNOWN_MAJORS:   # never a canonical major or a known alias
        assert m.casefold() not in {x.casefold() for x in list(MAJORS) + list(aliases)}


def test_malformed_rate_mixes_kinds_and_labels_them():
    g = gen(seed=9, malformed_rate=0.2)
    msgs = list(g.messages(10_000))
    kinds = Counter(k for k, _, _ in msgs)
    assert kinds == g.counts
    share = 1 - kinds["valid"] / len(msgs)
    assert 0.17 < share < 0.23
    assert set(kinds) == set(EXPECTED)   # every kind shows up in a large enough run
    for kind, _key, value in msgs:
        if kind != "duplicate":
            assert verdict(value, MAJORS, SETTINGS.age_min, SETTINGS.age_max) == EXPECTED[kind], (kind, value)
    valid_values = [v for k, _, v in msgs if k == "valid"]
    earlier = set()
    for kind, _key, value in msgs:
        if kind == "duplicate":
            assert value in earlier
        if kind == "valid":
            earlier.add(value)
    assert len(set(valid_values)) == len(valid_values)


def test_kinds_can_be_restricted_and_unknown_kinds_are_refused():
    g = gen(seed=1, malformed_rate=1.0, kinds=["csv_like", "empty"])
    assert {k for k, _, _ in g.messages(200)} == {"csv_like", "empty"}
    with pytest.raises(ValueError, match="csv_like"):
        gen(kinds=["nope"])
    with pytest.raises(ValueError):
        gen(malformed_rate=1.5)


def test_same_seed_same_bytes_other_seed_other_bytes():
    a = list(gen(seed=42, malformed_rate=0.1).messages(5000))
    b = list(gen(seed=42, malformed_rate=0.1).messages(5000))
    c = list(gen(seed=43, malformed_rate=0.1).messages(5000))
    assert a == b
    assert a != c
    stamps = [json.loads(v)["emitted_at"] for k, _, v in a if k == "valid"]
    assert stamps == sorted(stamps) and stamps[0].startswith("2025-09-01T08:00:00")


def _dry_run(*args: str) -> bytes:
    cmd = [sys.executable, "-m", "studentflow.cli", "produce", "--dry-run", *args]
    return subprocess.run(cmd, capture_output=True, check=True, cwd=REPO, env={"PATH": "/usr/bin:/bin"},
                          timeout=120).stdout


def test_cli_dry_run_is_byte_identical_for_a_seed():
    one = _dry_run("--count", "3000", "--seed", "123", "--malformed-rate", "0.1")
    two = _dry_run("--count", "3000", "--seed", "123", "--malformed-rate", "0.1")
    assert one == two
    assert one.count(b"\n") == 3000
    assert _dry_run("--count", "3000", "--seed", "124", "--malformed-rate", "0.1") != one
    labelled = _dry_run("--count", "50", "--seed", "1", "--malformed-rate", "1", "--kinds", "csv_like,empty",
                        "--with-kinds").decode().splitlines()
    assert {line.split("\t", 1)[0] for line in labelled} == {"csv_like", "empty"}
    assert "empty\t" in labelled


def test_unseeded_runs_differ_and_stamp_the_wall_clock():
    a = [v for _, _, v in Generator(majors=MAJORS).messages(3)]
    b = [v for _, _, v in Generator(majors=MAJORS).messages(3)]
    assert a != b
    assert not json.loads(a[0])["emitted_at"].startswith("2025-09-01")


def test_distributions_look_like_students():
    msgs = [json.loads(v) for _, _, v in gen(seed=2).messages(50_000)]
    majors = Counter(e["major"] for e in msgs)
    assert set(majors) == set(MAJORS)
    shares = sorted(majors.values())
    assert shares[-1] > 2 * shares[0]                 # non-uniform mix
    assert majors.most_common(1)[0][0] == "Informatique"
    ages = [e["age"] for e in msgs]
    assert sum(18 <= a <= 30 for a in ages) / len(ages) > 0.85
    assert min(ages) >= SETTINGS.age_min and max(ages) <= SETTINGS.age_max
    names = {e["first_name"] for e in msgs} | {e["last_name"] for e in msgs}
    assert any(ch in "".join(names) for ch in "éèëïôç")   # French names, accents included
    assert len({(e["first_name"], e["last_name"]) for e in msgs}) > 10_000


def test_age_bounds_follow_settings():
    s = SETTINGS.with_overrides(age_min=20, age_max=25)
    g = generate.for_settings(s, seed=1)
    ages = {json.loads(v)["age"] for _, _, v in g.messages(5000)}
    assert ages <= set(range(20, 26))
    bad = json.loads(g.message("age_out_of_range")[2])["age"]
    assert bad < 20 or bad > 25


def test_uuid_formatting_matches_the_uuid_module():
    for bits in (0, 2 ** 128 - 1, 0x1234567890ABCDEF1234567890ABCDEF):
        text = events.format_uuid4(bits)
        u = uuid.UUID(text)
        assert str(u) == text and u.version == 4 and u.variant == uuid.RFC_4122


def test_a_seed_gives_these_exact_messages():
    # Pinned by hand: the bytes of a seed must not move when the generator's code is reorganised.
    # One millisecond per slot from 2025-09-01T08:00:00Z; slots 3 and 5 are replaced (the duplicate
    # copies slot 2 byte for byte); message() then stamps the next free millisecond.
    g = Generator(7, majors=("Informatique", "Chimie"), malformed_rate=0.5,
                  kinds=("csv_like", "duplicate", "missing_age", "age_out_of_range"))

    def event(eid, sid, ms, first, last, age):
        age_field = "" if age is None else f'"age":{age},'
        return (f'{{"event_id":"{eid}","student_id":"{sid}","emitted_at":"2025-09-01T08:00:00.{ms}Z",'
                f'"schema_version":1,"first_name":"{first}","last_name":"{last}",{age_field}"major":"Informatique"}}')

    second = event("2b902f89-11e8-4818-b8c9-9d5d5d983195", "7504d90e945de2e8", "001", "Maël", "Nguyen", 20)
    assert list(g.messages(6)) == [
        ("valid", "50a4a3a6d07f5c0c",
         event("38b4e652-e44d-47f2-b70d-9e260e271365", "50a4a3a6d07f5c0c", "000", "Emma", "Robin", 28)),
        ("valid", "7504d90e945de2e8", second),
        ("csv_like", "9e7769b10f4205b4", "Étienne,Le Goff,24,Informatique"),
        ("valid", "237cb11f5d108cf2",
         event("264aad6c-b6dd-410f-af94-acd3cf92c190", "237cb11f5d108cf2", "003", "Clémence", "Rodriguez", 24)),
        ("duplicate", "7504d90e945de2e8", second),
        ("valid", "cb96c4dbadbe1722",
         event("ccdaebf9-90d1-4838-b0d7-ec0b3e97818e", "cb96c4dbadbe1722", "005", "Céline", "Dumont", 22)),
    ]
    assert g.counts == Counter({"valid": 4, "csv_like": 1, "duplicate": 1})
    assert g.message("missing_age") == (
        "missing_age", "3f98e2774cbd87ad",
        event("5c90a958-7403-4430-ac66-a78795e761d1", "3f98e2774cbd87ad", "006", "Valentin", "Côté", None))
    assert g.message("age_out_of_range")[2] == event(
        "7ebff206-8673-4721-8cdd-2055930d6eaf", "57ee05cde00902c7", "007", "Rémi", "Lopez", 119)
