"""expectations/gx_import.py: Great Expectations imported without SciPy's statistics, Altair and
PySpark, which the gate never uses; each still there, whole, for whoever uses it. Each case runs in
a new interpreter, the only place where a first import can be seen."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from expectations import gx_import

REPO = Path(__file__).resolve().parents[2]


def _python(code: str) -> str:
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def test_gx_comes_without_scipy_stats_altair_or_pyspark_and_each_loads_whole_on_first_use():
    out = _python("""
        import sys
        from expectations.gx_import import import_gx
        gx = import_gx()
        print(sorted(n for n in ("scipy.stats", "altair", "pyspark") if type(sys.modules.get(n)).__name__ == "module"))
        print(callable(gx.expectations.ExpectColumnValuesToBeBetween), import_gx() is gx)
        from scipy import stats
        import altair
        print(round(stats.entropy([0.5, 0.5], [0.9, 0.1]), 4), altair.Chart.__name__)
        print(type(sys.modules["scipy.stats"]).__name__, type(sys.modules["altair"]).__name__)
        import pyspark.ml.feature
        print(pyspark.ml.feature.Bucketizer.__name__)
    """).splitlines()
    assert out[0] == "[]"                 # none of the three imported for real by GX's import
    assert out[1] == "True True"
    assert out[2] == "0.5108 Chart"       # the stand-ins give the real modules' names
    assert out[3] == "module module"      # and leave the real modules in sys.modules
    assert out[4] == "Bucketizer"         # PySpark is hidden for GX's import only


def test_pyspark_is_hidden_from_the_importing_thread_only():
    finder = gx_import._HiddenFrom(threading.get_ident())
    with pytest.raises(ModuleNotFoundError, match="hidden from Great Expectations"):
        finder.find_spec("pyspark.ml", None)
    assert finder.find_spec("pandas", None) is None
    seen: list[object] = []
    other = threading.Thread(target=lambda: seen.append(finder.find_spec("pyspark.ml", None)))
    other.start()
    other.join()
    assert seen == [None]   # another thread's import goes on to the real finders
