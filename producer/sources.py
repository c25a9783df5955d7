"""Replay sources: a student CSV (French or English headers) and captured traffic, line by line.

Both yield ``(kind, key, value)`` messages like :mod:`producer.generate`.

CSV. Headers are matched case-, accent- and space-insensitively, with small typos tolerated
(``Prénom``, ``prenom``, ``FILLIERE``, ``fillière`` …); the delimiter (``,`` ``;`` or tab) is
sniffed; UTF-8 (with or without BOM) is expected, Windows-1252 is accepted. Each row becomes
one contract event; its ``event_id`` is derived from the seed and the row number, so a replay
of the same file with the same seed sends the same ids (downstream deduplicates them), and the
``student_id`` from the name, so a student keeps one partition. Values are passed on as they
are (trimmed); judging them is the Spark stage's job, so a bad row is sent, not dropped.
"""
from __future__ import annotations

import csv
import difflib
import io
import sys
import unicodedata
from pathlib import Path
from typing import BinaryIO, Iterator

from producer import events
from studentflow.core.errors import DataError

# canonical field -> accepted header spellings (after normalisation: lower case, no accents,
# letters and digits only)
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "first_name": ("prenom", "firstname", "first", "givenname"),
    "last_name": ("nom", "lastname", "last", "surname", "familyname", "nomdefamille"),
    "age": ("age",),
    "major": ("filiere", "major", "specialite", "discipline"),
}
EXPECTED_HEADERS = "prénom,nom,age,filière (French; accents and case optional) or first_name,last_name,age,major"
CSV_SEED_DEFAULT = 0


def normalize_header(name: str) -> str:
    """``" Filière "`` -> ``"filiere"``: lower case, accents removed, only letters and digits kept."""
    decomposed = unicodedata.normalize("NFKD", name.strip().lstrip("\ufeff").casefold())
    return "".join(c for c in decomposed if c.isalnum() and not unicodedata.combining(c))


def map_headers(headers: list[str]) -> dict[str, int]:
    """Canonical field -> column index; DataError naming the expected headers if a field is missing."""
    lookup = {alias: field for field, aliases in HEADER_ALIASES.items() for alias in aliases}
    found: dict[str, int] = {}
    for index, header in enumerate(headers):
        norm = normalize_header(header)
        field = lookup.get(norm)
        if field is None and len(norm) >= 4:   # a typo: "fillière", "prenon", "filiére"
            close = difflib.get_close_matches(norm, lookup, n=1, cutoff=0.8)
            field = lookup[close[0]] if close else None
        if field is not None and field not in found:
            found[field] = index
    missing = [f for f in HEADER_ALIASES if f not in found]
    if missing:
        raise DataError(f"CSV header {','.join(h.strip() for h in headers)!r} is not a student header set "
                        f"(missing {', '.join(missing)}): expected {EXPECTED_HEADERS}",
                        "rename the columns (extra columns are ignored)")
    return found


def _read_text(path: Path | str) -> str:
    raw = sys.stdin.buffer.read() if str(path) == "-" else Path(path).read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252")


def csv_messages(path: Path | str, *, seed: int | None = None, start_ms: int | None = None,
                 text: str | None = None) -> Iterator[tuple[str, str, str]]:
    """One contract event per CSV row, as ``("csv_row", student_id, json)``.

    The file is read and its header checked at once (DataError before anything is sent);
    the rows are converted as they are consumed.
    ``seed`` (default 0) and the row number give the event id; with a seed (or ``start_ms``),
    ``emitted_at`` follows a virtual clock (one millisecond per row) so output is byte-identical.
    """
    try:
        content = _read_text(path) if text is None else text
    except FileNotFoundError:
        raise DataError(f"CSV file {path} does not exist", "check the path") from None
    lines = content.splitlines()
    if not lines or not lines[0].strip():
        raise DataError(f"CSV file {path} is empty (no header line)", f"its first line must be: {EXPECTED_HEADERS}")
    try:
        dialect = csv.Sniffer().sniff(lines[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(content), dialect)
    cols = map_headers(next(reader))   # fails here, before anything is sent
    id_seed = CSV_SEED_DEFAULT if seed is None else seed
    virtual = seed is not None or start_ms is not None
    clock = start_ms if start_ms is not None else events.SEEDED_EPOCH_MS
    return _rows(reader, cols, id_seed, clock if virtual else None)


def _rows(reader, cols: dict[str, int], id_seed: int, clock: int | None) -> Iterator[tuple[str, str, str]]:
    width = max(cols.values()) + 1
    for row_number, row in enumerate(reader, start=1):
        if not any(cell.strip() for cell in row):
            continue   # blank line
        row = row + [""] * (width - len(row))
        first, last, age, major = (row[cols[f]].strip() for f in ("first_name", "last_name", "age", "major"))
        event = {"event_id": events.deterministic_uuid("studentflow-csv", id_seed, row_number),
                 "student_id": events.stable_student_id(first, last),
                 "emitted_at": events.iso_utc(events.now_ms() if clock is None else clock + row_number - 1),
                 "schema_version": events.SCHEMA_VERSION}
        for field, value in (("first_name", first), ("last_name", last), ("age", _age(age)), ("major", major)):
            if value != "":
                event[field] = value   # an empty cell becomes a missing field (quarantined downstream)
        yield ("csv_row", event["student_id"], events.encode(event))


def _age(text: str):
    """``"22"`` -> 22; anything else is passed on as text for the downstream verdict."""
    try:
        return int(text)
    except ValueError:
        return text


def file_messages(path: Path | str, stream: BinaryIO | None = None) -> Iterator[tuple[str, None, bytes]]:
    """Each line of a file (``-``: standard input) verbatim, as ``("verbatim", None, bytes)``.

    Only the line ending (``\\n`` or ``\\r\\n``) is removed; an empty line is an empty message.
    The file is opened at once (DataError if it does not exist), read as it is consumed.
    """
    if stream is None and str(path) == "-":
        stream = sys.stdin.buffer
    if stream is not None:
        return _lines(stream, close=False)
    try:
        return _lines(open(path, "rb"), close=True)
    except (FileNotFoundError, IsADirectoryError):
        raise DataError(f"file {path} does not exist or is not a file", "check the path") from None


def _lines(stream: BinaryIO, *, close: bool) -> Iterator[tuple[str, None, bytes]]:
    try:
        for line in stream:
            if line.endswith(b"\n"):
                line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
            yield ("verbatim", None, line)
    finally:
        if close:
            stream.close()
