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
    """Case/accent/space folding of a string column with built-ins only (no UDF)."""
    from pyspark.sql import functions as F

    c = F.trim(F.translate(F.lower(col), FOLD_FROM, FOLD_TO))
    return F.when(c.contains("  "), F.regexp_replace(c, " +", " ")).otherwise(c)
