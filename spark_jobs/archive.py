"""`python -m spark_jobs.archive`: build the Spark driver's class-data archive (run by `make setup`).

A normalize of a few generated lines in a JVM that records the classes it loaded, at exit, into
``session.CDS_ARCHIVE``; later Spark JVMs map that archive and start faster (see session.py).
"""
from __future__ import annotations

import os
from pathlib import Path

from spark_jobs.session import CDS_ARCHIVE


def build_archive() -> Path:
    """Normalize a few generated lines in a JVM that records its classes into CDS_ARCHIVE at exit."""
    import tempfile

    from spark_jobs.job import run_normalize
    from core import config

    CDS_ARCHIVE.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sf-cds-") as tmp:
        root = Path(tmp)
        (root / "staging").mkdir()
        lines = ['{"event_id":"00000000-0000-4000-8000-%012d","student_id":"S%d","first_name":"Léa",'
                 '"last_name":"Martin","age":%d,"major":"Chimie","emitted_at":"2026-11-27T10:00:00Z",'
                 '"schema_version":1}' % (i, i, 18 + i % 30) for i in range(200)]
        lines += ["Alice,Dupont,22,Informatique", "hello kafka", "Bob,Martin,age:19,Physique", ""]
        (root / "staging" / "students.raw.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        settings = config.load(data_dir=str(root), state_dir=str(root / "state"),
                               staging_dir=str(root / "staging"), warehouse=str(root / "w.db"))
        os.environ["STUDENTFLOW_CDS_TRAINING"] = str(CDS_ARCHIVE)
        try:
            run_normalize(settings, progress=lambda _m: None)   # releases the JVM: the archive is written
        finally:
            os.environ.pop("STUDENTFLOW_CDS_TRAINING", None)
    return CDS_ARCHIVE




if __name__ == "__main__":
    print(f"[setup] Spark class-data archive: {build_archive()}")
