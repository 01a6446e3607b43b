"""IndexedDB storage for ReasoningBank under Pyodide (browser page, Worker, or Node with an
``indexedDB`` global such as fake-indexeddb). Importable under CPython; opening a store
needs Pyodide."""

from .store import IdbStore, delete_database, open_idb_store

__all__ = ["IdbStore", "delete_database", "open_idb_store"]
