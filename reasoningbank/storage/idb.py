"""IndexedDB store (Pyodide only). The implementation lives in the ``storage_idb`` package."""

from __future__ import annotations

from .base import Store

__all__ = ["open_idb_store"]


async def open_idb_store(name: str) -> Store:
    """Open the IndexedDB database behind ``idb://name``."""
    from storage_idb import open_idb_store as _open

    return await _open(name)
