"""Hostile messages: the inputs that break naive pipelines, each with its contract verdict.

Not part of the default malformed mix (``--malformed-rate`` keeps its proportions over
:data:`producer.malformed.MALFORMED_KINDS`): ask for them by name (``--kinds huge_line,...``) or all
at once (``studentflow produce --hostile``, ``Generator(kinds=MALFORMED_KINDS + HOSTILE_KINDS)``).

Every hostile message is built from a random valid event of the generator (same seed, same
bytes). ``invalid_utf8`` is the one kind whose value is ``bytes`` (it cannot be a ``str``): the
event encoded as Latin-1, as a producer with the wrong charset would send it.
"""
from __future__ import annotations

import json
from typing import Callable

from producer import events

# A line of 10 MB (10,000,000 bytes): under the sink's 10 MiB fetch limit
# (consumer.override.max.partition.fetch.bytes = 10485760) with the record's overhead.
HUGE_LINE_BYTES = 10_000_000
# What the producer must accept for it (librdkafka's default message.max.bytes is 1,000,000).
HUGE_MESSAGE_MAX_BYTES = 16 * 1024 * 1024
DEEP_LEVELS = 1000       # nesting depth of deep_json, the event object included
WIDE_KEYS = 10_000       # keys of wide_json, the event's own included
WIDE_FIELDS = 10_000     # comma-separated fields of wide_csv

# kind -> ("clean", rule) | ("quarantine", reason): what the Spark stage must make of it.
HOSTILE_EXPECTED: dict[str, tuple[str, str | None]] = {
    "huge_line": ("clean", "json_loose"),            # an event with a 10 MB "note" field
    "nul_bytes": ("quarantine", "invalid_json"),     # raw NUL inside a JSON string (RFC 8259: must be escaped)
    "invalid_utf8": ("quarantine", "invalid_encoding"),  # Latin-1 bytes: U+FFFD after Connect's StringConverter
    "deep_json": ("clean", "json_loose"),            # an event with an extra field nested to 1,000 levels
    "wide_json": ("clean", "json_loose"),            # an event with 9,992 extra keys (10,000 in all)
    "wide_csv": ("quarantine", "not_json_or_csv"),   # 10,000 comma-separated fields
    "age_exponent": ("quarantine", "age_out_of_range"),  # "age": 1e308 (a number, far outside the range)
    "age_negative_zero": ("quarantine", "age_out_of_range"),  # "age": -0 (zero)
    "age_integral_float": ("clean", "json_loose"),   # "age": 22.0
    "age_padded_string": ("clean", "json_loose"),    # "age": "22 "
    "whitespace_only": ("quarantine", "empty"),      # spaces and tabs only
}
HOSTILE_KINDS: tuple[str, ...] = tuple(HOSTILE_EXPECTED)
_AGE_JSON = '"age":'   # where the age sits in an encoded event


def make(kind: str, gen) -> tuple[str, "str | None", "str | bytes"]:
    """One hostile message ``(kind, key, value)`` drawn from ``gen`` (a producer.generate.Generator)."""
    ev = gen.student()
    return kind, ev["student_id"], _BUILDERS[kind](ev, gen)


def _with_age(ev: dict, age_json: str) -> str:
    """The event with its age written as ``age_json`` verbatim (e.g. ``1e308``, ``-0``)."""
    text = events.encode(ev)
    head, _, rest = text.partition(_AGE_JSON)
    return head + _AGE_JSON + age_json + rest[len(json.dumps(ev["age"])):]


def _huge_line(ev: dict, gen) -> str:
    text = events.encode(ev)
    pad = HUGE_LINE_BYTES - len(text.encode("utf-8")) - len(',"note":""')
    return text[:-1] + ',"note":"' + "x" * pad + '"}'


def _nul_bytes(ev: dict, gen) -> str:
    name = ev["first_name"]
    cut = gen.rng.randint(1, len(name) - 1)
    ev["first_name"] = name[:cut] + "\x00" + name[cut:]
    return events.encode(ev).replace("\\u0000", "\x00")   # raw NUL, not the escape


def _invalid_utf8(ev: dict, gen) -> bytes:
    ev["first_name"] = ev["first_name"] + "é"   # at least one byte that is not ASCII
    return events.encode(ev).encode("latin-1", errors="replace")


def _deep_json(ev: dict, gen) -> str:
    depth = DEEP_LEVELS - 1   # the event object is level 1
    return events.encode(ev)[:-1] + ',"extra":' + '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1) + "}"


def _wide_json(ev: dict, gen) -> str:
    extra = ",".join(f'"k{i}":{i}' for i in range(WIDE_KEYS - len(ev)))
    return events.encode(ev)[:-1] + "," + extra + "}"


def _wide_csv(ev: dict, gen) -> str:
    head = [ev["first_name"], ev["last_name"], str(ev["age"]), ev["major"]]
    return ",".join(head + [f"f{i}" for i in range(WIDE_FIELDS - len(head))])


def _whitespace_only(ev: dict, gen) -> str:
    return "".join(gen.rng.choice(" \t") for _ in range(gen.rng.randint(1, 12)))


_BUILDERS: dict[str, Callable[[dict, object], "str | bytes"]] = {
    "huge_line": _huge_line,
    "nul_bytes": _nul_bytes,
    "invalid_utf8": _invalid_utf8,
    "deep_json": _deep_json,
    "wide_json": _wide_json,
    "wide_csv": _wide_csv,
    "age_exponent": lambda ev, gen: _with_age(ev, "1e308"),
    "age_negative_zero": lambda ev, gen: _with_age(ev, "-0"),
    "age_integral_float": lambda ev, gen: _with_age(ev, f"{ev['age']}.0"),
    "age_padded_string": lambda ev, gen: _with_age(ev, json.dumps(f"{ev['age']} ")),
    "whitespace_only": _whitespace_only,
}
assert set(_BUILDERS) == set(HOSTILE_EXPECTED)
