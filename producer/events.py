"""The event contract: one JSON object per message, one line, UTF-8 (see docs/producer.md).

Fields: ``event_id`` (UUID), ``student_id`` (also the Kafka key), ``emitted_at`` (ISO-8601 UTC),
``schema_version`` (1), ``first_name``, ``last_name``, ``age`` (int), ``major``. The producer writes
them in that order (fixed-width envelope first, which lets the generator lay it out in bulk);
readers must not depend on the order.

The JSON Schema lives beside this file (``student_event.schema.json``). The age bounds and the
canonical majors are not written into it: they come from the settings and the majors seed
(one source of truth each) and are added by :func:`schema`.
"""
from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from studentflow.core.reference import load_majors

SCHEMA_VERSION = 1
# One message: (kind, key, value). The generator yields text; publish also takes bytes (hostile kinds).
Message = tuple[str, "str | bytes | None", "str | bytes"]
# Seeded runs stamp a virtual clock (one millisecond per event from this instant) instead of the
# wall clock, so the same seed gives the same bytes.
SEEDED_EPOCH_MS = 1756713600000   # 2025-09-01T08:00:00Z, la rentrée
SCHEMA_PATH = Path(__file__).with_name("student_event.schema.json")
FIELDS = ("event_id", "student_id", "emitted_at", "schema_version", "first_name", "last_name", "age", "major")


@lru_cache(maxsize=1)
def _base_schema_text() -> str:
    return SCHEMA_PATH.read_text(encoding="utf-8")


def base_schema() -> dict[str, Any]:
    """The JSON Schema file as a dict (no age bounds, no major list)."""
    return json.loads(_base_schema_text())


def schema(age_min: int | None = None, age_max: int | None = None,
           majors: Iterable[str] | None = None) -> dict[str, Any]:
    """The contract schema, with the configured age bounds and canonical majors added."""
    s = base_schema()
    props = s["properties"]
    if age_min is not None:
        props["age"]["minimum"] = age_min
    if age_max is not None:
        props["age"]["maximum"] = age_max
    if majors is not None:
        props["major"]["enum"] = list(majors)
    return s


def schema_for(settings) -> dict[str, Any]:
    """The contract schema for these settings (age bounds + majors seed)."""
    return schema(settings.age_min, settings.age_max, load_majors(settings.majors_file))


def validator(contract: dict[str, Any]):
    """A jsonschema validator for ``contract`` (jsonschema is imported lazily)."""
    import jsonschema

    cls = jsonschema.validators.validator_for(contract)
    cls.check_schema(contract)
    return cls(contract)


# --- building events --------------------------------------------------------------------------

def format_uuid4(bits128: int) -> str:
    """A version-4 UUID string from 128 random bits (cheaper than uuid.UUID, same text)."""
    bits128 = (bits128 & ~(0xF000 << 64) & ~(0xC000 << 48)) | (0x4000 << 64) | (0x8000 << 48)
    h = f"{bits128:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def deterministic_uuid(*parts: object) -> str:
    """A version-4-shaped UUID derived from ``parts`` (same parts, same id)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return format_uuid4(int.from_bytes(digest[:16], "big"))


def stable_student_id(first_name: str, last_name: str) -> str:
    """A student id derived from the name (case- and space-insensitive): stable across replays."""
    norm = f"{' '.join(first_name.split()).casefold()}|{' '.join(last_name.split()).casefold()}"
    return hashlib.sha256(norm.encode("utf-8")).hexdigest()[:16]


def iso_utc(epoch_ms: int) -> str:
    """``2025-09-01T08:00:00.123Z`` for a Unix time in milliseconds."""
    sec, ms = divmod(epoch_ms, 1000)
    return f"{iso_second(sec)}.{ms:03d}Z"


@lru_cache(maxsize=4096)
def iso_second(sec: int) -> str:
    """``2025-09-01T08:00:00`` (UTC, no suffix) for a Unix time in seconds."""
    return datetime.fromtimestamp(sec, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def encode(event: dict[str, Any]) -> str:
    """The wire text of an event: compact JSON, contract field order, UTF-8 characters kept."""
    ordered = {k: event[k] for k in FIELDS if k in event}
    ordered.update({k: v for k, v in event.items() if k not in ordered})
    return json.dumps(ordered, ensure_ascii=False, separators=(",", ":"))


def make_event(*, event_id: str, student_id: str, first_name: str, last_name: str, age: Any, major: str,
               emitted_at: str) -> dict[str, Any]:
    return {"event_id": event_id, "student_id": student_id, "emitted_at": emitted_at,
            "schema_version": SCHEMA_VERSION, "first_name": first_name, "last_name": last_name, "age": age,
            "major": major}
