"""Jinja2 rendering of the report blocks: markdown (rapport.md) and HTML (the local page).

Both formats render the blocks built by sections.py with a template in templates/; Jinja2 is
installed with dbt. Markdown escapes ``|`` in table cells; HTML escapes everything and turns
inline ``code`` and **bold** into tags.
"""
from __future__ import annotations

import html
import re
from functools import lru_cache
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "templates"
_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")


def md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def inline(text: str):
    from markupsafe import Markup

    escaped = html.escape(str(text), quote=False)
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
    env.filters.update(md_cell=md_cell, inline=inline, slug=slug)
    return env


def markdown(blocks: list[dict]) -> str:
    text = _env(False).get_template("report.md.j2").render(blocks=blocks)
    return text.rstrip("\n") + "\n"


def page(**context) -> str:
    return _env(True).get_template("page.html.j2").render(**context)
