"""Staged lines as the sink would write them, each labelled with its kind (and so its verdict).

Backs the normalize benchmark (bench/normalize.py) and the conservation test
(tests/integration/test_normalize_pipeline.py): the kinds and their verdicts come from the
producer's contract table (producer.malformed.EXPECTED), the majors from the dbt seed.
"""
from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from pathlib import Path

# The canonical majors (the dbt seed) and the kind -> verdict contract (the producer's table):
# one source of truth each.
from producer.events import load_majors
from producer.malformed import EXPECTED
from studentflow.core import config as _config, contract

MAJORS = load_majors(_config.load().majors_file)
FIRST = ("Alice", "Bob", "Claire", "David", "Emma", "Farid", "Léa", "Hugo", "Inès", "Jules", "Zoé", "Noé")
LAST = ("Dupont", "Martin", "Lemoine", "Bernard", "Petit", "Durand", "Leroy", "Moreau", "Fournier", "Girard")

MALFORMED = [k for k in EXPECTED if k not in ("valid", "duplicate")]


def _event(rng: random.Random, **over) -> dict:
    e = {"event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
         "student_id": f"S{rng.randrange(10**7):07d}",
         "first_name": rng.choice(FIRST), "last_name": rng.choice(LAST),
         "age": rng.randint(17, 60), "major": rng.choice(MAJORS),
         "emitted_at": f"2026-11-27T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z",
         "schema_version": 1}
    e.update(over)
    return {k: v for k, v in e.items() if v is not _DROP}


_DROP = object()


def make_line(kind: str, rng: random.Random) -> str:
    """One staged line of the given kind (see EXPECTED)."""
    dumps = lambda e: json.dumps(e, ensure_ascii=False, separators=(",", ":"))  # noqa: E731  (as the producer)
    first, last, major = rng.choice(FIRST), rng.choice(LAST), rng.choice(MAJORS)
    age = rng.randint(17, 60)
    if kind == "valid":
        return dumps(_event(rng))
    if kind == "csv_like":
        return f"{first},{last},{age},{major}"
    if kind == "age_key_value":
        return f"{first},{last},age:{age},{major}"
    if kind == "major_spacing_case":
        return dumps(_event(rng, major=f"  {major.lower()}  "))
    if kind == "age_as_string":
        return dumps(_event(rng, age=str(age)))
    if kind == "missing_event_id":
        return dumps(_event(rng, event_id=_DROP))
    if kind == "non_student_text":
        return rng.choice(("hello kafka", "ping", "lorem ipsum dolor", "null"))
    if kind == "truncated_json":
        text = dumps(_event(rng))
        return text[: rng.randint(5, len(text) - 5)]
    if kind == "empty":
        return ""
    if kind == "age_out_of_range":
        return dumps(_event(rng, age=rng.choice((7, 140, 14, 101))))
    if kind == "age_negative":
        return dumps(_event(rng, age=-rng.randint(1, 30)))
    if kind == "age_not_a_number":
        return dumps(_event(rng, age=rng.choice(("vingt", "22 ans", "n/a"))))
    if kind == "missing_major":
        return dumps(_event(rng, major=_DROP))
    if kind == "missing_age":
        return dumps(_event(rng, age=_DROP))
    if kind == "missing_name":
        return dumps(_event(rng, **{rng.choice(("first_name", "last_name")): _DROP}))
    if kind == "unknown_major":
        return dumps(_event(rng, major=rng.choice(("Art", "Astrologie", "Danse"))))
    raise ValueError(f"unknown kind {kind!r}")


def generate(n: int, *, malformed: float = 0.05, duplicates: float = 0.01, seed: int = 7) -> list[tuple[str, str]]:
    """``n`` (kind, line) pairs: mostly valid events, ``malformed`` share spread over every malformed
    kind, ``duplicates`` share as byte-identical copies of earlier valid lines. Reproducible."""
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    valid_lines: list[str] = []
    seen_without_id: set[str] = set()   # lines whose event_id derives from their content
    for _ in range(n):
        x = rng.random()
        if x < malformed:
            kind = MALFORMED[rng.randrange(len(MALFORMED))]
        elif x < malformed + duplicates and valid_lines:
            out.append(("duplicate", valid_lines[rng.randrange(len(valid_lines))]))
            continue
        else:
            kind = "valid"
        line = make_line(kind, rng)
        if kind == "valid":
            valid_lines.append(line)
        elif kind in ("csv_like", "age_key_value", "missing_event_id"):
            if line in seen_without_id:   # same text, same derived event_id: a duplicate
                kind = "duplicate"
            seen_without_id.add(line)
        out.append((kind, line))
    return out


def write_staging(pairs: list[tuple[str, str]], folder: Path, name: str = contract.STAGING_FILE) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(line for _k, line in pairs))
        fh.write("\n")
    return path


def expected_counts(pairs: list[tuple[str, str]]) -> Counter:
    return Counter(EXPECTED[k][0] for k, _ in pairs)
