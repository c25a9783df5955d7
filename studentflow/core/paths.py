"""Where each output lives, derived from the settings' folders."""
from __future__ import annotations

from pathlib import Path

from studentflow.core.config import Settings


def dbt_paths(settings: Settings) -> tuple[Path, Path]:
    """(target_path, log_path) for dbt artifacts of this data folder."""
    base = settings.data_dir / "dbt"
    return base / "target", base / "logs"
