"""Where are we running? CPython, Pyodide in Node, or Pyodide in a browser (page or Worker).

This is the only module that probes for ``pyodide``/``js``; everything else asks it.
"""

from __future__ import annotations

import sys
from functools import lru_cache

__all__ = [
    "CPYTHON",
    "PYODIDE_BROWSER",
    "PYODIDE_NODE",
    "PYODIDE_WORKER",
    "detect",
    "has_indexeddb",
    "has_module",
    "is_pyodide",
]

CPYTHON = "cpython"
PYODIDE_NODE = "pyodide-node"
PYODIDE_BROWSER = "pyodide-browser"
PYODIDE_WORKER = "pyodide-worker"


def is_pyodide() -> bool:
    return sys.platform == "emscripten"


@lru_cache(maxsize=1)
def detect() -> str:
    """One of the four runtime names above."""
    if not is_pyodide():
        return CPYTHON
    import js  # type: ignore[import-not-found]  # only exists under Pyodide

    process = getattr(js, "process", None)
    if process is not None and getattr(getattr(process, "versions", None), "node", None):
        return PYODIDE_NODE
    if getattr(js, "document", None) is None and getattr(js, "importScripts", None) is not None:
        return PYODIDE_WORKER
    return PYODIDE_BROWSER


def has_module(name: str) -> bool:
    """True if ``name`` can be imported (without importing it)."""
    from importlib.util import find_spec

    try:
        return find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def has_indexeddb() -> bool:
    """True under Pyodide when an ``indexedDB`` global exists (browser, Worker, or Node with
    a polyfill such as fake-indexeddb)."""
    if not is_pyodide():
        return False
    import js  # type: ignore[import-not-found, unused-ignore]

    return getattr(js, "indexedDB", None) is not None
