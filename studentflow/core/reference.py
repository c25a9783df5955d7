"""The reference data, read in one place: canonical majors and their aliases (the dbt seeds).

``dbt_project/seeds/majors.csv`` (column ``major``) and ``major_aliases.csv`` (``alias,major``)
are the one source of truth: the producer draws majors from them, Spark folds and maps with
:class:`Reference`, dbt seeds them and the Great Expectations value set is :func:`load_majors`.
Keys are compared folded (case, accents, spaces) by :func:`fold_text`.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from studentflow.core.errors import ConfigError

# --- folding (spark_jobs.folding.fold is the Spark twin: same table, so keys always match) ---
_FOLD_GROUPS = {
    "a": "àáâãäåāăąæ", "c": "çćč", "d": "ďđ", "e": "èéêëēėęě", "i": "ìíîïīįı", "n": "ñńň",
    "o": "òóôõöøōőœ", "r": "ŕř", "s": "śšşß", "t": "ť", "u": "ùúûüūůűų", "y": "ýÿ", "z": "źżž",
    " ": "\t\n\x0b\x0c\r\u00a0",  # other whitespace becomes a plain space
}
# translate(): a char of FROM without a counterpart in TO is deleted -> combining marks
# (U+0300..U+036F, accents of decomposed text) go last in FROM, with no counterpart.
FOLD_FROM = "".join(_FOLD_GROUPS.values()) + "".join(chr(c) for c in range(0x300, 0x370))
FOLD_TO = "".join(plain * len(chars) for plain, chars in _FOLD_GROUPS.items())
_TABLE = {ord(a): (FOLD_TO[i] if i < len(FOLD_TO) else None) for i, a in enumerate(FOLD_FROM)}


def fold_text(text: str) -> str:
    """Python twin of ``spark_jobs.folding.fold``: lower case, accents off, whitespace collapsed and trimmed."""
    return re.sub(" +", " ", text.lower().translate(_TABLE)).strip(" ")


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
    majors = [r["major"] or "" for r in read_rows(majors_file, ("major",))]
    aliases = [(r["alias"] or "", r["major"] or "") for r in read_rows(aliases_file, ("alias", "major"))]
    return Reference.build(majors, aliases)


def read_rows(path: Path | str, needed: tuple[str, ...]) -> list[dict[str, str]]:
    """The rows of a seed CSV (UTF-8, a byte-order mark allowed) that must have ``needed`` columns."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in needed if c not in (reader.fieldnames or [])]
            if missing:
                raise ConfigError(f"{path} has no column {', '.join(missing)}",
                                  f"the file needs a header line with: {','.join(needed)} "
                                  f"(no `{missing[0]}` column found)")
            return list(reader)
    except FileNotFoundError:
        raise ConfigError(f"reference file {path} does not exist",
                          "restore it from git or point STUDENTFLOW_MAJORS_FILE / "
                          "STUDENTFLOW_MAJOR_ALIASES_FILE at it") from None


@lru_cache(maxsize=8)
def _majors_cached(path: str, mtime: float) -> tuple[str, ...]:
    return tuple(r["major"].strip() for r in read_rows(path, ("major",)) if (r.get("major") or "").strip())


def load_majors(path: Path | str) -> tuple[str, ...]:
    """Canonical majors from the seed file (column ``major``), in file order."""
    p = Path(path)
    try:
        majors = _majors_cached(str(p), p.stat().st_mtime)
    except FileNotFoundError:
        read_rows(p, ("major",))   # raises the one "does not exist" error
        raise
    if not majors:
        raise ConfigError(f"majors file {p} lists no major", "add the canonical majors, one a line")
    return majors


def load_aliases(path: Path | str) -> dict[str, str]:
    """Alias -> canonical major as written in the file (``alias,major``); empty if it does not exist."""
    if not Path(path).is_file():
        return {}
    return {r["alias"].strip(): (r["major"] or "").strip() for r in read_rows(path, ("alias", "major")) if r.get("alias")}
