"""Sample student events, and the malformed traffic the original topic carried, on demand.

Everything comes from one seeded ``random.Random``: the same seed (and the same settings)
gives byte-identical messages. Each message is a ``(kind, key, value)`` tuple; ``kind`` says
what the message is, and :data:`EXPECTED` says what the Spark stage must make of it (the
contract agreed in CONTRIBUTING.md).

Generation is built for speed (the producer must reach a few hundred thousand events/s on two
cores): the valid events of a chunk are drawn with a few bulk ``choices`` calls over
pre-formatted JSON fragments, and their UUIDs are cut from one big ``getrandbits`` integer.
"""
from __future__ import annotations

import json
import random
from collections import Counter
from itertools import accumulate, repeat
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from producer import events, hostile
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
# Hostile inputs (10 MB line, NUL, invalid UTF-8, deep/wide JSON, odd numbers...): producer/hostile.py.
# Kept out of EXPECTED and of the default mix until every reader of EXPECTED knows them.
HOSTILE_EXPECTED = hostile.HOSTILE_EXPECTED
HOSTILE_KINDS = hostile.HOSTILE_KINDS
ALL_EXPECTED: dict[str, tuple[str, str | None]] = {**EXPECTED, **HOSTILE_EXPECTED}

FIRST_NAMES = (
    "Léa", "Chloé", "Manon", "Inès", "Camille", "Zoé", "Louise", "Jade", "Emma", "Lina", "Alice", "Juliette",
    "Anaïs", "Éloïse", "Héloïse", "Maëlys", "Océane", "Noémie", "Adèle", "Élise", "Amélie", "Cécile", "Hélène",
    "Gaëlle", "Agathe", "Clémence", "Margaux", "Pauline", "Mathilde", "Lucie", "Sarah", "Laura", "Marine",
    "Céline", "Valérie", "Thérèse", "Bérénice", "Salomé", "Maïwenn", "Rosalie", "Capucine", "Ambre", "Nour",
    "Yasmine", "Fatoumata", "Awa", "Marie-Ève", "Anne-Sophie", "Claire", "Sophie", "Aurélie", "Mélanie",
    "Lucas", "Hugo", "Théo", "Noé", "Raphaël", "Gabriel", "Maël", "Louis", "Arthur", "Jules", "Nathan",
    "Clément", "Jérôme", "Benoît", "François", "Mathéo", "Timothée", "Loïc", "Joël", "Aurélien", "Sébastien",
    "Stéphane", "Étienne", "Grégoire", "Côme", "Anatole", "Baptiste", "Maxime", "Quentin", "Romain", "Antoine",
    "Thomas", "Nicolas", "Julien", "Adrien", "Valentin", "Bastien", "Corentin", "Killian", "Yanis", "Mehdi",
    "Karim", "Moussa", "Mamadou", "Jean-Baptiste", "Pierre-Louis", "Gaël", "Noël", "Cyril", "Rémi", "Léo",
    "Bob", "Victor", "Xavier", "Yves", "Émile", "Félix", "Lény", "Enzo", "Tom", "Paul", "Samuel", "Ibrahim",
)
LAST_NAMES = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau", "Simon",
    "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier", "Morel",
    "Girard", "André", "Lefebvre", "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Martinez", "Legrand",
    "Garnier", "Faure", "Rousseau", "Blanc", "Guérin", "Muller", "Henry", "Roussel", "Nicolas", "Perrin",
    "Morin", "Mathieu", "Clément", "Gauthier", "Dumont", "Lopez", "Fontaine", "Chevalier", "Robin", "Masson",
    "Sanchez", "Gérard", "Nguyen", "Boyer", "Denis", "Lemaire", "Duval", "Joly", "Gautier", "Roger", "Roche",
    "Roy", "Noël", "Meyer", "Lucas", "Meunier", "Jean", "Pérez", "Marchand", "Dufour", "Blanchard", "Marie",
    "Barbier", "Brun", "Dumas", "Brunet", "Schmitt", "Leroux", "Colin", "Fernandez", "Pierre", "Renard",
    "Arnaud", "Rolland", "Caron", "Aubert", "Giraud", "Leclerc", "Vidal", "Bourgeois", "Renaud", "Lemoine",
    "Picard", "Gaillard", "Philippe", "Lacroix", "Fabre", "Dupuis", "Olivier", "Rodriguez", "Da Silva",
    "Hubert", "Louis", "Charles", "Guillot", "Rivière", "Le Gall", "Guillaume", "Adam", "Rey", "Moulin",
    "Berger", "Lecomte", "Ménard", "Fleury", "Deschamps", "Carpentier", "Julien", "Benoît", "Maillard",
    "Aubry", "Jacquet", "Collet", "Prévost", "Poirier", "Charpentier", "Huet", "Baron", "Carré", "Breton",
    "Rémy", "Schneider", "Perrot", "Barré", "Lebrun", "Côté", "Hébert", "Lévêque", "Thibault", "Étienne",
    "N'Diaye", "Traoré", "Diallo", "Benali", "Haddad", "Le Goff", "Kerbrat", "Ollivier", "Bouchard",
)
# Non-uniform mix (weights by canonical name; a major the seed adds later gets weight 1).
MAJOR_WEIGHTS = {
    "Informatique": 24, "Economie": 16, "Biologie": 14, "Mathématiques": 12,
    "Chimie": 10, "Physique": 9, "Littérature": 8, "Philosophie": 7,
}
# Ages that look like students: mostly 18-30, a tail of older students.
AGE_WEIGHTS = {
    17: 1.0, 18: 7.0, 19: 11.0, 20: 12.0, 21: 12.0, 22: 11.0, 23: 9.0, 24: 7.0, 25: 5.5, 26: 4.5,
    27: 3.5, 28: 3.0, 29: 2.5, 30: 2.0, 31: 1.5, 32: 1.2, 33: 1.0, 34: 0.9, 35: 0.8,
    **{a: 0.5 for a in range(36, 41)}, **{a: 0.25 for a in range(41, 51)}, **{a: 0.1 for a in range(51, 66)},
}
NON_STUDENT_TEXTS = ("hello kafka", "test", "ping", "bonjour tout le monde", "hello world", "test message 42",
                     "lorem ipsum dolor sit amet", "kafka-console-producer test", "heartbeat")
UNKNOWN_MAJORS = ("Art", "Musique", "Droit", "Médecine", "Architecture", "Théologie", "Sport", "Cuisine")
AGE_WORDS = ("vingt", "dix-neuf", "twenty", "N/A", "inconnu", "?", "vingt-deux", "abc")

# Seeded runs get a virtual clock (one event per millisecond from this instant), so the same
# seed gives the same bytes; unseeded runs stamp the wall clock.
SEEDED_EPOCH_MS = events.SEEDED_EPOCH_MS
CHUNK = 2048


_DROP = object()   # _altered: remove this field

class Generator:
    """Seeded source of ``(kind, key, value)`` messages.

    ``malformed_rate`` is the share of messages replaced by a malformed kind, picked uniformly
    from ``kinds`` (default: every kind of :data:`MALFORMED_KINDS`). ``counts`` tallies the
    kinds emitted so far.
    """

    def __init__(self, seed: int | None = None, *, majors: Sequence[str] | None = None, age_min: int = 15,
                 age_max: int = 100, malformed_rate: float = 0.0, kinds: Iterable[str] | None = None,
                 start_ms: int | None = None) -> None:
        if not 0.0 <= malformed_rate <= 1.0:
            raise ValueError(f"malformed_rate must be within [0, 1], got {malformed_rate}")
        self.seed = seed
        self.rng = random.Random(seed)
        self.majors = tuple(majors) if majors is not None else _default_majors()
        self.age_min, self.age_max = age_min, age_max
        self.malformed_rate = malformed_rate
        self.kinds = tuple(kinds) if kinds is not None else MALFORMED_KINDS
        unknown = [k for k in self.kinds if k not in ALL_EXPECTED]
        if unknown or not self.kinds:
            raise ValueError(f"unknown malformed kind(s) {unknown or '(none given)'}: choose from "
                             f"{', '.join(MALFORMED_KINDS + HOSTILE_KINDS)}")
        self.counts: Counter[str] = Counter()
        self._virtual = seed is not None or start_ms is not None
        self._clock_ms = start_ms if start_ms is not None else (SEEDED_EPOCH_MS if seed is not None else 0)
        self._pinned_ms: int | None = None
        self._recent: list[Message] = []   # recent valid messages, for exact duplicates

        # Pools of pre-formatted JSON fragments, so a valid event is a fixed-width head plus two
        # fragments (the wire order puts the fixed-width fields first, see producer.events.FIELDS).
        self._ages = [a for a in AGE_WEIGHTS if age_min <= a <= age_max] or list(range(age_min, min(age_max, age_min + 12) + 1))
        self._age_cw = list(accumulate(AGE_WEIGHTS.get(a, 1.0) for a in self._ages))
        self._major_cw = list(accumulate(MAJOR_WEIGHTS.get(m, 1) for m in self.majors))
        self._names = np.array([f'"first_name":{_js(f)},"last_name":{_js(l)},' for f in FIRST_NAMES for l in LAST_NAMES],
                               dtype=object)
        pairs = [(f'"age":{a},"major":{_js(m)}}}', wa * wm) for a, wa in zip(self._ages, _diff(self._age_cw))
                 for m, wm in zip(self.majors, _diff(self._major_cw))]
        self._bodies = np.array([p for p, _ in pairs], dtype=object)
        cw = np.cumsum([w for _, w in pairs])
        self._body_cut = np.floor(cw / cw[-1] * 2.0 ** 32).astype(np.uint64)
        self._body_cut[-1] = 2 ** 32

    # ------------------------------------------------------------------ public API
    def messages(self, count: int) -> Iterator[Message]:
        """``count`` messages; valid events with a share ``malformed_rate`` of malformed kinds."""
        left = count
        cut = int(self.malformed_rate * 2 ** 32)
        while left > 0:
            n = min(CHUNK, left)
            left -= n
            keys, values = self._valid_chunk(n)
            batch = list(zip(repeat("valid"), keys, values))
            if cut:
                draws = np.frombuffer(self.rng.randbytes(4 * n), dtype="<u4")
                spots = np.flatnonzero(draws < cut).tolist() if cut < 2 ** 32 else range(n)
                t0 = self._clock_ms - n   # a replaced message keeps its slot's timestamp
                for i in spots:
                    self._pinned_ms = t0 + i if self._virtual else None
                    kind = self.rng.choice(self.kinds)
                    if kind == "duplicate":   # an exact copy of an earlier valid event of this chunk or before
                        earlier = [m for m in batch[max(0, i - 64):i] if m[0] == "valid"] or self._recent
                        batch[i] = ("duplicate", *self.rng.choice(earlier)[1:]) if earlier else batch[i]
                        self.counts["duplicate" if earlier else "valid"] += 1
                    else:
                        batch[i] = self.message(kind)
                self._pinned_ms = None
                self.counts["valid"] += n - len(spots)
            else:
                self.counts["valid"] += n
            self._recent = [m for m in batch[-64:] if m[0] == "valid"] or self._recent
            yield from batch

    def message(self, kind: str) -> Message:
        """One message of ``kind`` (any key of :data:`ALL_EXPECTED`), counted in ``counts``."""
        if kind not in ALL_EXPECTED:
            raise ValueError(f"unknown kind {kind!r}: choose from {', '.join(ALL_EXPECTED)}")
        if kind == "duplicate" and not self._recent:
            kind = "valid"   # nothing to duplicate yet: the first message is the original
        msg = hostile.make(kind, self) if kind in HOSTILE_EXPECTED else getattr(self, f"_m_{kind}")()
        if kind == "valid":
            self._recent = (self._recent + [msg])[-64:]
        self.counts[kind] += 1
        return msg

    def student(self) -> dict:
        """A random valid event, as a dict (the slow path: used for malformed kinds)."""
        r = self.rng
        first = r.choice(FIRST_NAMES)
        last = r.choice(LAST_NAMES)
        age = r.choices(self._ages, cum_weights=self._age_cw)[0]
        major = r.choices(self.majors, cum_weights=self._major_cw)[0]
        return events.make_event(event_id=events.format_uuid4(r.getrandbits(128)),
                                 student_id=f"{r.getrandbits(64):016x}", first_name=first, last_name=last,
                                 age=age, major=major, emitted_at=events.iso_utc(self._tick(1)))

    # ------------------------------------------------------------------ internals
    def _tick(self, n: int) -> int:
        """Start of ``n`` consecutive milliseconds on the virtual clock, or now."""
        if not self._virtual:
            return events.now_ms()
        if self._pinned_ms is not None:
            return self._pinned_ms
        t = self._clock_ms
        self._clock_ms += n
        return t

    def _valid_chunk(self, n: int) -> tuple[list[str], list[str]]:
        """``n`` valid events: (keys, values).

        Vectorised: every random draw of the chunk comes from one ``randbytes`` call of the seeded
        RNG; numpy lays out the fixed-width head (ids, timestamp), and Python appends the drawn
        name and age/major fragments (pre-formatted JSON).
        """
        r = self.rng
        raw = np.frombuffer(r.randbytes(n * 32), dtype=np.uint8).reshape(n, 32)
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
        t0 = self._tick(n)
        ms = t0 + np.arange(n, dtype=np.int64) if self._virtual else np.full(n, t0, dtype=np.int64)
        first_sec = int(ms[0] // 1000)
        secs = range(first_sec, int(ms[-1] // 1000) + 1)
        prefixes = np.frombuffer("".join(map(events.iso_second, secs)).encode("ascii"), dtype=np.uint8).reshape(-1, 19)
        t = _HEAD_EMITTED_AT
        head[:, t:t + 19] = prefixes[ms // 1000 - first_sec]
        frac = ms % 1000
        head[:, t + 20] = 48 + frac // 100
        head[:, t + 21] = 48 + frac // 10 % 10
        head[:, t + 22] = 48 + frac % 10

        w = head.shape[1]
        text = head.tobytes().decode("ascii")
        heads = [text[i:i + w] for i in range(0, n * w, w)]
        keys = [text[i:i + 16] for i in range(_HEAD_STUDENT_ID, n * w, w)]
        u = raw[:, 24:32].copy().view("<u4").astype(np.uint64)   # two uniform 32-bit draws per event
        names = self._names[(u[:, 0] * len(self._names)) >> 32].tolist()
        bodies = self._bodies[np.searchsorted(self._body_cut, u[:, 1], side="right")].tolist()
        values = list(map(str.__add__, map(str.__add__, heads, names), bodies))
        return keys, values

    def _m_valid(self) -> Message:
        ev = self.student()
        return ("valid", ev["student_id"], events.encode(ev))

    def _m_csv_like(self) -> Message:
        ev = self.student()
        return ("csv_like", ev["student_id"], f"{ev['first_name']},{ev['last_name']},{ev['age']},{ev['major']}")

    def _m_age_key_value(self) -> Message:
        ev = self.student()
        return ("age_key_value", ev["student_id"], f"{ev['first_name']},{ev['last_name']},age:{ev['age']},{ev['major']}")

    def _m_major_spacing_case(self) -> Message:
        ev = self.student()
        r = self.rng
        major = r.choice((str.lower, str.upper, str.title, _mixed_case(r)))(ev["major"])
        if major == ev["major"]:
            major = major.lower() if major != major.lower() else major.upper()
        ev["major"] = " " * r.randint(1, 3) + major + " " * r.randint(0, 3)
        return ("major_spacing_case", ev["student_id"], events.encode(ev))

    def _m_age_as_string(self) -> Message:
        ev = self.student()
        ev["age"] = str(ev["age"])
        return ("age_as_string", ev["student_id"], events.encode(ev))

    def _m_missing_event_id(self) -> Message:
        # Like the original messages: {"first_name": "Claire", "last_name": ..., "age": ..., "major": ...}
        ev = self.student()
        original = {k: ev[k] for k in ("first_name", "last_name", "age", "major")}
        return ("missing_event_id", ev["student_id"], json.dumps(original, ensure_ascii=False))

    def _m_non_student_text(self) -> Message:
        return ("non_student_text", None, self.rng.choice(NON_STUDENT_TEXTS))

    def _m_truncated_json(self) -> Message:
        ev = self.student()
        text = events.encode(ev)
        cut = self.rng.randint(2, len(text) - 2)
        return ("truncated_json", ev["student_id"], text[:cut])

    def _m_empty(self) -> Message:
        return ("empty", None, "")

    def _m_age_out_of_range(self) -> Message:
        ev = self.student()
        r = self.rng
        ev["age"] = r.randint(max(0, self.age_min - 10), self.age_min - 1) if r.random() < 0.5 else \
            r.randint(self.age_max + 1, self.age_max + 60)
        return ("age_out_of_range", ev["student_id"], events.encode(ev))

    def _altered(self, kind: str, **changes: Any) -> Message:
        """A valid student event with fields replaced (a callable is drawn after the event, as the
        random draws always were) or removed (``_DROP``)."""
        ev = self.student()
        for name, value in changes.items():
            if value is _DROP:
                del ev[name]
            else:
                ev[name] = value() if callable(value) else value
        return (kind, ev["student_id"], events.encode(ev))

    def _m_age_negative(self) -> Message:
        return self._altered("age_negative", age=lambda: -self.rng.randint(1, 30))

    def _m_age_not_a_number(self) -> Message:
        return self._altered("age_not_a_number", age=lambda: self.rng.choice(AGE_WORDS))

    def _m_missing_major(self) -> Message:
        return self._altered("missing_major", major=_DROP)

    def _m_missing_age(self) -> Message:
        return self._altered("missing_age", age=_DROP)

    def _m_missing_name(self) -> Message:
        ev = self.student()
        r = self.rng.random()
        for field in (("first_name",) if r < 0.4 else ("last_name",) if r < 0.8 else ("first_name", "last_name")):
            del ev[field]
        return ("missing_name", ev["student_id"], events.encode(ev))

    def _m_unknown_major(self) -> Message:
        return self._altered("unknown_major", major=lambda: self.rng.choice(UNKNOWN_MAJORS))

    def _m_duplicate(self) -> Message:
        _, key, value = self.rng.choice(self._recent)
        return ("duplicate", key, value)


def generate(count: int, seed: int | None = None, *, malformed_rate: float = 0.0, kinds: Iterable[str] | None = None,
             settings=None) -> Iterator[Message]:
    """``count`` messages from a new :class:`Generator` (age bounds and majors from ``settings``)."""
    return for_settings(settings, seed=seed, malformed_rate=malformed_rate, kinds=kinds).messages(count)


def for_settings(settings=None, **kwargs) -> Generator:
    """A Generator using the settings' age bounds and majors seed (default settings if None)."""
    if settings is None:
        from studentflow.core import config
        settings = config.load()
    return Generator(majors=events.load_majors(settings.majors_file), age_min=settings.age_min,
                     age_max=settings.age_max, **kwargs)


def _default_majors() -> tuple[str, ...]:
    from studentflow.core import config
    return events.load_majors(config.load().majors_file)


def _js(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _diff(cw: list[float]) -> list[float]:
    return [b - a for a, b in zip([0.0] + cw[:-1], cw)]


def _mixed_case(r: random.Random):
    flips = [r.random() < 0.5 for _ in range(40)]
    return lambda s: "".join(c.upper() if flips[i % 40] else c.lower() for i, c in enumerate(s))


# Fixed-width head of a valid event; x = random hex, T = timestamp, all replaced per event.
_HEAD_TEXT = ('{"event_id":"xxxxxxxx-xxxx-4xxx-xxxx-xxxxxxxxxxxx","student_id":"xxxxxxxxxxxxxxxx",'
              '"emitted_at":"TTTT-TT-TTTTT:TT:TT.TTTZ","schema_version":1,')
_HEAD = np.frombuffer(_HEAD_TEXT.encode("ascii"), dtype=np.uint8)
_HEAD_EVENT_ID = _HEAD_TEXT.index("xxxxxxxx-")
_HEAD_STUDENT_ID = _HEAD_TEXT.index('"student_id":"') + len('"student_id":"')
_HEAD_EMITTED_AT = _HEAD_TEXT.index("TTTT")
_HEX2 = np.array([ord(f"{b:02x}"[0]) | ord(f"{b:02x}"[1]) << 8 for b in range(256)], dtype="<u2")
_VARIANT_BYTE = np.array([ord("89ab"[(b >> 4) & 3]) for b in range(256)], dtype=np.uint8)
