"""The ``Store`` protocol: the only thing the bank needs from a storage backend.

A store persists records; it does no ranking and no learning. The bank loads every record
once on open (``load``) and keeps its indexes in memory, so a store only has to be good at
bulk load, transactional upsert, and point reads. Every method is async because the
IndexedDB backend can only answer through JS promises; SQLite and memory answer at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["Changes", "Columns", "Record", "Store"]


@dataclass(slots=True)
class Record:
    """One stored pattern.

    ``body`` is the pattern JSON without its embedding (a dict, or its JSON text); ``terms`` the analysed tokens of its
    task description (so opening a bank never re-tokenises); ``embedding`` the dense vector,
    if any, kept compact (a float32 ``array`` under the hood of each backend). ``rowid``:
    where a store that numbers its rows (SQLite) holds it, 0 when not stored (or not
    numbered); a write sets it on the records it stores.
    """

    id: str
    task_category: str
    strategy: str
    created_at: float
    updated_at: float
    body: dict[str, Any] | str
    terms: Sequence[str] = field(default_factory=list)
    embedding: Sequence[float] | None = None
    rowid: int = 0


@dataclass(slots=True)
class Columns:
    """A whole bank as columns, oldest first: what a store that can (SQLite) hands the bank
    on open instead of one ``Record`` per row. ``embedding`` maps a row's position to its
    vector (rows without one are absent); ``body`` is None where the store left it out
    (``SqliteStore.load_columns(bodies=False)``); ``rowids`` as ``Record.rowid`` (None:
    not numbered). Why: opening 100,000 patterns spent most of its time building and
    unpacking per-row objects."""

    ids: list[str]
    task_category: list[str]
    strategy: list[str]
    created_at: list[float]
    updated_at: list[float]
    body: list[str | None]
    terms: list[tuple[str, ...]]
    embedding: dict[int, Sequence[float]]
    rowids: Sequence[int] | None = None


@dataclass(slots=True)
class Changes:
    """What other writers did since the last ``changes()`` call (multi-process banks)."""

    upserted: list[Record]
    deleted: list[str]


@runtime_checkable
class Store(Protocol):
    """Persistence backend. Implementations translate their own errors to ``StorageError``."""

    #: "memory", "sqlite" or "idb": reported by ``ReasoningBank.get_stats()``.
    kind: str
    #: Where the data lives, for humans (a path, ``idb://name`` or ``:memory:``).
    location: str

    async def load(self) -> Iterable[Record]:
        """Every record, in insertion order: a list, or a generator that streams them.
        ``embedding`` may be any float sequence; a float32 ``array('f')`` is best."""
        ...

    async def put(self, records: list[Record], delete: Sequence[str] = ()) -> None:
        """Insert or replace ``records`` and remove ``delete`` ids in one transaction:
        all of it lands or none of it does."""
        ...

    async def get(self, pattern_id: str) -> Record | None: ...

    async def delete(self, ids: list[str]) -> None:
        """Remove ``ids`` in one transaction; unknown ids are ignored."""
        ...

    async def by_category(self, category: str, limit: int) -> list[Record]:
        """Newest first (by ``created_at``), at most ``limit``."""
        ...

    async def count(self) -> int: ...

    async def get_meta(self, key: str) -> str | None: ...

    async def set_meta(self, key: str, value: str) -> None: ...

    async def changes(self) -> Changes | None:
        """Writes by *other* connections since the last call, or ``None`` if there are none
        (none happened, or none can)."""
        ...

    def write_lock(self) -> AbstractAsyncContextManager[None]:
        """Hold the bank's exclusive write lock across processes (or tabs).

        While it is held no other writer commits, and ``changes()`` reports every commit
        made before it was taken (no cached shortcut); what is written inside lands together.
        Why: the bank re-reads inside it, so a read-modify-write (an outcome, a merge) can
        never overwrite another process's acknowledged write.
        """
        ...

    async def close(self) -> None: ...
