"""The kinds of the original topic's traffic, each with the verdict the Spark stage must give it.

:data:`EXPECTED` is the contract agreed in CONTRIBUTING.md. Every malformed message is built from
a valid event of the generator (same seed, same bytes) by :func:`make`; the two kinds that are
not malformed, ``valid`` and ``duplicate`` (a copy of an earlier valid event), are the
generator's own. The hostile kinds are in :mod:`producer.hostile`.
"""
from __future__ import annotations

import json
import random
from typing import Any, Callable

from producer import events
from producer.events import Message

# kind -> ("clean", rule) | ("quarantine", reason) | ("duplicate", None): the Spark stage's verdict.
EXPECTED: dict[str, tuple[str, str | None]] = {
    "valid": ("clean", "json_strict"),
    "csv_like": ("clean", "csv"),
    "age_key_value": ("clean", "key_value"),
    "major_spacing_case": ("clean", "json_strict"),
    "age_as_string": ("clean", "json_loose"),
    "missing_event_id": ("clean", "json_loose"),
    "non_student_text": ("quarantine", "not_json_or_csv"),
    "truncated_json": ("quarantine", "invalid_json"),
    "empty": ("quarantine", "empty"),
    "age_out_of_range": ("quarantine", "age_out_of_range"),
    "age_negative": ("quarantine", "age_out_of_range"),
    "age_not_a_number": ("quarantine", "age_not_a_number"),
    "missing_major": ("quarantine", "missing_major"),
    "missing_age": ("quarantine", "missing_age"),
    "missing_name": ("quarantine", "missing_name"),
    "unknown_major": ("quarantine", "unknown_major"),
    "duplicate": ("duplicate", None),
}
MALFORMED_KINDS: tuple[str, ...] = tuple(k for k in EXPECTED if k != "valid")

NON_STUDENT_TEXTS = ("hello kafka", "test", "ping", "bonjour tout le monde", "hello world", "test message 42",
                     "lorem ipsum dolor sit amet", "kafka-console-producer test", "heartbeat")
UNKNOWN_MAJORS = ("Art", "Musique", "Droit", "Médecine", "Architecture", "Théologie", "Sport", "Cuisine")
AGE_WORDS = ("vingt", "dix-neuf", "twenty", "N/A", "inconnu", "?", "vingt-deux", "abc")

_DROP = object()   # _altered: remove this field


def make(kind: str, gen) -> Message:
    """One message ``(kind, key, value)`` of a malformed kind, drawn from ``gen`` (a producer.generate.Generator)."""
    return _BUILDERS[kind](gen)


def _csv_like(gen) -> Message:
    ev = gen.student()
    return ("csv_like", ev["student_id"], f"{ev['first_name']},{ev['last_name']},{ev['age']},{ev['major']}")


def _age_key_value(gen) -> Message:
    ev = gen.student()
    return ("age_key_value", ev["student_id"], f"{ev['first_name']},{ev['last_name']},age:{ev['age']},{ev['major']}")


def _major_spacing_case(gen) -> Message:
    ev = gen.student()
    r = gen.rng
    major = r.choice((str.lower, str.upper, str.title, _mixed_case(r)))(ev["major"])
    if major == ev["major"]:
        major = major.lower() if major != major.lower() else major.upper()
    ev["major"] = " " * r.randint(1, 3) + major + " " * r.randint(0, 3)
    return ("major_spacing_case", ev["student_id"], events.encode(ev))


def _age_as_string(gen) -> Message:
    ev = gen.student()
    ev["age"] = str(ev["age"])
    return ("age_as_string", ev["student_id"], events.encode(ev))


def _missing_event_id(gen) -> Message:
    # Like the original messages: {"first_name": "Claire", "last_name": ..., "age": ..., "major": ...}
    ev = gen.student()
    original = {k: ev[k] for k in ("first_name", "last_name", "age", "major")}
    return ("missing_event_id", ev["student_id"], json.dumps(original, ensure_ascii=False))


def _non_student_text(gen) -> Message:
    return ("non_student_text", None, gen.rng.choice(NON_STUDENT_TEXTS))


def _truncated_json(gen) -> Message:
    ev = gen.student()
    text = events.encode(ev)
    cut = gen.rng.randint(2, len(text) - 2)
    return ("truncated_json", ev["student_id"], text[:cut])


def _empty(gen) -> Message:
    return ("empty", None, "")


def _age_out_of_range(gen) -> Message:
    ev = gen.student()
    r = gen.rng
    ev["age"] = r.randint(max(0, gen.age_min - 10), gen.age_min - 1) if r.random() < 0.5 else \
        r.randint(gen.age_max + 1, gen.age_max + 60)
    return ("age_out_of_range", ev["student_id"], events.encode(ev))


def _altered(gen, kind: str, **changes: Any) -> Message:
    """A valid student event with fields replaced (a callable is drawn after the event, as the
    random draws always were) or removed (``_DROP``)."""
    ev = gen.student()
    for name, value in changes.items():
        if value is _DROP:
            del ev[name]
        else:
            ev[name] = value() if callable(value) else value
    return (kind, ev["student_id"], events.encode(ev))


def _missing_name(gen) -> Message:
    ev = gen.student()
    r = gen.rng.random()
    for field in (("first_name",) if r < 0.4 else ("last_name",) if r < 0.8 else ("first_name", "last_name")):
        del ev[field]
    return ("missing_name", ev["student_id"], events.encode(ev))


def _mixed_case(r: random.Random):
    flips = [r.random() < 0.5 for _ in range(40)]
    return lambda s: "".join(c.upper() if flips[i % 40] else c.lower() for i, c in enumerate(s))


_BUILDERS: dict[str, Callable[[Any], Message]] = {
    "csv_like": _csv_like,
    "age_key_value": _age_key_value,
    "major_spacing_case": _major_spacing_case,
    "age_as_string": _age_as_string,
    "missing_event_id": _missing_event_id,
    "non_student_text": _non_student_text,
    "truncated_json": _truncated_json,
    "empty": _empty,
    "age_out_of_range": _age_out_of_range,
    "age_negative": lambda gen: _altered(gen, "age_negative", age=lambda: -gen.rng.randint(1, 30)),
    "age_not_a_number": lambda gen: _altered(gen, "age_not_a_number", age=lambda: gen.rng.choice(AGE_WORDS)),
    "missing_major": lambda gen: _altered(gen, "missing_major", major=_DROP),
    "missing_age": lambda gen: _altered(gen, "missing_age", age=_DROP),
    "missing_name": _missing_name,
    "unknown_major": lambda gen: _altered(gen, "unknown_major", major=lambda: gen.rng.choice(UNKNOWN_MAJORS)),
}
# every kind of EXPECTED but the generator's own two has a builder
assert set(_BUILDERS) == set(EXPECTED) - {"valid", "duplicate"}
