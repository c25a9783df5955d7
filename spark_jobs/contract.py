"""The producer/Spark contract as data: rules, reasons, fields, major folding, reference data.

Pure Python (no Spark import at module load): the transform steps (normalize.py), the write edge,
the benchmarks and the tests read these names from here, so each fact lives in one place.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from studentflow.core.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column

# --- the contract -----------------------------------------------------------------------------
RULES = ("json_strict", "json_loose", "csv", "key_value")
REASONS = (
    "empty", "not_json_or_csv", "invalid_json", "missing_name", "missing_age", "age_not_a_number",
    "age_out_of_range", "missing_major", "unknown_major", "conflicting_duplicate", "invalid_encoding",
)
# Connect's StringConverter decodes message bytes as UTF-8 and puts U+FFFD where a byte was not
# valid UTF-8 (so does this project's reader for staging bytes): such a line lost its original
# text on the way, and lands in quarantine as invalid_encoding rather than as a corrupted name.
REPLACEMENT_CHAR = "\ufffd"
# A CSV header line (a drop file's first line, streamed by the source connector) is neither a
# student nor an error: verdict `header`, counted, written to neither table. Compared folded
# (case, accents, spaces) after a byte-order mark is dropped.
CSV_HEADERS = ("prenom,nom,age,filiere", "first_name,last_name,age,major")
VERDICTS = ("clean", "quarantine", "duplicate", "header")
CONTRACT_FIELDS = ("event_id", "student_id", "first_name", "last_name", "age", "major",
                   "emitted_at", "schema_version")
# JSON keys accepted by json_loose besides the contract's (the original French CSV headers).
JSON_ALIASES = {"first_name": ("prénom", "prenom"), "last_name": ("nom",), "major": ("filière", "filiere")}
# keys recognised in key:value fragments (compared after folding case and accents)
KV_KEYS = {
    "first_name": ("first_name", "firstname", "first name", "prenom"),
    "last_name": ("last_name", "lastname", "last name", "nom", "name"),
    "age": ("age",),
    "major": ("major", "filiere", "field"),
}
MAX_KV_PARTS = 6
CLEAN_COLUMNS = ("event_id", "student_id", "first_name", "last_name", "age", "major", "emitted_at",
                 "schema_version", "rule", "source_file", "line_number", "run_id")
# What "the same content" means for two rows with one event_id (else: conflicting_duplicate).
CONTENT_COLUMNS = ("student_id", "first_name", "last_name", "age", "major", "emitted_at")
CONFLICT_DETAIL = "event_id {event_id} already seen with other content at {first_at}"
QUARANTINE_COLUMNS = ("raw_line", "reason", "detail", "source_file", "line_number", "run_id")

# --- folding (identical in Spark and in Python, so reference keys always match) --------------
_FOLD_GROUPS = {
    "a": "àáâãäåāăąæ", "c": "çćč", "d": "ďđ", "e": "èéêëēėęě", "i": "ìíîïīįı", "n": "ñńň",
    "o": "òóôõöøōőœ", "r": "ŕř", "s": "śšşß", "t": "ť", "u": "ùúûüūůűų", "y": "ýÿ", "z": "źżž",
    " ": "\t\n\x0b\x0c\r\u00a0",  # other whitespace becomes a plain space
}
# translate(): a char of FROM without a counterpart in TO is deleted -> combining marks
# (U+0300..U+036F, accents of decomposed text) go last in FROM, with no counterpart.
_FROM = "".join(_FOLD_GROUPS.values()) + "".join(chr(c) for c in range(0x300, 0x370))
_TO = "".join(plain * len(chars) for plain, chars in _FOLD_GROUPS.items())
_TABLE = {ord(a): (_TO[i] if i < len(_TO) else None) for i, a in enumerate(_FROM)}


def fold_text(text: str) -> str:
    """Python twin of :func:`fold`: lower case, accents off, whitespace collapsed and trimmed."""
    return re.sub(" +", " ", text.lower().translate(_TABLE)).strip(" ")


def fold(col: "Column") -> "Column":
    """Case/accent/space folding of a string column with built-ins only (no UDF)."""
    from pyspark.sql import functions as F

    c = F.trim(F.translate(F.lower(col), _FROM, _TO))
    return F.when(c.contains("  "), F.regexp_replace(c, " +", " ")).otherwise(c)


# --- reference data -------------------------------------------------------------------------
@dataclass(frozen=True)
class Reference:
    """Canonical majors and the folded-key -> canonical major map (aliases included)."""

    majors: tuple[str, ...]
    keys: tuple[tuple[str, str], ...]   # (folded key, canonical major), keys unique

    @classmethod
    def build(cls, majors: list[str], aliases: list[tuple[str, str]]) -> "Reference":
        canon = [m.strip() for m in majors if m.strip()]
        if not canon:
            raise ConfigError("the majors reference is empty", "add the canonical majors to the majors seed file")
        mapping: dict[str, str] = {}
        for m in canon:
            mapping[fold_text(m)] = m
        for alias, target in aliases:
            alias, target = alias.strip(), target.strip()
            if not alias:
                continue
            canonical = mapping.get(fold_text(target))
            if canonical is None or canonical not in canon:
                raise ConfigError(f"alias {alias!r} maps to {target!r}, which is not a canonical major",
                                  f"use one of: {', '.join(canon)} (majors seed file)")
            key = fold_text(alias)
            if mapping.get(key, canonical) != canonical:
                raise ConfigError(f"alias {alias!r} maps to {canonical!r} but already means {mapping[key]!r}",
                                  "remove the conflicting line from the aliases seed file")
            mapping[key] = canonical
        return cls(tuple(canon), tuple(sorted(mapping.items())))


def load_reference(majors_file: Path, aliases_file: Path) -> Reference:
    """Read the dbt seeds (``major`` column; ``alias,major`` columns)."""
    def rows(path: Path, needed: tuple[str, ...]) -> list[dict[str, str]]:
        try:
            with open(path, newline="", encoding="utf-8-sig") as fh:
                reader = csv.DictReader(fh)
                missing = [c for c in needed if c not in (reader.fieldnames or [])]
                if missing:
                    raise ConfigError(f"{path} has no column {', '.join(missing)}",
                                      f"the file needs a header line with: {','.join(needed)}")
                return list(reader)
        except FileNotFoundError:
            raise ConfigError(f"reference file {path} does not exist",
                              "restore it from git or point STUDENTFLOW_MAJORS_FILE / "
                              "STUDENTFLOW_MAJOR_ALIASES_FILE at it") from None

    majors = [r["major"] or "" for r in rows(majors_file, ("major",))]
    aliases = [(r["alias"] or "", r["major"] or "") for r in rows(aliases_file, ("alias", "major"))]
    return Reference.build(majors, aliases)
