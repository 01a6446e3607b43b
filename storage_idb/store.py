"""``IdbStore``: the ``Store`` protocol over IndexedDB, through Pyodide's JS FFI.

Every IndexedDB request is issued by the small JS module next to this file (``idb.js``), so
one Python call is one FFI crossing whatever the batch size. Data crosses as one JSON
string plus one float32 byte buffer: ``load()`` of 10,000 records is one ``json.loads`` and
one ``array.frombytes``, not 10,000 proxy conversions; ``put()`` of a batch is one string
(the records' JSON arrays, one per line) and one buffer, stored as one IndexedDB value (the
chunk layout is described in ``idb.js``).

Writers in several tabs (or workers) of one origin take turns through ``write_lock()``, a
Web Lock per bank; inside it ``changes()`` goes by the sequence number IndexedDB held when
the lock was granted, never by a change notice that may still be on its way, so a
read-modify-write never works on a stale pattern. A writer that skips the lock (an older
version in another tab) is caught too: a write under the lock stores nothing if anyone
committed after it caught up.

Errors: anything IndexedDB rejects with (quota exceeded, aborted transaction, a newer
schema, a database held open by another tab) is re-raised as ``StorageError`` (or
``SchemaTooNew``) ``from`` the JS error; the failed transaction committed nothing.
"""

from __future__ import annotations

import asyncio
import json
import sys
from array import array
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from importlib import resources
from typing import Any

from reasoningbank._table import compact
from reasoningbank.errors import SchemaTooNew, StorageError
from reasoningbank.storage.base import Changes, Columns, Record
from reasoningbank.storage.snapshot import Snapshot

__all__ = ["IdbStore", "open_idb_store"]

_api: Any = None
# One encoder for every record: json.dumps with options builds a new encoder per call.
_encode = json.JSONEncoder(allow_nan=False, separators=(",", ":")).encode
# Without Web Locks (Pyodide in Node: one process) writers of one interpreter take turns here.
_local_locks: dict[str, asyncio.Lock] = {}


#: Where the page keeps the one ``idb.js`` object of this realm: web/boot.js evaluates it
#: first when it reads a bank ahead (from the same wheel), and its read-ahead lives there.
JS_GLOBAL = "__reasoningbank_idb__"


def _js_api() -> Any:
    """The object ``idb.js`` evaluates to (once per realm, shared with the page's JS)."""
    global _api
    if _api is None:
        import js  # type: ignore[import-not-found]
        from pyodide.code import run_js  # type: ignore[import-not-found]

        _api = getattr(js, JS_GLOBAL, None)
        if _api is None:
            source = resources.files(__package__).joinpath("idb.js").read_text(encoding="utf-8")
            _api = run_js(source)
            setattr(js, JS_GLOBAL, _api)
    return _api


def _describe(exc: BaseException) -> tuple[str, str]:
    """(DOMException name, message) of a ``JsException``."""
    js_error = getattr(exc, "js_error", None)
    name = str(getattr(js_error, "name", "") or type(exc).__name__)
    message = str(getattr(js_error, "message", "") or exc)
    return name, message


def _translate(exc: Exception, what: str, location: str) -> StorageError:
    name, message = _describe(exc)
    if name == "VersionError":
        return SchemaTooNew(
            f"{location} was written by a newer ReasoningBank (IndexedDB schema above "
            f"{_js_api().SCHEMA}); it was not touched. Upgrade reasoningbank to open it."
        )
    if name == "QuotaExceededError":
        return StorageError(
            f"{what} on {location} failed: the browser's storage quota is exhausted "
            f"({message}); nothing from this write was stored. Free space or delete old patterns."
        )
    if name == "ConflictError":
        return StorageError(
            f"{what} on {location} failed: another tab wrote to this bank without its write "
            f"lock (an older version, or a page without Web Locks); nothing from this write "
            f"was stored. Try again."
        )
    return StorageError(f"{what} on {location} failed: {name}: {message}")


def _vectors(payload: Any) -> dict[str, array[float]]:
    """The vectors of a ``{json, vec, bytes}`` payload of ``idb.js``, by id."""
    keys, dims = json.loads(payload.vec)
    vectors: dict[str, array[float]] = {}
    if keys:
        flat = array("f")
        flat.frombytes(payload.bytes.to_bytes())
        off = 0
        for key, dim in zip(keys, dims, strict=False):
            vectors[key] = flat[off : off + dim]
            off += dim
    return vectors


def _records(payload: Any) -> list[Record]:
    """Records from a ``{json, vec, bytes}`` payload of ``idb.js``."""
    rows = json.loads(payload.json)
    if not rows:
        return []
    vectors = _vectors(payload)
    return [Record(r[0], r[1], r[2], r[3], r[4], r[5], r[6], vectors.get(r[0])) for r in rows]


def _columns(payload: Any) -> tuple[Columns, Snapshot]:
    """A ``load`` payload as the columns a bank indexes, and the numbers ``idb.js`` read out
    of each body (a snapshot covering every row), so the bank parses only bodies with a
    context."""
    if payload.cols is not None:  # idb.js parsed the rows: no JSON decoding of the bodies
        ids, cats, strategies, created, updated, terms = json.loads(payload.cols)
        bodies = payload.bodies.split("\n") if ids else []
    else:
        rows = json.loads(payload.json)
        ids, cats, strategies, created, updated, terms = (
            [r[k] for r in rows] for k in (0, 1, 2, 3, 4, 6)
        )
        bodies = [r[5] if isinstance(r[5], str) else compact(r[5]) for r in rows]
    vectors = _vectors(payload) if ids else {}
    columns = Columns(
        ids,
        cats,
        strategies,
        created,
        updated,
        bodies,
        [tuple(t) for t in terms],
        {i: vectors[pid] for i, pid in enumerate(ids) if pid in vectors},
    )
    n = len(ids)
    known = array("d")
    known.frombytes(payload.known.to_bytes())
    if sys.byteorder == "big":  # typed arrays are little-endian in every engine we run
        known.byteswap()
    floats = [known[k * n : (k + 1) * n] for k in range(4)]
    contradictions = array("q", (int(x) for x in known[4 * n : 5 * n]))
    return columns, (ids, floats, contradictions, payload.flags.to_bytes())


class IdbStore:
    """A bank's records in one IndexedDB database (one database per bank name)."""

    kind = "idb"

    def __init__(self, name: str, db: Any) -> None:
        self.name = name
        self.location = f"idb://{name}"
        self._db: Any = db
        self._seen_seq = 0
        self._locked = False
        # Under the write lock: did another writer commit since we last looked?
        self._behind = True
        self._snapshot: Snapshot | None = None
        # The page's read-ahead load() payload, until the store writes or reads changes.
        self._ahead: Any = None
        #: Whether this store was opened and first loaded by the page's read-ahead.
        self.read_ahead = False

    @classmethod
    async def open(cls, name: str, *, blocked_timeout: float = 10.0) -> IdbStore:
        """Open (creating or upgrading) the database ``name``.

        ``blocked_timeout`` (seconds): how long to wait for another tab holding an older
        schema open to let go before giving up with ``StorageError``.
        """
        if not name:
            raise StorageError("an IndexedDB bank needs a name: idb://NAME")
        api = _js_api()
        ahead = await api.adopt(name)
        if ahead is not None:  # the page read this bank while Python started (web/boot.js)
            store = cls(name, ahead.h)
            store._ahead = ahead.payload
            store.read_ahead = True
            store._seen_seq = int(ahead.payload.seq)
            return store
        try:
            db = await api.open(name, int(blocked_timeout * 1000))
        except Exception as exc:  # JsException: the FFI's only error type here
            raise _translate(exc, "open", f"idb://{name}") from exc
        store = cls(name, db)
        store._seen_seq = int(await store._call("currentSeq", "open"))
        return store

    async def _call(self, method: str, what: str, *args: Any) -> Any:
        if self._db is None:
            raise StorageError(f"{self.location} is closed")
        try:
            return await getattr(_js_api(), method)(self._db, *args)
        except Exception as exc:
            raise _translate(exc, what, self.location) from exc

    async def _load(self, records: bool = False) -> Any:
        """``idb.js``'s load() payload (with the records' JSON text if ``records``): the
        read-ahead one if the store did nothing since and it holds what is asked."""
        payload, self._ahead = self._ahead, None
        if payload is None or (records and payload.json is None):
            payload = await self._call("load", "load", records)
        self._seen_seq = int(payload.seq)
        return payload

    async def load(self) -> list[Record]:
        return _records(await self._load(records=True))

    async def load_columns(self) -> list[Columns]:
        """The bank as columns (what it indexes on open); ``load_snapshot`` then hands over
        the numbers read out of the same bodies in the same transaction."""
        columns, self._snapshot = _columns(await self._load())
        return [columns]

    async def load_snapshot(self) -> Snapshot | None:
        """The numbers of the last ``load_columns`` (once)."""
        snapshot, self._snapshot = self._snapshot, None
        return snapshot

    async def put(self, records: list[Record], delete: Sequence[str] = ()) -> None:
        if not records and not delete:
            return
        lines = []
        dims = []
        vectors = array("f")
        try:
            for r in records:
                emb = r.embedding
                dim = len(emb) if emb is not None else 0
                if dim:
                    vectors.extend(emb)  # type: ignore[arg-type]
                dims.append(dim)
                lines.append(
                    _encode(
                        [
                            r.id,
                            r.task_category,
                            r.strategy,
                            r.created_at,
                            r.updated_at,
                            r.body,
                            r.terms,
                        ]
                    )
                )
            gone = _encode(list(delete))
        except (TypeError, ValueError) as exc:
            raise StorageError(f"put on {self.location} failed: record is not JSON: {exc}") from exc
        payload = None
        if vectors:
            from pyodide.ffi import to_js  # type: ignore[import-not-found]

            payload = to_js(vectors.tobytes())
        # Under the lock, once caught up, nobody else may have committed: the put checks.
        expect = self._seen_seq if self._locked and not self._behind else None
        # What the chunk indexes, so idb.js need not parse the lines.
        heads = _encode(
            [[getattr(r, k) for r in records] for k in ("id", "task_category", "created_at")]
        )
        blob = "\n".join(lines)
        seq = await self._call("put", "put", blob, _encode(dims), payload, gone, expect, heads)
        self._ahead = None  # older than our own write
        self._saw_own_write(int(seq))

    def _saw_own_write(self, seq: int) -> None:
        # No other writer committed in between: nothing for changes() to report yet.
        if seq == self._seen_seq + 1:
            self._seen_seq = seq

    async def get(self, pattern_id: str) -> Record | None:
        payload = await self._call("get", "get", pattern_id)
        if payload is None:
            return None
        found = _records(payload)
        return found[0] if found else None

    async def delete(self, ids: list[str]) -> None:
        await self.put([], ids)

    async def by_category(self, category: str, limit: int) -> list[Record]:
        if limit <= 0:
            return []
        return _records(await self._call("byCategory", "by_category", category, int(limit)))

    async def count(self) -> int:
        return int(await self._call("count", "count"))

    async def get_meta(self, key: str) -> str | None:
        value = await self._call("getMeta", "get_meta", key)
        return None if value is None else str(value)

    async def set_meta(self, key: str, value: str) -> None:
        await self._call("setMeta", "set_meta", key, value)

    @asynccontextmanager
    async def write_lock(self) -> AsyncIterator[None]:
        """Hold the bank's exclusive write lock across tabs and workers of this origin.

        Not reentrant. Where there are no Web Locks (Pyodide in Node) the lock covers the
        writers of this interpreter, which are all the writers there are.
        """
        api = _js_api()
        if not api.hasLocks:
            async with _local_locks.setdefault(self.name, asyncio.Lock()):
                seq = int(await self._call("currentSeq", "write lock"))
                with self._holding(seq):
                    yield
            return
        if self._db is None:
            raise StorageError(f"{self.location} is closed")
        request = api.requestLock(self._db)
        try:
            held = await request.granted
        except asyncio.CancelledError:
            request.drop()
            raise
        except Exception as exc:
            raise _translate(exc, "write lock", self.location) from exc
        try:
            with self._holding(int(held.seq)):
                yield
        finally:
            held.release()

    @contextmanager
    def _holding(self, seq: int) -> Iterator[None]:
        """Why: while we hold the lock nobody else commits, so the sequence number read on
        taking it tells whether ``changes()`` has anything to find."""
        self._locked, self._behind = True, seq != self._seen_seq
        try:
            yield
        finally:
            self._locked = False

    async def changes(self) -> Changes | None:
        """What other tabs or workers wrote since the last ``load``/``changes`` call.

        Our own writes are left out unless another writer committed in between, in which
        case they are reported again (re-applying a record is harmless). Under the write
        lock the sequence number read when taking it decides, never a change notice (one
        from another tab may still be on its way).
        """
        if self._locked:
            if not self._behind:
                return Changes([], [])  # the lock was taken at the sequence number we saw
        elif self._db is not None and not _js_api().isDirty(self._db):
            return Changes([], [])  # nobody announced a commit: no IndexedDB round trip
        payload = await self._call("changes", "changes", self._seen_seq)
        self._seen_seq = int(payload.seq)
        self._ahead = None  # older than what we now saw
        self._behind = False
        deleted = json.loads(payload.deleted)
        upserted = _records(payload)
        if not upserted and not deleted:
            return Changes([], [])
        return Changes(upserted, deleted)

    async def close(self) -> None:
        self._ahead = None
        if self._db is not None:
            db, self._db = self._db, None
            _js_api().close(db)


async def open_idb_store(name: str) -> IdbStore:
    """Open the IndexedDB-backed store of the bank called ``name``."""
    return await IdbStore.open(name)


async def delete_database(name: str) -> bool:
    """Delete the database of bank ``name``; False if another tab holds it open."""
    try:
        return bool(await _js_api().deleteDatabase(name))
    except Exception as exc:
        raise _translate(exc, "delete", f"idb://{name}") from exc
