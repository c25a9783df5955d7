"""Jinja2 rendering of the report blocks: markdown (rapport.md) and HTML (the local page).

Both formats render the blocks built by sections.py with a template in templates/; Jinja2 is
installed with dbt. A block's text is the report's own markup (inline ``code`` and **bold**):
markdown keeps it, escaping ``|`` in table cells; HTML escapes everything and turns the markup
into tags. A block marked ``lit`` (a value from the warehouse or a project file) is plain text:
markdown backslash-escapes its punctuation, HTML escapes it and nothing more.
"""
from __future__ import annotations

import html
import re
from functools import lru_cache
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "templates"
_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")
# what markdown could read as emphasis, code, a link, raw HTML, an entity, a table cell's end ...
_MD_PUNCTUATION = re.compile(r"([\\`*_{}\[\]<>#+!|~&])")
_MD_BULLET = re.compile(r"^([-=])")           # at a line's start: a list item, a setext underline
_MD_NUMBERED = re.compile(r"^(\d+)([.)])")   # at a line's start: a numbered item


def md_literal(text: str, line: bool = True) -> str:
    """Plain text as markdown that shows exactly it, on one line (``line``: starting one; a table
    cell does not)."""
    escaped = _MD_PUNCTUATION.sub(r"\\\1", " ".join(str(text).split()))
    return _MD_NUMBERED.sub(r"\1\\\2", _MD_BULLET.sub(r"\\\1", escaped)) if line else escaped


def md_text(text: str, literal: bool = False) -> str:
    return md_literal(text) if literal else str(text)


def md_cell(text: str, literal: bool = False) -> str:
    if literal:
        return md_literal(text, line=False)
    return str(text).replace("|", "\\|").replace("\n", " ")


def inline(text: str, literal: bool = False):
    from markupsafe import Markup

    escaped = html.escape(str(text), quote=False)
    if literal:
        return Markup(escaped)
    escaped = _CODE.sub(r"<code>\1</code>", escaped)
    return Markup(_BOLD.sub(r"<strong>\1</strong>", escaped))


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")


@lru_cache(maxsize=2)
def _env(autoescape: bool):
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=autoescape,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    env.filters.update(md_cell=md_cell, md_text=md_text, inline=inline, slug=slug)
    return env


def markdown(blocks: list[dict]) -> str:
    text = _env(False).get_template("report.md.j2").render(blocks=blocks)
    return text.rstrip("\n") + "\n"


def page(**context) -> str:
    return _env(True).get_template("page.html.j2").render(**context)
