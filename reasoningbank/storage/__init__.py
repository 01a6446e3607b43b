"""Where banks live: the default location per runtime, and the store for a location.

Why here: choosing a backend is the storage layer's job; the bank only asks for a store.
"""

from __future__ import annotations

import os

from .. import runtime
from ..errors import InvalidPattern
from .base import Store

__all__ = ["default_location", "open_store"]


def default_location() -> str:
    """Where ``ReasoningBank.open()`` with no argument keeps the bank.

    CPython: ``$REASONINGBANK_DB``, else ``<user data dir>/reasoningbank/bank.db``.
    Browser or Worker: ``idb://reasoningbank``. Pyodide in Node: IndexedDB when the global
    exists (e.g. fake-indexeddb), else memory.
    """
    env = os.environ.get("REASONINGBANK_DB")
    if env:
        return env
    rt = runtime.detect()
    if rt in (runtime.PYODIDE_BROWSER, runtime.PYODIDE_WORKER):
        return "idb://reasoningbank"
    if rt == runtime.PYODIDE_NODE:
        return "idb://reasoningbank" if runtime.has_indexeddb() else ":memory:"
    if os.name == "nt":
        base = os.environ.get("APPDATA") or os.path.expanduser("~")
    elif os.uname().sysname == "Darwin":
        base = os.path.expanduser("~/Library/Application Support")
    else:
        base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(base, "reasoningbank", "bank.db")


async def open_store(
    location: str, backend: str | None, durability: str, create: bool
) -> tuple[Store, str | None]:
    """Pick the store for ``location``; returns it and a note when it had to fall back."""
    if backend not in (None, "sqlite", "memory", "idb"):
        raise InvalidPattern(f"unknown backend {backend!r}; use 'sqlite', 'memory' or 'idb'")
    kind = backend or (
        "idb" if location.startswith("idb://") else "memory" if location == ":memory:" else "sqlite"
    )
    if kind == "idb":
        name = location[len("idb://") :] if location.startswith("idb://") else location
        try:
            from .idb import open_idb_store

            return await open_idb_store(name or "reasoningbank"), None
        except ImportError as exc:
            from .memory import MemoryStore

            return MemoryStore(), f"IndexedDB unavailable ({exc}); using memory"
    if kind == "memory":
        from .memory import MemoryStore

        return MemoryStore(), None
    from .sqlite import SqliteStore

    if create and location == default_location():  # a first run on a fresh machine
        os.makedirs(os.path.dirname(os.path.abspath(location)), exist_ok=True)
    return SqliteStore.open(location, durability=durability, create=create), None
