"""Sample student events, and the malformed traffic the original topic carried, on demand.

Everything comes from one seeded ``random.Random``: the same seed (and the same settings)
gives byte-identical messages. Each message is a ``(kind, key, value)`` tuple; ``kind`` says
what the message is, and :data:`ALL_EXPECTED` says what the Spark stage must make of it (the
contract agreed in CONTRIBUTING.md).

This module sequences the messages: the chunks of valid events (:mod:`producer.valid_events`),
the share replaced by malformed kinds (:mod:`producer.malformed`, :mod:`producer.hostile`), the
exact duplicates of recent events, the clock and the tally of kinds.
"""
from __future__ import annotations

import random
from collections import Counter
from itertools import repeat
from typing import Iterable, Iterator, Sequence

import numpy as np

from producer import events, hostile, malformed
from producer.events import Message
from producer.valid_events import ValidEvents
from studentflow.core import contract
from studentflow.core.reference import load_majors

# Every kind the generator makes -> its verdict: the contract table of the default malformed mix
# (producer/malformed.py) and the hostile inputs (producer/hostile.py: 10 MB line, NUL, invalid
# UTF-8, deep/wide JSON, odd numbers...), which stay out of the default mix.
ALL_EXPECTED: dict[str, tuple[str, str | None]] = {**malformed.EXPECTED, **hostile.HOSTILE_EXPECTED}

# Seeded runs get a virtual clock (one event per millisecond from this instant), so the same
# seed gives the same bytes; unseeded runs stamp the wall clock.
CHUNK = 2048
RECENT = 64   # how far back a duplicate may reach: the last valid events of this window


class _Clock:
    """The events' timestamps: virtual (one millisecond per event) or the wall clock."""

    def __init__(self, start_ms: int, virtual: bool) -> None:
        self.virtual = virtual
        self.next_ms = start_ms
        self.pinned: int | None = None   # while set, every event is stamped with it

    def take(self, n: int) -> int:
        """Start of ``n`` consecutive milliseconds on the virtual clock, or now."""
        if not self.virtual:
            return events.now_ms()
        if self.pinned is not None:
            return self.pinned
        t = self.next_ms
        self.next_ms += n
        return t

    def stamps(self, n: int) -> np.ndarray:
        """One timestamp per event of a chunk of ``n``."""
        t0 = self.take(n)
        return t0 + np.arange(n, dtype=np.int64) if self.virtual else np.full(n, t0, dtype=np.int64)


class Generator:
    """Seeded source of ``(kind, key, value)`` messages.

    ``malformed_rate`` is the share of messages replaced by a malformed kind, picked uniformly
    from ``kinds`` (default: every kind of :data:`producer.malformed.MALFORMED_KINDS`). ``counts`` tallies the
    kinds emitted so far.
    """

    def __init__(self, seed: int | None = None, *, majors: Sequence[str] | None = None,
                 age_min: int = contract.AGE_MIN, age_max: int = contract.AGE_MAX, malformed_rate: float = 0.0,
                 kinds: Iterable[str] | None = None, start_ms: int | None = None) -> None:
        if not 0.0 <= malformed_rate <= 1.0:
            raise ValueError(f"malformed_rate must be within [0, 1], got {malformed_rate}")
        self.seed = seed
        self.rng = random.Random(seed)
        self.majors = tuple(majors) if majors is not None else _default_majors()
        self.age_min, self.age_max = age_min, age_max
        self.malformed_rate = malformed_rate
        self.kinds = tuple(kinds) if kinds is not None else malformed.MALFORMED_KINDS
        unknown = [k for k in self.kinds if k not in ALL_EXPECTED]
        if unknown or not self.kinds:
            raise ValueError(f"unknown malformed kind(s) {unknown or '(none given)'}: choose from "
                             f"{', '.join(malformed.MALFORMED_KINDS + hostile.HOSTILE_KINDS)}")
        self.counts: Counter[str] = Counter()
        self._clock = _Clock(start_ms if start_ms is not None else (events.SEEDED_EPOCH_MS if seed is not None else 0),
                             virtual=seed is not None or start_ms is not None)
        self._recent: list[Message] = []   # recent valid messages, for exact duplicates
        self._valid = ValidEvents(self.majors, age_min, age_max)

    def messages(self, count: int) -> Iterator[Message]:
        """``count`` messages; valid events with a share ``malformed_rate`` of malformed kinds."""
        left = count
        cut = int(self.malformed_rate * 2 ** 32)
        while left > 0:
            n = min(CHUNK, left)
            left -= n
            keys, values = self._valid.chunk(self.rng, self._clock.stamps(n))
            batch = list(zip(repeat("valid"), keys, values))
            replaced = self._replace_some(batch, cut) if cut else 0
            self.counts["valid"] += n - replaced
            self._recent = [m for m in batch[-RECENT:] if m[0] == "valid"] or self._recent
            yield from batch

    def message(self, kind: str) -> Message:
        """One message of ``kind`` (any key of :data:`ALL_EXPECTED`), counted in ``counts``."""
        if kind not in ALL_EXPECTED:
            raise ValueError(f"unknown kind {kind!r}: choose from {', '.join(ALL_EXPECTED)}")
        if kind == "duplicate" and not self._recent:
            kind = "valid"   # nothing to duplicate yet: the first message is the original
        if kind == "valid":
            ev = self.student()
            msg: Message = ("valid", ev["student_id"], events.encode(ev))
            self._recent = (self._recent + [msg])[-RECENT:]
        elif kind == "duplicate":
            msg = ("duplicate", *self.rng.choice(self._recent)[1:])
        elif kind in hostile.HOSTILE_EXPECTED:
            msg = hostile.make(kind, self)
        else:
            msg = malformed.make(kind, self)
        self.counts[kind] += 1
        return msg

    def student(self) -> dict:
        """A random valid event, as a dict (the slow path: used for malformed kinds)."""
        return self._valid.student(self.rng, self._clock.take(1))

    def _replace_some(self, batch: list[Message], cut: int) -> int:
        """Replace the chunk's messages whose draw falls under ``cut`` (of 2**32) by a kind of
        ``kinds``, in place; return how many were replaced (counted by their kind)."""
        n = len(batch)
        draws = np.frombuffer(self.rng.randbytes(4 * n), dtype="<u4")
        spots = np.flatnonzero(draws < cut).tolist() if cut < 2 ** 32 else range(n)
        t0 = self._clock.next_ms - n   # a replaced message keeps its slot's timestamp
        for i in spots:
            self._clock.pinned = t0 + i if self._clock.virtual else None
            kind = self.rng.choice(self.kinds)
            batch[i] = self._duplicate_at(batch, i) if kind == "duplicate" else self.message(kind)
        self._clock.pinned = None
        return len(spots)

    def _duplicate_at(self, batch: list[Message], i: int) -> Message:
        """An exact copy of an earlier valid event of this chunk or before (else the slot's own)."""
        earlier = [m for m in batch[max(0, i - RECENT):i] if m[0] == "valid"] or self._recent
        self.counts["duplicate" if earlier else "valid"] += 1
        return ("duplicate", *self.rng.choice(earlier)[1:]) if earlier else batch[i]


def generate(count: int, seed: int | None = None, *, malformed_rate: float = 0.0, kinds: Iterable[str] | None = None,
             settings=None) -> Iterator[Message]:
    """``count`` messages from a new :class:`Generator` (age bounds and majors from ``settings``)."""
    return for_settings(settings, seed=seed, malformed_rate=malformed_rate, kinds=kinds).messages(count)


def for_settings(settings=None, **kwargs) -> Generator:
    """A Generator using the settings' age bounds and majors seed (default settings if None)."""
    if settings is None:
        from studentflow.core import config
        settings = config.load()
    return Generator(majors=load_majors(settings.majors_file), age_min=settings.age_min,
                     age_max=settings.age_max, **kwargs)


def _default_majors() -> tuple[str, ...]:
    from studentflow.core import config
    return load_majors(config.load().majors_file)
