"""IndexedDB store (Pyodide only). The implementation lives in the ``storage_idb`` package."""

from __future__ import annotations

from .. import runtime
from .base import Store

__all__ = ["open_idb_store"]


async def open_idb_store(name: str) -> Store:
    """Open the IndexedDB database behind ``idb://name``.

    Raises ``ImportError`` where there is no IndexedDB (CPython, or Node without an
    ``indexedDB`` global) so that the bank can fall back to memory and say so.
    """
    if not runtime.has_indexeddb():
        raise ImportError(f"IndexedDB is not available in this runtime ({runtime.detect()})")
    from storage_idb import open_idb_store as _open

    return await _open(name)
