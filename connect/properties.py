"""A ``.properties`` reader that reads what ``java.util.Properties.load`` reads.

The Connect worker resolves ``${file:PATH:KEY}`` with Kafka's ``FileConfigProvider``, which
loads PATH with ``java.util.Properties`` (read as UTF-8); ``connect validate`` checks the same
references before anything is posted, so it must find the same keys and values:

- a key ends at the first unescaped ``=``, ``:`` or whitespace; whitespace around the separator
  is skipped, so ``key=value``, ``key = value``, ``key: value`` and ``key value`` are the same
  pair; the value keeps its trailing whitespace; an empty key or value is allowed;
- a line whose first non-blank character is ``#`` or ``!`` is a comment; blank lines are skipped;
- a line ending in an odd number of backslashes continues on the next line, whose leading
  whitespace is dropped (a comment line never continues);
- escapes: ``\\t \\n \\r \\f``, ``\\uXXXX``; a backslash before any other character stands for
  that character (``\\=``, ``\\:``, ``\\ ``, ``\\#``, ``\\\\``); the last value of a repeated key wins.
"""
from __future__ import annotations

import re
from pathlib import Path

_BLANK = " \t\f"
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


class PropertiesError(ValueError):
    """Text ``java.util.Properties`` refuses (a malformed ``\\uXXXX``): message with the line."""


def load(path: Path, encoding: str = "utf-8") -> dict[str, str]:
    """The properties of a file; UTF-8 as Kafka's FileConfigProvider reads it (``latin-1`` for
    ``Properties.load(InputStream)``). OSError and UnicodeDecodeError are left to the caller."""
    return loads(path.read_bytes().decode(encoding))


def loads(text: str) -> dict[str, str]:
    """The key/value pairs of a ``.properties`` document, as ``java.util.Properties.load``."""
    out: dict[str, str] = {}
    for number, line in _logical_lines(text):
        key, value = _split(line)
        try:
            out[_unescape(key)] = _unescape(value)
        except PropertiesError as exc:
            raise PropertiesError(f"line {number}: {exc}") from None
    return out


def _logical_lines(text: str):
    """(first line number, logical line) pairs: comments and blank lines dropped, continued lines
    joined, leading whitespace removed. A continued line with nothing before its backslash is no
    line at all, unless the file ends right there (then it is an empty key), as in Java."""
    parts = re.split(r"(\r\n|\r|\n)", text)
    lines, ends = parts[0::2], parts[1::2] + [""]
    i = 0
    while i < len(lines):
        number, line = i + 1, lines[i].lstrip(_BLANK)
        i += 1
        if not line or line[0] in "#!":
            continue
        while _continues(line):
            line = line[:-1]
            if i == len(lines) or (i == len(lines) - 1 and not lines[i] and ends[i - 1] != "\r\n"):
                i = len(lines)   # the file ends here: Java keeps what it has
                break
            if not line:
                break            # still the start of a logical line: the next line starts afresh
            line += lines[i].lstrip(_BLANK)
            i += 1
        else:
            yield number, line
            continue
        if line or i == len(lines):
            yield number, line


def _continues(line: str) -> bool:
    """True when the line ends in an odd number of backslashes."""
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1


def _split(line: str) -> tuple[str, str]:
    """(raw key, raw value): the key ends at the first unescaped ``=``, ``:`` or whitespace."""
    end, escaped = 0, False
    while end < len(line):
        c = line[end]
        if not escaped and (c in "=:" or c in _BLANK):
            break
        escaped = c == "\\" and not escaped
        end += 1
    start, separator = end, False
    if start < len(line) and line[start] in "=:":
        start, separator = start + 1, True
    while start < len(line) and line[start] in _BLANK:
        start += 1
    if not separator and start < len(line) and line[start] in "=:":
        start += 1
        while start < len(line) and line[start] in _BLANK:
            start += 1
    return line[:end], line[start:]


def _unescape(raw: str) -> str:
    if "\\" not in raw:
        return raw
    out, i = [], 0
    while i < len(raw):
        c = raw[i]
        if c != "\\" or i + 1 == len(raw):
            out.append(c if c != "\\" else "")
            i += 1
            continue
        c = raw[i + 1]
        if c == "u":
            digits = raw[i + 2:i + 6]
            if len(digits) != 4 or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise PropertiesError(f"malformed \\uxxxx escape: \\u{digits}")
            out.append(chr(int(digits, 16)))
            i += 6
        else:
            out.append(_ESCAPES.get(c, c))
            i += 2
    return "".join(out)
