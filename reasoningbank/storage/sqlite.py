"""SQLite store (CPython, and Pyodide's in-memory/Emscripten FS): WAL, migrations, BLOB vectors.

Durability: every write is one transaction committed before ``put`` returns. In WAL mode
with ``synchronous=NORMAL`` a committed transaction survives the process being killed
(``kill -9``); ``durability="full"`` also fsyncs each commit to survive power loss.

Safety: an existing file is opened read-write *without create*, and checked before any
write: a file that is not a ReasoningBank (other tables, or not SQLite at all) raises
``NotABank``; a newer schema raises ``SchemaTooNew``. Neither is modified.

Several processes may share one bank: readers never block the writer (WAL), writers wait
up to ``busy_timeout``, and ``changes()`` reports what other connections committed, using
``PRAGMA data_version`` and a per-transaction sequence number.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from array import array
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ..errors import NoBank, NotABank, SchemaTooNew, StorageError
from .base import Changes, Record

__all__ = ["SCHEMA_VERSION", "SqliteStore"]

#: "RBNK": marks the file as ours, so we never mistake another database for a bank.
APPLICATION_ID = 0x52424E4B
SCHEMA_VERSION = 1

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE rb_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE patterns (
        id TEXT PRIMARY KEY,
        task_category TEXT NOT NULL,
        strategy TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        seq INTEGER NOT NULL,
        body TEXT NOT NULL,
        terms TEXT NOT NULL DEFAULT '',
        embedding BLOB
    );
    CREATE INDEX patterns_by_category ON patterns (task_category, created_at);
    CREATE INDEX patterns_by_created ON patterns (created_at);
    CREATE INDEX patterns_by_seq ON patterns (seq);
    CREATE TABLE tombstones (id TEXT PRIMARY KEY, seq INTEGER NOT NULL);
    CREATE INDEX tombstones_by_seq ON tombstones (seq);
    INSERT INTO rb_meta (key, value) VALUES ('seq', '0');
    """,
}

#: One encoder for every row: skips the per-call setup and the circular-reference check
#: (bodies are plain JSON trees built by the model).
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False).encode

_COLUMNS = "id, task_category, strategy, created_at, updated_at, body, terms, embedding"


def _pack(vector: Sequence[float] | None) -> bytes | None:
    if vector is None:
        return None
    arr = array("f", vector)
    if sys.byteorder == "big":
        arr.byteswap()
    return arr.tobytes()


def _unpack(blob: bytes | None) -> array[float] | None:
    """BLOB → float32 ``array`` (4 bytes per value: 100k × 1024-d stays ~400 MB)."""
    if blob is None:
        return None
    arr = array("f")
    arr.frombytes(blob)
    if sys.byteorder == "big":
        arr.byteswap()
    return arr


def _row(row: tuple[Any, ...]) -> Record:
    pid, cat, strategy, created, updated, body, terms, blob = row
    return Record(
        id=pid,
        task_category=cat,
        strategy=strategy,
        created_at=created,
        updated_at=updated,
        body=body,  # JSON text: the bank parses it once, when it indexes the record
        terms=terms.split(" ") if terms else [],
        embedding=_unpack(blob),
    )


class SqliteStore:
    kind = "sqlite"

    def __init__(self, conn: sqlite3.Connection, location: str) -> None:
        self._conn = conn
        self.location = location
        self._data_version = self._pragma("data_version")
        self._seen_seq = self._current_seq()
        self.tracer: Callable[[str, tuple[Any, ...]], None] | None = None

    # -- opening -------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: str,
        *,
        durability: str = "normal",
        busy_timeout: float = 10.0,
        create: bool = True,
    ) -> SqliteStore:
        if durability not in ("normal", "full"):
            raise StorageError(f"durability must be 'normal' or 'full', not {durability!r}")
        memory = path == ":memory:"
        exists = not memory and os.path.exists(path)
        if exists and os.path.isdir(path):
            raise NotABank(f"{path} is a directory, not a bank file")
        if not memory and not exists and not create:
            raise NoBank(f"no bank at {path} (check --db / REASONINGBANK_DB)")
        try:
            if memory:
                conn = sqlite3.connect(":memory:", isolation_level=None)
            else:
                parent = os.path.dirname(os.path.abspath(path))
                if not os.path.isdir(parent):
                    raise StorageError(f"cannot create {path}: folder {parent} does not exist")
                uri = (
                    "file:"
                    + _quote_path(os.path.abspath(path))
                    + ("?mode=rw" if exists else "?mode=rwc")
                )
                conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=busy_timeout)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open {path}: {exc}") from exc
        try:
            cls._check_and_migrate(conn, path)
            if not memory:
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
            conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise NotABank(
                f"{path} is not a ReasoningBank database ({exc}); it was not modified"
            ) from exc
        except BaseException:
            conn.close()
            raise
        return cls(conn, path)

    @staticmethod
    def _check_and_migrate(conn: sqlite3.Connection, path: str) -> None:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id != APPLICATION_ID and (tables or version):
            raise NotABank(
                f"{path} is an SQLite database but not a ReasoningBank; it was not modified "
                "(to bring its data in, use `reasoningbank import`)"
            )
        if version > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"{path} has bank schema {version}, this version understands up to "
                f"{SCHEMA_VERSION}; upgrade reasoningbank (the file was not modified)"
            )
        if version == SCHEMA_VERSION:
            return
        # Each step runs in its own transaction together with the version bump.
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = conn.execute("PRAGMA user_version").fetchone()[0]  # re-read under lock
            for step in range(current + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[step].split(";"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # -- helpers -------------------------------------------------------------------------
    def _pragma(self, name: str) -> int:
        return int(self._conn.execute(f"PRAGMA {name}").fetchone()[0])

    def _current_seq(self) -> int:
        return int(self._conn.execute("SELECT value FROM rb_meta WHERE key = 'seq'").fetchone()[0])

    def _exec(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        if self.tracer is not None:
            self.tracer(sql, params)
        return self._conn.execute(sql, params)

    @contextmanager
    def _write(self) -> Iterator[int]:
        """One write transaction; yields the sequence number stamped on what it changes."""
        try:
            self._exec("BEGIN IMMEDIATE")
            try:
                seq = self._current_seq() + 1
                self._exec("UPDATE rb_meta SET value = ? WHERE key = 'seq'", (str(seq),))
                yield seq
                self._exec("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StorageError(f"write to {self.location} failed: {exc}") from exc

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._exec(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"read from {self.location} failed: {exc}") from exc

    # -- Store protocol ------------------------------------------------------------------
    async def load(self) -> Iterator[Record]:
        """Streams rows (a generator), so a large bank never sits in memory twice."""
        self._seen_seq = self._current_seq()
        self._data_version = self._pragma("data_version")
        try:
            cursor = self._exec(f"SELECT {_COLUMNS} FROM patterns ORDER BY rowid")
        except sqlite3.Error as exc:
            raise StorageError(f"read from {self.location} failed: {exc}") from exc
        return (_row(r) for r in cursor)

    async def put(self, records: list[Record], delete: Sequence[str] = ()) -> None:
        if not records and not delete:
            return
        rows = [
            (
                r.id, r.task_category, r.strategy, r.created_at, r.updated_at,
                r.body if isinstance(r.body, str) else _ENCODE(r.body),
                " ".join(r.terms), _pack(r.embedding),
            )
            for r in records
        ]  # fmt: skip
        with self._write() as seq:
            self._conn.executemany(
                f"INSERT OR REPLACE INTO patterns ({_COLUMNS}, seq) VALUES (?,?,?,?,?,?,?,?,{seq})",
                rows,
            )
            self._conn.executemany(
                "DELETE FROM tombstones WHERE id = ?", [(r.id,) for r in records]
            )
            self._remove(delete, seq)

    def _remove(self, ids: Sequence[str], seq: int) -> None:
        self._conn.executemany("DELETE FROM patterns WHERE id = ?", [(i,) for i in ids])
        self._conn.executemany(
            "INSERT OR REPLACE INTO tombstones (id, seq) VALUES (?, ?)", [(i, seq) for i in ids]
        )

    async def get(self, pattern_id: str) -> Record | None:
        rows = self._read(f"SELECT {_COLUMNS} FROM patterns WHERE id = ?", (pattern_id,))
        return _row(rows[0]) if rows else None

    async def delete(self, ids: list[str]) -> None:
        if not ids:
            return
        with self._write() as seq:
            self._remove(ids, seq)

    async def by_category(self, category: str, limit: int) -> list[Record]:
        rows = self._read(
            f"SELECT {_COLUMNS} FROM patterns WHERE task_category = ? "
            "ORDER BY created_at DESC, rowid DESC LIMIT ?",
            (category, limit),
        )
        return [_row(r) for r in rows]

    async def count(self) -> int:
        return int(self._read("SELECT count(*) FROM patterns")[0][0])

    async def get_meta(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM rb_meta WHERE key = ?", ("x:" + key,))
        return rows[0][0] if rows else None

    async def set_meta(self, key: str, value: str) -> None:
        try:
            self._exec(
                "INSERT OR REPLACE INTO rb_meta (key, value) VALUES (?, ?)", ("x:" + key, value)
            )
        except sqlite3.Error as exc:
            raise StorageError(f"write to {self.location} failed: {exc}") from exc

    async def changes(self) -> Changes | None:
        """Rows other connections committed since the last call (cheap when there are none)."""
        try:
            version = self._pragma("data_version")
        except sqlite3.Error as exc:
            raise StorageError(f"read from {self.location} failed: {exc}") from exc
        if version == self._data_version:
            return Changes([], [])
        self._data_version = version
        seen = self._seen_seq
        self._seen_seq = self._current_seq()
        upserted = self._read(
            f"SELECT {_COLUMNS} FROM patterns WHERE seq > ? ORDER BY seq", (seen,)
        )
        deleted = self._read("SELECT id FROM tombstones WHERE seq > ?", (seen,))
        return Changes([_row(r) for r in upserted], [d[0] for d in deleted])

    async def close(self) -> None:
        try:
            self._conn.close()
        except sqlite3.Error as exc:  # pragma: no cover - close rarely fails
            raise StorageError(f"closing {self.location} failed: {exc}") from exc


def _quote_path(path: str) -> str:
    """Percent-escape the characters SQLite URIs treat specially."""
    return path.replace("%", "%25").replace("?", "%3f").replace("#", "%23")
