"""The factory of valid events: contract events drawn from the population, in bulk or one at a time.

Built for speed (the producer must reach a few hundred thousand events/s on two cores): every
random draw of a chunk comes from one ``randbytes`` call, numpy lays out the fixed-width head of
each event (ids, timestamp), and Python appends two pre-formatted JSON fragments drawn from pools
(the names; the age and major together). :meth:`ValidEvents.student` is the slow path: one event as
a dict, for the malformed and hostile kinds to alter.

The factory owns no random generator and no clock: the caller passes both in, so the sequence of
draws (and the bytes of a seeded run) is the caller's.
"""
from __future__ import annotations

import json
import random
from itertools import accumulate
from typing import Sequence

import numpy as np

from producer import events
from producer.population import AGE_WEIGHTS, FIRST_NAMES, LAST_NAMES, MAJOR_WEIGHTS


class ValidEvents:
    """Valid contract events for these majors and age bounds, in the population's proportions."""

    def __init__(self, majors: Sequence[str], age_min: int, age_max: int) -> None:
        self.majors = tuple(majors)
        self.ages = ([a for a in AGE_WEIGHTS if age_min <= a <= age_max]
                     or list(range(age_min, min(age_max, age_min + 12) + 1)))
        self._age_cw = list(accumulate(AGE_WEIGHTS.get(a, 1.0) for a in self.ages))
        self._major_cw = list(accumulate(MAJOR_WEIGHTS.get(m, 1) for m in self.majors))
        # Pools of pre-formatted JSON fragments, so a valid event is a fixed-width head plus two
        # fragments (the wire order puts the fixed-width fields first, see producer.events.FIELDS).
        firsts, lasts = [_js(f) for f in FIRST_NAMES], [_js(n) for n in LAST_NAMES]   # each name encoded once
        self._names = np.array([f'"first_name":{f},"last_name":{n},' for f in firsts for n in lasts], dtype=object)
        pairs = [(f'"age":{a},"major":{_js(m)}}}', wa * wm) for a, wa in zip(self.ages, _diff(self._age_cw))
                 for m, wm in zip(self.majors, _diff(self._major_cw))]
        self._bodies = np.array([p for p, _ in pairs], dtype=object)
        cw = np.cumsum([w for _, w in pairs])
        self._body_cut = np.floor(cw / cw[-1] * 2.0 ** 32).astype(np.uint64)
        self._body_cut[-1] = 2 ** 32

    def student(self, rng: random.Random, emitted_ms: int) -> dict:
        """One valid event as a dict, stamped ``emitted_ms``."""
        first = rng.choice(FIRST_NAMES)
        last = rng.choice(LAST_NAMES)
        age = rng.choices(self.ages, cum_weights=self._age_cw)[0]
        major = rng.choices(self.majors, cum_weights=self._major_cw)[0]
        return events.make_event(event_id=events.format_uuid4(rng.getrandbits(128)),
                                 student_id=f"{rng.getrandbits(64):016x}", first_name=first, last_name=last,
                                 age=age, major=major, emitted_at=events.iso_utc(emitted_ms))

    def chunk(self, rng: random.Random, ms: np.ndarray) -> tuple[list[str], list[str]]:
        """``len(ms)`` valid events stamped ``ms`` (Unix milliseconds, ascending): (keys, values)."""
        n = len(ms)
        raw = np.frombuffer(rng.randbytes(n * 32), dtype=np.uint8).reshape(n, 32)
        head = _heads(raw, ms)
        w = head.shape[1]
        text = head.tobytes().decode("ascii")
        heads = [text[i:i + w] for i in range(0, n * w, w)]
        keys = [text[i:i + 16] for i in range(_HEAD_STUDENT_ID, n * w, w)]
        u = raw[:, 24:32].copy().view("<u4").astype(np.uint64)   # two uniform 32-bit draws per event
        names = self._names[(u[:, 0] * len(self._names)) >> 32].tolist()
        bodies = self._bodies[np.searchsorted(self._body_cut, u[:, 1], side="right")].tolist()
        values = list(map(str.__add__, map(str.__add__, heads, names), bodies))
        return keys, values


def _heads(raw: np.ndarray, ms: np.ndarray) -> np.ndarray:
    """The fixed-width heads (one row of ASCII bytes per event): ids from ``raw``'s first 24 bytes."""
    n = len(ms)
    hexed = _HEX2[raw[:, :24]].view(np.uint8).reshape(n, 48)   # 16 bytes UUID + 8 bytes student id
    head = np.tile(_HEAD, (n, 1))
    e = _HEAD_EVENT_ID
    head[:, e:e + 8] = hexed[:, 0:8]
    head[:, e + 9:e + 13] = hexed[:, 8:12]
    head[:, e + 15:e + 18] = hexed[:, 13:16]              # e + 14 is the version nibble "4"
    head[:, e + 19] = _VARIANT_BYTE[raw[:, 8]]             # RFC 4122 variant: 8, 9, a or b
    head[:, e + 20:e + 23] = hexed[:, 17:20]
    head[:, e + 24:e + 36] = hexed[:, 20:32]
    head[:, _HEAD_STUDENT_ID:_HEAD_STUDENT_ID + 16] = hexed[:, 32:48]
    first_sec = int(ms[0] // 1000)
    secs = range(first_sec, int(ms[-1] // 1000) + 1)
    prefixes = np.frombuffer("".join(map(events.iso_second, secs)).encode("ascii"), dtype=np.uint8).reshape(-1, 19)
    t = _HEAD_EMITTED_AT
    head[:, t:t + 19] = prefixes[ms // 1000 - first_sec]
    frac = ms % 1000
    head[:, t + 20] = 48 + frac // 100
    head[:, t + 21] = 48 + frac // 10 % 10
    head[:, t + 22] = 48 + frac % 10
    return head


def _js(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _diff(cw: list[float]) -> list[float]:
    return [b - a for a, b in zip([0.0] + cw[:-1], cw)]


# Fixed-width head of a valid event; x = random hex, T = timestamp, all replaced per event.
_HEAD_TEXT = ('{"event_id":"xxxxxxxx-xxxx-4xxx-xxxx-xxxxxxxxxxxx","student_id":"xxxxxxxxxxxxxxxx",'
              f'"emitted_at":"TTTT-TT-TTTTT:TT:TT.TTTZ","schema_version":{events.SCHEMA_VERSION},')
_HEAD = np.frombuffer(_HEAD_TEXT.encode("ascii"), dtype=np.uint8)
_HEAD_EVENT_ID = _HEAD_TEXT.index("xxxxxxxx-")
_HEAD_STUDENT_ID = _HEAD_TEXT.index('"student_id":"') + len('"student_id":"')
_HEAD_EMITTED_AT = _HEAD_TEXT.index("TTTT")
_HEX2 = np.array([ord(f"{b:02x}"[0]) | ord(f"{b:02x}"[1]) << 8 for b in range(256)], dtype="<u2")
_VARIANT_BYTE = np.array([ord("89ab"[(b >> 4) & 3]) for b in range(256)], dtype=np.uint8)
