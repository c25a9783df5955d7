"""The corrected original: the notebook's method plus the three judgements it lacked (NOT part of the product).

The benchmark's headline compares studentflow with this, not with the notebook as shipped: the
same steps (bench/baseline_original.py, ``--method corrected``), but after the notebook's parse
each kept message is judged, in this order:

1. **canonical major** — the major as written if it is one of the canonical majors of the dbt
   seed ``majors.csv``; else its folded form (case, accents and spaces off:
   :func:`studentflow.core.reference.fold_text`) looked up among the canonical majors and the aliases of
   ``major_aliases.csv``. No match (``''`` for a JSON message without a major, a number, an
   unknown major): dropped as ``unknown_major``.
2. **age range** — ``age_min <= age <= age_max`` (the settings, as studentflow uses them), else
   dropped as ``age_out_of_range`` (``0`` for a JSON message without an age falls here).
3. **duplicates by event id** — the JSON message's ``event_id`` (a non-blank string) or, for a
   message without one (CSV, ``age:19``, JSON without the field), the message text itself; a
   message whose id was already kept is dropped as ``duplicate``.

Everything else is the notebook's: names are not checked (a JSON message without names is kept,
as studentflow would not), and a message its parse refused is ``unparsed``.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Callable

from studentflow.core.reference import Reference, fold_text

KEPT = "kept"
UNPARSED = "unparsed"
UNKNOWN_MAJOR = "unknown_major"
OUT_OF_RANGE = "age_out_of_range"
DUPLICATE = "duplicate"
VERDICTS = (KEPT, UNPARSED, UNKNOWN_MAJOR, OUT_OF_RANGE, DUPLICATE)


def reference_from_settings(settings) -> Reference:
    """The canonical majors and aliases studentflow reads (the dbt seeds named in the settings)."""
    from studentflow.core.reference import load_reference

    return load_reference(settings.majors_file, settings.major_aliases_file)


class Judge:
    """The corrected judgement of one message after the other (the duplicates need the order)."""

    def __init__(self, ref: Reference, age_min: int, age_max: int) -> None:
        self.majors = frozenset(ref.majors)
        self.by_key = dict(ref.keys)
        self.age_min, self.age_max = age_min, age_max
        self.seen: set[str] = set()
        self.counts: Counter[str] = Counter({v: 0 for v in VERDICTS})

    def canonical(self, major: Any) -> str | None:
        if not isinstance(major, str):
            return None
        if major in self.majors:
            return major
        return self.by_key.get(fold_text(major))

    def verdict(self, record: dict[str, Any] | None, event_id: str) -> tuple[str, dict[str, Any] | None]:
        """(verdict, the record to keep with its canonical major, or None)."""
        if record is None:
            return UNPARSED, None
        major = self.canonical(record["major"])
        if major is None:
            return UNKNOWN_MAJOR, None
        if not self.age_min <= record["age"] <= self.age_max:
            return OUT_OF_RANGE, None
        if event_id in self.seen:
            return DUPLICATE, None
        self.seen.add(event_id)
        return KEPT, {**record, "major": major}

    def judge(self, message: str, log: Callable[[str], None] | None = None) -> tuple[str, dict[str, Any] | None]:
        """The notebook's parse of ``message``, then the three judgements; counted in ``counts``."""
        from bench.original_parse import parse_event

        return self._count(message, parse_event(message, log))

    def _count(self, message: str, parsed: tuple[dict[str, Any] | None, str | None]) -> tuple[str, dict | None]:
        record, event_id = parsed
        verdict, kept = self.verdict(record, event_id or message)
        self.counts[verdict] += 1
        return verdict, kept

    def keep_parsed(self, messages: list[str], parsed: list[tuple[dict[str, Any] | None, str | None]]
                    ) -> list[dict[str, Any]]:
        """The records judged valid, in the topic's order (``parsed``: ``parse_event`` of each message)."""
        return [r for _v, r in (self._count(m, p) for m, p in zip(messages, parsed)) if r is not None]
