"""Import Great Expectations without the parts of it the gate never uses.

``import great_expectations`` imports every expectation it ships, and with them SciPy's statistics
and Altair (for the KL-divergence expectation's test and charts), and PySpark when it is installed
(for GX's Spark data sources): about 4.3 CPU-seconds in a new process, of which those three are
about 1.8 (``python -X importtime``). Every process that gates pays it: a `run`, the quality
worker, the follow loop's checker. The gate reads SQLite through SQLAlchemy and uses none of them.

So, before the first import of GX in a process:

- ``scipy.stats`` and ``altair`` are put in ``sys.modules`` as stand-ins that import the real
  module on first use of any of their names (the modules that name them at import only keep a
  reference). A process that does use them gets the real modules, a fraction of a second later.
- PySpark is hidden from the thread that imports GX, for that import only: GX's compatibility layer
  then records it as not installed, as it does on a machine without it. Other threads (a `run`'s
  Spark client) import PySpark as usual, meanwhile and after.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import threading
import types
from typing import Any

DEFERRED = ("scipy.stats", "altair")   # imported at GX's import, used by expectations the gate has not
HIDDEN = "pyspark"                      # GX's optional Spark support

_lock = threading.RLock()   # a real module's import may read another stand-in


class _OnFirstUse(types.ModuleType):
    """A stand-in for a module: the real one is imported when a name is first read from it."""

    def __getattr__(self, name: str) -> Any:
        real = self.__dict__.get("_real")
        if real is None:
            with _lock:
                real = self.__dict__.get("_real")
                if real is None:
                    if sys.modules.get(self.__name__) is self:
                        del sys.modules[self.__name__]   # so that the import below finds the real one
                    real = importlib.import_module(self.__name__)
                    self.__dict__["_real"] = real
        return getattr(real, name)


def _defer(name: str) -> None:
    if name in sys.modules:
        return
    stand_in = _OnFirstUse(name)
    stand_in.__spec__ = importlib.machinery.ModuleSpec(name, None)
    sys.modules[name] = stand_in
    parent, _, child = name.rpartition(".")
    if parent:   # `from scipy import stats` reads the package's attribute
        setattr(importlib.import_module(parent), child, stand_in)


class _HiddenFrom(importlib.abc.MetaPathFinder):
    """Not found, for one thread's imports of ``HIDDEN`` and its submodules."""

    def __init__(self, thread: int) -> None:
        self.thread = thread

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if threading.get_ident() == self.thread and (fullname == HIDDEN or fullname.startswith(HIDDEN + ".")):
            raise ModuleNotFoundError(f"No module named {fullname!r} (hidden from Great Expectations)", name=fullname)
        return None


def import_gx() -> types.ModuleType:
    """``great_expectations`` (with ``great_expectations.expectations``), imported as above on the
    first call in a process and returned as is after."""
    module = sys.modules.get("great_expectations")
    if module is not None and "great_expectations.expectations" in sys.modules:
        return module
    with _lock:
        for name in DEFERRED:
            _defer(name)
        hide = _HiddenFrom(threading.get_ident())
        sys.meta_path.insert(0, hide)
    try:
        import great_expectations
        import great_expectations.expectations  # noqa: F401
    finally:
        sys.meta_path.remove(hide)
    return great_expectations
