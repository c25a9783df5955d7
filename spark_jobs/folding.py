"""Case/accent/space folding of a Spark column: the twin of ``studentflow.core.reference.fold_text``.

Both use the one translation table of studentflow/core/reference.py, so a key folded in Spark
always matches the same key folded in Python. Pure Python at module load (no Spark import).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from studentflow.core.reference import FOLD_FROM, FOLD_TO

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column


def fold(col: "Column") -> "Column":
    """Case/accent/space folding of a string column with built-ins only (no UDF).

    ``col`` appears once: fold sits inside bigger expressions (a key of a key:value part, a major),
    and an argument written three times (a regexp only where a run of spaces is) multiplied the
    plan the server analyzes for every query and the generated code of its one stage."""
    from pyspark.sql import functions as F

    return F.regexp_replace(F.trim(F.translate(F.lower(col), FOLD_FROM, FOLD_TO)), "  +", " ")
