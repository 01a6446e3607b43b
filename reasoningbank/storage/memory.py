"""In-memory store (``":memory:"``): the reference implementation of the Store protocol.

Records are kept as given: the bank builds a fresh ``Record`` for every write and never
mutates one afterwards, so no defensive copies are needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager, nullcontext

from .base import Changes, Record

__all__ = ["MemoryStore"]


class MemoryStore:
    kind = "memory"
    location = ":memory:"

    def __init__(self) -> None:
        self._records: dict[str, Record] = {}
        self._meta: dict[str, str] = {}

    async def load(self) -> list[Record]:
        return list(self._records.values())

    async def put(self, records: list[Record], delete: Sequence[str] = ()) -> None:
        self._records.update((r.id, r) for r in records)
        for pid in delete:
            self._records.pop(pid, None)

    async def get(self, pattern_id: str) -> Record | None:
        return self._records.get(pattern_id)

    async def delete(self, ids: list[str]) -> None:
        for pid in ids:
            self._records.pop(pid, None)

    async def by_category(self, category: str, limit: int) -> list[Record]:
        rows = [r for r in self._records.values() if r.task_category == category]
        rows.sort(key=lambda r: r.created_at, reverse=True)
        return rows[:limit]

    async def count(self) -> int:
        return len(self._records)

    async def get_meta(self, key: str) -> str | None:
        return self._meta.get(key)

    async def set_meta(self, key: str, value: str) -> None:
        self._meta[key] = value

    async def changes(self) -> Changes | None:
        return None

    def write_lock(self) -> AbstractAsyncContextManager[None]:
        return nullcontext()  # one process owns the data: the bank's own mutex suffices

    async def close(self) -> None:
        return None
