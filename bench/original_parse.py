"""The original notebook's parsing function, as ported (shared by the as-shipped original,
bench/baseline_original.py, and the corrected one, bench/corrected_original.py)."""
from __future__ import annotations

import json
from typing import Any, Callable


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def parse_event(message: str, log: Callable[[str], None] | None = None) -> tuple[dict[str, Any] | None, str | None]:
    """:func:`parse_message`, and the JSON message's ``event_id`` when it has a non-blank one."""
    log = print if log is None else log
    try:
        try:
            data = json.loads(message)
        except ValueError:          # json.JSONDecodeError: not JSON, try the other forms
            pass
        else:
            eid = data.get("event_id")
            return ({"first_name": data.get("first_name", ""), "last_name": data.get("last_name", ""),
                     "age": int(data.get("age", 0)), "major": data.get("major", "")},
                    eid if isinstance(eid, str) and eid.strip() else None)
        parts = message.split(",")
        if len(parts) < 4:
            raise ValueError(f"format non reconnu ({len(parts)} champ(s))")
        first, last, age, major = parts[:4]
        try:
            return {"first_name": first, "last_name": last, "age": int(age), "major": major}, None
        except ValueError:
            pass
        age_part = next((p for p in parts if "age" in p.lower()), None)
        if age_part is None:
            raise ValueError(f"âge illisible: {age!r}")
        return {"first_name": first, "last_name": last, "age": int(_digits(age_part)), "major": major}, None
    except Exception as exc:  # noqa: BLE001 - the original caught everything and printed it
        log(f"Erreur de parsing: {exc} -- message: {message[:80]!r}")
        return None, None


def parse_message(message: str, log: Callable[[str], None] | None = None) -> dict[str, Any] | None:
    """The original parsing function: a dict ``first_name, last_name, age, major`` or None (dropped).

    - JSON first: any text ``json.loads`` accepts. Missing fields become ``''`` (names, major) or
      ``0`` (age); ``age`` goes through ``int()`` (``"22"`` -> 22, ``22.9`` -> 22). If that fails
      (``"vingt"``, ``null``) or the JSON is not an object, the message is dropped.
    - then CSV: at least four comma-separated fields, the first four taken as written
      ``first,last,age,major`` (nothing stripped: ``int()`` ignores the spaces around an age);
    - then the flexible age extraction, when ``int()`` refused the age field: the field that
      contains ``age`` (``age:19``) gives the age by joining ALL its digits (``age:1 9`` -> 19,
      ``age:-3`` -> 3).
    - anything else is dropped: ``None``, with one ``print`` of the error (``log``), nothing kept.

    Majors keep their spacing and case; ages are not range-checked; duplicates go through.
    """
    return parse_event(message, log)[0]
