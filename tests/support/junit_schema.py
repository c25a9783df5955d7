"""The Jenkins/Ant JUnit schema (tests/schemas/junit-10.xsd) and a check of a file against it."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from functools import lru_cache
from pathlib import Path

SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "junit-10.xsd"


@lru_cache(maxsize=1)
def _schema():
    import xmlschema

    return xmlschema.XMLSchema(str(SCHEMA))


def validated(path_or_bytes: Path | bytes) -> ET.Element:
    """Parse a JUnit XML document after validating it against the schema (raises if it is not valid)."""
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    root = ET.fromstring(data)
    _schema().validate(data.decode("utf-8"))
    return root


def cases(root: ET.Element) -> dict[str, ET.Element]:
    """Test cases by 'classname::name'."""
    return {f"{c.get('classname')}::{c.get('name')}": c for c in root.iter("testcase")}
