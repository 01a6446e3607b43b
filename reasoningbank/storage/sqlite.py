"""SQLite store (CPython, and Pyodide's in-memory/Emscripten FS): WAL, migrations, BLOB vectors.

Durability: every write is one transaction committed before ``put`` returns. In WAL mode
with ``synchronous=NORMAL`` a committed transaction survives the process being killed
(``kill -9``); ``durability="full"`` also fsyncs each commit to survive power loss.

Safety: an existing file is opened read-write *without create*, and checked before any
write: a file that is not a ReasoningBank (other tables, or not SQLite at all) raises
``NotABank``; a newer schema raises ``SchemaTooNew``. Neither is modified.

A row is a pattern's id, category, strategy and times as columns, beside its body: the
pattern's JSON in ``Pattern.stored_dict``'s form (none of those columns, no optional field
at its default, no metadata its outcome alone decides; rows written by older versions hold
more of it, and read back the same). The id has no index: the bank keeps each pattern's
row number (``rowids_of``) and keeps ids unique.

Several processes may share one bank: readers never block the writer (WAL), writers wait
up to ``busy_timeout``, and ``changes()`` reports what other connections committed, using
``PRAGMA data_version`` and sequence numbers: every row a commit writes gets its own, above
every number before (the row's ``seqno``, also its rowid: rows sit in the order they were
written), and a delete's tombstones one of its commit's.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
from array import array
from collections.abc import Callable, Iterator, Sequence
from itertools import count
from typing import Any

from ..errors import NoBank, NotABank, ReadOnlyBank, SchemaTooNew, StorageError
from . import snapshot
from .base import Changes, Columns, Record
from .snapshot import Snapshot

__all__ = ["SCHEMA_VERSION", "SqliteStore"]

#: "RBNK": marks the file as ours, so we never mistake another database for a bank.
APPLICATION_ID = 0x52424E4B
SCHEMA_VERSION = 6

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
    # Nothing reads these two (the bank searches its in-memory columns; ``by_category`` is
    # a rare scan), yet every write updated both: a quarter of a bulk store's SQLite time
    # and two more pages per single store's commit.
    2: """
    DROP INDEX IF EXISTS patterns_by_category;
    DROP INDEX IF EXISTS patterns_by_created;
    """,
    # The sequence number is the largest one stamped on a row or a tombstone (see
    # ``_CURRENT``): bumping a counter row wrote one more page per commit. Deleting the old
    # counter makes a version that still bumps it fail loudly instead of reusing numbers.
    3: """
    DELETE FROM rb_meta WHERE key = 'seq';
    """,
    # Bodies leave out the id, category and strategy (their row holds them as columns):
    # nothing to rewrite, but a version that reads them from the body must not open it.
    4: "",
    # A row's sequence number is its rowid, one per row: the table drops the index on it,
    # one page fewer for every write's commit (a sixth of a single store's SQLite time).
    # The new column's name makes a version that still writes ``seq`` fail loudly instead
    # of replacing rows. Rows are numbered in the order they were written; no process holds
    # a number across this step (an older one fails, a newer one opens after it).
    5: """
    ALTER TABLE patterns RENAME TO patterns_v4;
    CREATE TABLE patterns (
        seqno INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        task_category TEXT NOT NULL,
        strategy TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        body TEXT NOT NULL,
        terms TEXT NOT NULL DEFAULT '',
        embedding BLOB
    );
    INSERT INTO patterns
        (seqno, id, task_category, strategy, created_at, updated_at, body, terms, embedding)
        SELECT row_number() OVER (ORDER BY seq, rowid), id, task_category, strategy,
            created_at, updated_at, body, terms, embedding
        FROM patterns_v4 ORDER BY seq, rowid;
    DROP TABLE patterns_v4;
    DELETE FROM rb_meta WHERE key = 'index-snapshot';
    """,
    # The id is no longer indexed: a pattern's row is found by its number, which the bank
    # keeps per pattern (``rowids_of``), and the bank keeps ids unique (it checks under the
    # write lock). The index cost a sixth of a bulk store and one of the two pages a single
    # store's commit wrote. The column's new name makes a version that still replaces rows
    # by id fail loudly instead of adding a second row for the id. New bodies may leave out
    # their metadata (``Pattern.stored_dict``), which older versions cannot read.
    6: """
    ALTER TABLE patterns RENAME TO patterns_v5;
    CREATE TABLE patterns (
        seqno INTEGER PRIMARY KEY,
        pattern_id TEXT NOT NULL,
        task_category TEXT NOT NULL,
        strategy TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        body TEXT NOT NULL,
        terms TEXT NOT NULL DEFAULT '',
        embedding BLOB
    );
    INSERT INTO patterns
        (seqno, pattern_id, task_category, strategy, created_at, updated_at, body, terms,
         embedding)
        SELECT seqno, id, task_category, strategy, created_at, updated_at, body, terms,
            embedding
        FROM patterns_v5 ORDER BY seqno;
    DROP TABLE patterns_v5;
    DELETE FROM rb_meta WHERE key = 'index-snapshot';
    """,
}

#: One encoder for every row: skips the per-call setup and the circular-reference check
#: (bodies are plain JSON trees built by the model).
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False).encode

#: Every column of a row but the vector and the sequence number.
_TEXT_COLUMNS = "pattern_id, task_category, strategy, created_at, updated_at, body, terms"
_COLUMNS = f"{_TEXT_COLUMNS}, embedding"
#: What a read takes of a row: ``_COLUMNS`` and the row's number (``Record.rowid``).
_READ = f"{_COLUMNS}, seqno"
#: Fixed SQL text (the sequence number is a parameter), so sqlite3's statement cache
#: prepares it once per connection instead of once per write. A pattern stored before
#: leaves its old row first (``_DELETE_ROW``).
_INSERT = f"INSERT INTO patterns ({_COLUMNS}, seqno) VALUES (?,?,?,?,?,?,?,?,?)"
#: ``_INSERT`` of a row without a vector (the column's default is NULL). Why: binding None
#: goes through sqlite3's adapter lookup, a tenth of a bulk store's SQLite time.
_INSERT_TEXT = f"INSERT INTO patterns ({_TEXT_COLUMNS}, seqno) VALUES (?,?,?,?,?,?,?,?)"
#: A pattern's row by its number; the id guards against a number the caller got wrong.
_DELETE_ROW = "DELETE FROM patterns WHERE seqno = ? AND pattern_id = ?"
#: The rows of an id, searched through the whole table: only for an id whose row number
#: is unknown (a store used without a bank) or stale (``_rowids``).
_DELETE_ID = "DELETE FROM patterns WHERE pattern_id = ?"
_UNTOMB = "DELETE FROM tombstones WHERE id = ?"
_ANY_TOMBSTONE = "SELECT EXISTS (SELECT 1 FROM tombstones)"
#: The sequence number of the last commit: the largest stamped on a row or a tombstone. It
#: never goes back: a row leaves only for a tombstone or a row stamped later, a tombstone
#: only for a row stamped later. Two index edges, no page written.
_CURRENT = (
    "SELECT max(coalesce((SELECT max(seqno) FROM patterns), 0),"
    " coalesce((SELECT max(seq) FROM tombstones), 0))"
)
#: A commit of this many rows or more leaves its checkpoint (copying the WAL into the file
#: and syncing it: ~2 µs a row, a tenth of a bulk store) to a thread of its own, so the
#: writer goes on as soon as its commit is durable. Where threads exist (not in Pyodide).
_CHECKPOINT_AFTER_ROWS = 4096
_THREADS = sys.platform != "emscripten"
#: SQLite's default: the commit that leaves this many WAL pages checkpoints them.
_AUTOCHECKPOINT_PAGES = 1000
#: Rows read per step when a bank opens.
_CHUNK = 4096
#: What ``load_columns(bodies=False)`` reads: every column but the body (a NULL in its place).
_COLUMNS_NO_BODY = _READ.replace("body", "NULL")
#: Ids per ``read_bodies`` statement: under SQLite's smallest bound on parameters (999).
_IDS_PER_READ = 900
#: ``read_bodies``' statement (row numbers appended): each body, and whether its row changed
#: after the sequence number the bank has caught up to.
_BODIES = "SELECT pattern_id, body, seqno > ? FROM patterns WHERE seqno IN "
#: ``_BODIES`` of ids whose row number is unknown or stale: one pass over the table.
_BODIES_BY_ID = "SELECT pattern_id, body, seqno > ? FROM patterns WHERE pattern_id IN "
#: ``read_bodies`` for a large part of the bank: one pass over the table.
_EVERY_BODY = "SELECT pattern_id, body, seqno > ? FROM patterns"
#: One pass beats a search per id from this share of the rows on (a search costs a few
#: times what a row of the pass does: measured at 100k, 1/3 is the break-even).
_SCAN_SHARE = 3
_SEQ_AND_SNAPSHOT = f"SELECT ({_CURRENT}), (SELECT value FROM rb_meta WHERE key = 'index-snapshot')"
#: Written only while the sequence number is still the one the snapshot describes.
_SAVE_SNAPSHOT = (
    f"INSERT OR REPLACE INTO rb_meta (key, value) SELECT 'index-snapshot', ? WHERE ({_CURRENT}) = ?"
)


def _pack(vector: Sequence[float] | None) -> bytes | None:
    if vector is None:
        return None
    arr = array("f", vector)
    if sys.byteorder == "big":
        arr.byteswap()
    return arr.tobytes()


def _values(r: Record, terms: str, seq: int, vector: bool = True) -> tuple[Any, ...]:
    """``r`` as ``_INSERT``'s parameters (``terms``: its terms joined by spaces); without
    ``vector``, as ``_INSERT_TEXT``'s."""
    body = r.body
    text = (
        r.id, r.task_category, r.strategy, r.created_at, r.updated_at,
        body if isinstance(body, str) else _ENCODE(body), terms,
    )  # fmt: skip
    return (*text, _pack(r.embedding), seq) if vector else (*text, seq)


def _unpack(blob: bytes) -> array[float]:
    """BLOB → float32 ``array`` (4 bytes per value: 100k × 1024-d stays ~400 MB)."""
    arr = array("f")
    arr.frombytes(blob)
    if sys.byteorder == "big":
        arr.byteswap()
    return arr


def _row(row: tuple[Any, ...]) -> Record:
    """A row of ``_READ`` as a record."""
    pid, cat, strategy, created, updated, body, terms, blob, rowid = row
    return Record(
        id=pid,
        task_category=cat,
        strategy=strategy,
        created_at=created,
        updated_at=updated,
        body=body,  # JSON text: the bank parses it once, when it indexes the record
        terms=terms.split(" ") if terms else [],
        embedding=None if blob is None else _unpack(blob),
        rowid=rowid,
    )


class SqliteStore:
    kind = "sqlite"

    def __init__(self, conn: sqlite3.Connection, location: str) -> None:
        self._conn = conn
        #: One cursor for the statements a write runs whose rows are read at once (or that
        #: have none). Why: ``Connection.execute`` makes a cursor a call, and a single
        #: store runs four statements (0.3-0.8 µs each).
        self._cursor = conn.cursor()
        self.location = location
        self._data_version = self._pragma("data_version")
        self._seen_seq = self._current_seq()
        #: ``_begin``'s memory: (``data_version``, the sequence number of the last commit)
        #: as of this connection's last write transaction; None when unknown.
        self._last_commit: tuple[int, int] | None = None
        #: Inside ``write_lock``: the sequence number as the lock found it, the one its
        #: last write was stamped with (the base until one is), and whether anything was
        #: written (a ``set_meta`` stamps nothing); None outside.
        self._txn_base = 0
        self._txn_seq: int | None = None
        self._txn_wrote = False
        #: A sequence number at which the tombstones table was empty (None: unknown), so
        #: storing a pattern need not clear a tombstone that cannot exist.
        self._no_tombstones_at: int | None = None
        self._loaded_snapshot: Snapshot | None = None
        #: Whether the last ``load_columns`` took the rows from the index snapshot.
        self.snapshot_has_rows = False
        self._busy_timeout = 10.0
        self.tracer: Callable[[str, tuple[Any, ...]], None] | None = None
        #: Opened from a read-only file or mount: reads work, writes raise ``ReadOnlyBank``.
        self.read_only = False
        #: Rows written in the open transaction; the SQLite URI a checkpoint thread opens
        #: (None: checkpoints stay with the commits), and the running thread.
        self._txn_rows = 0
        self._synchronous = "NORMAL"
        self._checkpoint_uri: str | None = None
        self._checkpointer: threading.Thread | None = None
        #: The row number of each id as the bank knows it (0: not stored), set by the bank
        #: that owns this store. Why: rows are found by number, the id has no index.
        #: Without it (a store used on its own) ids are searched for in the whole table.
        self.rowids_of: Callable[[Sequence[str]], list[int]] | None = None

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
        """Open the bank at ``path``, creating it when missing (unless ``create=False``).

        A new bank is built whole in a private temporary file and linked into place, so
        several processes creating the same bank at once all end up opening one complete
        bank, and nobody ever sees a half-made one. Files are created 0600 (SQLite gives the
        -wal and -shm files the same mode). A file that cannot be written (a read-only file or
        mount) is opened read-only: reads work, writes raise ``ReadOnlyBank``.
        """
        if durability not in ("normal", "full"):
            raise StorageError(f"durability must be 'normal' or 'full', not {durability!r}")
        if path == ":memory:":
            conn = sqlite3.connect(":memory:", isolation_level=None)
            cls._check_and_migrate(conn, path)
            return cls(conn, path)
        if os.path.isdir(path):
            raise NotABank(f"{path} is a directory, not a bank file")
        if not os.path.exists(path):
            if not create:
                raise NoBank(f"no bank at {path} (check --db / REASONINGBANK_DB)")
            _create(path, busy_timeout)
        read_only = not _writable(path)
        uri = "file:" + _quote_path(os.path.abspath(path))
        # A read-only WAL bank needs its -shm file; on read-only media where nobody left one
        # (a clean close removes it) the file is immutable, which SQLite then reads directly.
        modes = ["?mode=ro", "?mode=ro&immutable=1"] if read_only else ["?mode=rw"]
        for i, mode in enumerate(modes):
            try:
                conn = sqlite3.connect(
                    uri + mode, uri=True, isolation_level=None, timeout=busy_timeout
                )
            except sqlite3.Error as exc:
                raise StorageError(f"cannot open {path}: {exc}") from exc
            try:
                if read_only:
                    cls._check(conn, path)
                else:
                    cls._check_and_migrate(conn, path)
                    conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
                conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
                break
            except sqlite3.DatabaseError as exc:
                conn.close()
                code = getattr(exc, "sqlite_errorcode", None)
                if code == sqlite3.SQLITE_CANTOPEN and i + 1 < len(modes):
                    continue
                if _is_busy(exc):
                    raise StorageError(
                        f"cannot open {path}: {exc} (another process holds it)"
                    ) from exc
                raise NotABank(
                    f"{path} is not a ReasoningBank database ({exc}); it was not modified"
                ) from exc
            except BaseException:
                conn.close()
                raise
        store = cls(conn, path)
        store.read_only = read_only
        store._busy_timeout = busy_timeout
        store._synchronous = "FULL" if durability == "full" else "NORMAL"
        if _THREADS and not read_only:
            store._checkpoint_uri = uri + "?mode=rw"
        return store

    @staticmethod
    def _check(conn: sqlite3.Connection, path: str) -> int:
        """The schema version of ``conn``'s bank; refuses foreign and newer files.

        One statement reads all three facts, so they come from one snapshot: a bank another
        process is creating right now is either seen whole or not at all.
        """
        app_id, version, tables = conn.execute(
            "SELECT (SELECT application_id FROM pragma_application_id),"
            " (SELECT user_version FROM pragma_user_version),"
            " (SELECT count(*) FROM sqlite_master)"
        ).fetchone()
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
        return int(version)

    @classmethod
    def _check_and_migrate(cls, conn: sqlite3.Connection, path: str) -> None:
        if cls._check(conn, path) == SCHEMA_VERSION:
            return
        # Each step runs in one transaction together with the version bump.
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = cls._check(conn, path)  # re-read under the lock
            if version < SCHEMA_VERSION:
                _migrate(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if 0 < version < _REWRITTEN_AT:
            _give_back_pages(conn)

    # -- helpers -------------------------------------------------------------------------
    def _pragma(self, name: str) -> int:
        return int(self._cursor.execute(f"PRAGMA {name}").fetchone()[0])

    def _current_seq(self) -> int:
        return int(self._cursor.execute(_CURRENT).fetchone()[0])

    def _exec(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        if self.tracer is not None:
            self.tracer(sql, params)
        return self._conn.execute(sql, params)

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        """``_exec`` on ``_cursor``: for a statement whose rows are read before the next."""
        if self.tracer is not None:
            self.tracer(sql, params)
        return self._cursor.execute(sql, params)

    def _check_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyBank(
                f"{self.location} is read-only (opened from a read-only file or mount)"
            )

    def _begin(self) -> int:
        """``BEGIN IMMEDIATE`` and the sequence number of the last commit.

        While no other connection committed since this one's last write transaction
        (``data_version`` is unchanged: SQLite changes it for every commit but our own),
        that number is the one this connection last stamped or found: one cheap statement
        instead of two index reads, on every write."""
        self._run("BEGIN IMMEDIATE")
        try:
            version = self._pragma("data_version")
            last = self._last_commit
            if last is not None and last[0] == version:
                return last[1]
            seq = int(self._run(_CURRENT).fetchone()[0])
            self._last_commit = (version, seq)
            return seq
        except BaseException:
            self._last_commit = None
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def _committed(self, base: int, seq: int) -> None:
        """After committing ``base + 1`` to ``seq``: what we knew as of ``base`` still holds."""
        last = self._last_commit
        if last is not None:
            self._last_commit = (last[0], seq)
        if self._seen_seq == base:
            self._seen_seq = seq  # nobody else wrote in between: nothing for changes() to report
        if self._no_tombstones_at == base:
            self._no_tombstones_at = seq

    def _write(self, write: Callable[[int], int]) -> None:
        """``write(first)`` in a write transaction of its own (outside ``write_lock``): it
        stamps what it changes with numbers from ``first`` on and returns the last one."""
        self._check_writable()
        try:
            base = self._begin()
            try:
                last = write(base + 1)
                self._commit()
            except BaseException:
                self._txn_rows = 0
                self._last_commit = None
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise _translate(exc, f"write to {self.location} failed") from exc
        self._committed(base, last)

    def write_lock(self) -> _WriteLock:
        """Hold the bank's write lock (``BEGIN IMMEDIATE``) across processes.

        Everything written inside commits together when the block ends (or none of it, on an
        exception); ``changes()`` inside reports every commit other processes made before.
        Why: a read-modify-write (an outcome, a merge) computed from what ``changes()`` just
        reported cannot be overwritten by another process before it commits. A block that
        wrote nothing rolls back (its sequence number is not used).
        """
        return _WriteLock(self)

    def _lock(self) -> None:
        self._check_writable()
        try:
            self._txn_seq = self._txn_base = self._begin()
        except sqlite3.Error as exc:
            raise _translate(exc, f"write to {self.location} failed") from exc
        self._txn_wrote = False

    def _unlock(self, ok: bool) -> None:
        seq, self._txn_seq = self._txn_seq, None
        if not (ok and self._txn_wrote):
            self._txn_rows = 0
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            return
        try:
            self._commit()
        except sqlite3.Error as exc:
            self._last_commit = None
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise _translate(exc, f"write to {self.location} failed") from exc
        assert seq is not None
        self._committed(self._txn_base, seq)

    def _commit(self) -> None:
        """COMMIT; after a large write, with the checkpoint left to a thread."""
        rows, self._txn_rows = self._txn_rows, 0
        if rows < _CHECKPOINT_AFTER_ROWS or self._checkpoint_uri is None:
            self._run("COMMIT")
            return
        self._conn.execute("PRAGMA wal_autocheckpoint=0")
        try:
            self._exec("COMMIT")
        finally:
            self._conn.execute(f"PRAGMA wal_autocheckpoint={_AUTOCHECKPOINT_PAGES}")
        if self._checkpointer is None or not self._checkpointer.is_alive():
            # (a running one may miss these frames: a later commit's checkpoint takes them)
            self._checkpointer = threading.Thread(
                target=_checkpoint,
                args=(self._checkpoint_uri, self._synchronous),
                name=f"checkpoint {self.location}",
                daemon=True,
            )
            self._checkpointer.start()

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._exec(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"read from {self.location} failed: {exc}") from exc

    # -- Store protocol ------------------------------------------------------------------
    async def load(self) -> Iterator[Record]:
        """Streams rows (a generator), so a large bank never sits in memory twice."""
        return map(_row, await self.load_rows())

    async def load_rows(self, bodies: bool = True) -> sqlite3.Cursor:
        """Every row (``_COLUMNS``), oldest first, and the snapshot's tag and sequence number
        read with them. ``bodies=False``: the body is None on every row (read it with
        ``read_bodies``) when the index snapshot holds every row's numbers."""
        self._begin_load(rows=False)
        return self._select(bodies)

    def _select(self, bodies: bool) -> sqlite3.Cursor:
        lazy = not bodies and self._loaded_snapshot is not None
        try:
            columns = _COLUMNS_NO_BODY if lazy else _READ
            return self._exec(f"SELECT {columns} FROM patterns ORDER BY rowid")
        except sqlite3.Error as exc:
            raise StorageError(f"read from {self.location} failed: {exc}") from exc

    def _begin_load(self, rows: bool) -> Columns | None:
        """Read the sequence number and the index snapshot (in one statement, so from one
        snapshot of the file) and keep the snapshot if it was taken at that number; with
        ``rows``, return the rows it holds, if it holds them."""
        self._data_version = self._pragma("data_version")
        try:
            seq, blob = self._exec(_SEQ_AND_SNAPSHOT).fetchone()
        except sqlite3.Error as exc:
            raise StorageError(f"read from {self.location} failed: {exc}") from exc
        self._seen_seq = int(seq)
        got = snapshot.decode(blob, self._seen_seq)
        self._loaded_snapshot, whole = got or (None, None)
        self.snapshot_has_rows = whole is not None
        return whole if rows else None

    async def row_ids(self) -> list[str]:
        """Every id in row order (the order ``load`` reads rows in)."""
        return [row[0] for row in self._read("SELECT pattern_id FROM patterns ORDER BY rowid")]

    async def load_columns(self, bodies: bool = True) -> Iterator[Columns]:
        """``load`` as columns (the bank's fast open), a few thousand rows at a time so a
        large bank never sits in memory twice. Equal categories, strategies, times and terms
        share one object each: rows would otherwise bring their own copies, about 200 bytes
        a pattern. ``bodies=False``: as ``load_rows`` (a bank that reads bodies only when
        it returns a pattern skips about 60 % of what it would keep), and no row is read at
        all when the index snapshot holds them (a bank without vectors closed since the last
        write): reading and converting the rows was a third of opening 100,000 patterns."""
        whole = self._begin_load(rows=not bodies)
        return iter([whole]) if whole is not None else self._chunks(self._select(bodies))

    def _chunks(self, cursor: sqlite3.Cursor) -> Iterator[Columns]:
        names: dict[str, str] = {}
        times: dict[float, float] = {}
        split: dict[str, tuple[str, ...]] = {}
        while True:
            try:
                chunk = cursor.fetchmany(_CHUNK)
            except sqlite3.Error as exc:
                raise StorageError(f"read from {self.location} failed: {exc}") from exc
            if not chunk:
                return
            ids, cats, strategies, created, updated, bodies, terms, blobs, rowids = zip(
                *chunk, strict=True
            )
            del chunk
            for text in set(terms).difference(split):
                split[text] = tuple(text.split(" ")) if text else ()
            yield Columns(
                list(ids),
                list(map(names.setdefault, cats, cats)),
                list(map(names.setdefault, strategies, strategies)),
                list(map(times.setdefault, created, created)),
                list(map(times.setdefault, updated, updated)),
                list(bodies),
                list(map(split.__getitem__, terms)),
                {i: _unpack(b) for i, b in enumerate(blobs) if b is not None}
                if blobs.count(None) < len(blobs)
                else {},
                rowids,
            )

    async def load_snapshot(self) -> Snapshot | None:
        """The index snapshot as of the last ``load`` if it was saved at that data version
        (rows committed later are re-delivered by ``changes()``, which starts from there)."""
        snap, self._loaded_snapshot = self._loaded_snapshot, None
        return snap

    def read_bodies(
        self, ids: Sequence[str], rowids: Sequence[int] | None = None
    ) -> dict[str, str | Record]:
        """The stored bodies of ``ids`` (JSON text), read by row number (``rowids``, else
        ``rowids_of``'s), in one statement per 900 ids. A row written after the last
        ``changes()`` (or ``load``) comes whole, as a ``Record``: the bank's columns for it
        are older than its body. Rows gone are absent. Why: a bank that keeps no bodies in
        memory must never pair a body with columns of another version of the pattern.

        Synchronous, unlike the ``Store`` protocol: SQLite answers at once, and the bank
        reads bodies inside its (synchronous) ranking."""
        found: dict[str, str | Record] = {}
        changed = []
        for pid, body, newer in self._body_rows(ids, rowids):
            found[pid] = body
            if newer:
                changed.append(pid)
        for start in range(0, len(changed), _IDS_PER_READ):  # rare: a write since the catch-up
            part = changed[start : start + _IDS_PER_READ]
            marks = ",".join("?" * len(part))
            sql = f"SELECT {_READ} FROM patterns WHERE pattern_id IN ({marks})"
            got = {row[0]: _row(row) for row in self._read(sql, tuple(part))}
            for pid in part:  # one deleted between the two reads is gone
                if pid in got:
                    found[pid] = got[pid]
                else:
                    del found[pid]
        return found

    def _body_rows(
        self, ids: Sequence[str], rowids: Sequence[int] | None
    ) -> Iterator[tuple[str, str, int]]:
        """(id, body, changed since the catch-up) of ``ids``: read by row number, or in one
        pass over the table when they are a large part of it (``all_patterns``, export).
        An id whose row is not where the bank knew it (another process rewrote it since the
        catch-up) is searched for by id."""
        if len(ids) > 1000:
            # max(rowid) reads one B-tree edge: an upper bound of the row count (rows have
            # distinct positive sequence numbers).
            rows = self._read("SELECT max(rowid) FROM patterns")[0][0] or 0
            if len(ids) * _SCAN_SHARE > rows:
                wanted = set(ids)
                try:
                    for row in self._exec(_EVERY_BODY, (self._seen_seq,)):
                        if row[0] in wanted:
                            yield row
                except sqlite3.Error as exc:
                    raise StorageError(f"read from {self.location} failed: {exc}") from exc
                return
        numbers = [n for n in (self._rowids(ids) if rowids is None else rowids) if n]
        seen: set[str] = set()
        for start in range(0, len(numbers), _IDS_PER_READ):
            part = numbers[start : start + _IDS_PER_READ]
            sql = _BODIES + "(" + ",".join("?" * len(part)) + ")"
            for row in self._read(sql, (self._seen_seq, *part)):
                seen.add(row[0])
                yield row
        missed = [pid for pid in ids if pid not in seen]
        for start in range(0, len(missed), _IDS_PER_READ):
            chunk = missed[start : start + _IDS_PER_READ]
            sql = _BODIES_BY_ID + "(" + ",".join("?" * len(chunk)) + ")"
            yield from self._read(sql, (self._seen_seq, *chunk))

    def _rowids(self, ids: Sequence[str]) -> list[int]:
        """The row number of each of ``ids`` as the bank knows it, 0 where it does not."""
        return self.rowids_of(ids) if self.rowids_of is not None else [0] * len(ids)

    async def save_snapshot(
        self,
        ids: Sequence[str],
        floats: Sequence[Sequence[float]],
        contradictions: Sequence[int],
        has_context: Sequence[bool],
        rows: snapshot.Rows | None = None,
    ) -> bool:
        """Save the index snapshot of a bank that has seen every commit up to now (``rows``:
        the rest of each row, see ``snapshot.encode``); True if saved. Skipped (False) when
        another process wrote since, or holds the write lock: closing never waits for a
        snapshot."""
        if self.read_only:
            return False
        blob = snapshot.encode(self._seen_seq, ids, floats, contradictions, has_context, rows)
        self._conn.execute("PRAGMA busy_timeout=0")
        try:
            cursor = self._exec(_SAVE_SNAPSHOT, (blob, self._seen_seq))
        except sqlite3.Error:
            return False
        finally:
            self._conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout * 1000)}")
        return cursor.rowcount == 1

    async def put(self, records: list[Record], delete: Sequence[str] = ()) -> None:
        if records or delete:
            self._apply(lambda first: self._put(records, delete, first))

    async def put_columns(self, cols: Columns) -> None:
        """``put`` of new patterns given as columns (``load_columns``' shape): one
        ``executemany`` over the zipped columns, so SQLite's module builds no object per
        row. Why: a bulk store of new patterns has its columns already. None of their ids
        may be stored (the bank checks, under the write lock). Sets ``cols.rowids``."""
        if cols.ids:
            self._apply(lambda first: self._put_columns(cols, first))

    def _apply(self, write: Callable[[int], int]) -> None:
        """Run ``write(first)`` (see ``_write``) in the lock's transaction, or in one of its
        own outside it."""
        seq = self._txn_seq
        if seq is None:
            self._write(write)
            return
        try:
            self._txn_seq = write(seq + 1)
        except sqlite3.Error as exc:
            raise _translate(exc, f"write to {self.location} failed") from exc
        self._txn_wrote = True

    def _put_columns(self, cols: Columns, first: int) -> int:
        # Patterns of one task share one terms text: joined once.
        joined = {terms: " ".join(terms) for terms in set(cols.terms)}
        vectors = cols.embedding
        text = (
            cols.ids, cols.task_category, cols.strategy, cols.created_at, cols.updated_at,
            cols.body, map(joined.__getitem__, cols.terms),
        )  # fmt: skip
        numbers = range(first, first + len(cols.ids))
        if vectors:
            blobs = map(_pack, map(vectors.get, range(len(cols.ids))))
            self._conn.executemany(_INSERT, zip(*text, blobs, numbers, strict=True))
        else:
            self._conn.executemany(_INSERT_TEXT, zip(*text, numbers, strict=True))
        self._txn_rows += len(cols.ids)
        if self._tombstones_before(first):
            self._conn.executemany(_UNTOMB, zip(cols.ids))
        cols.rowids = numbers
        return numbers[-1]

    def _put(self, records: list[Record], delete: Sequence[str], first: int) -> int:
        """Write ``records`` (each leaves its old row, if stored, and gets its new row's
        number) and delete ``delete``."""
        if len(records) == 1 and not delete:  # the common single store: one row, no layers
            r = records[0]
            self._clear((r.id,))
            vector = r.embedding is not None
            values = _values(r, " ".join(r.terms), first, vector)
            self._cursor.execute(_INSERT if vector else _INSERT_TEXT, values)
            if self._tombstones_before(first):
                self._cursor.execute(_UNTOMB, (r.id,))
            r.rowid = first
            return first
        every = records
        latest = {r.id: r for r in records}  # an id twice: its last record is the one stored
        if len(latest) < len(records):
            records = list(latest.values())
        self._clear(list(latest))
        joined: dict[int, str] = {}  # patterns of one task share one terms tuple: join once
        # Made one at a time: a bulk store never holds every row at once.
        rows = (
            _values(
                r,
                joined.get(id(r.terms)) or joined.setdefault(id(r.terms), " ".join(r.terms)),
                seq,
            )
            for r, seq in zip(records, count(first))
        )
        if records:
            self._conn.executemany(_INSERT, rows)
            self._txn_rows += len(records)
        if records and self._tombstones_before(first):
            self._conn.executemany(_UNTOMB, ((r.id,) for r in records))
        for r, seq in zip(records, count(first)):
            r.rowid = seq
        if every is not records:
            for r in every:
                r.rowid = latest[r.id].rowid
        last = first + len(records)  # the deletes' number: one after the rows'
        if delete:
            self._remove(delete, last)
            return last
        return last - 1

    def _clear(self, ids: Sequence[str]) -> None:
        """Delete the stored rows of ``ids``: each by its number as the bank knows it; by a
        search of the whole table where the number is stale (another process rewrote the
        row: the bank catches up before it writes, so only a caller that did not) or where
        the store has no bank to ask. An id new to the bank has no row to delete."""
        alone = self.rowids_of is None
        for pid, rowid in zip(ids, self._rowids(ids), strict=True):
            if rowid:
                if self._cursor.execute(_DELETE_ROW, (rowid, pid)).rowcount:
                    continue
            elif not alone:
                continue
            self._cursor.execute(_DELETE_ID, (pid,))

    def _tombstones_before(self, seq: int) -> bool:
        """Whether the tombstones table may hold rows (a stored id must clear its own)
        inside the transaction stamping ``seq``; asks SQLite only when another writer or a
        delete came since it was last known empty."""
        known = self._txn_base if self._txn_seq is not None else seq - 1
        if self._no_tombstones_at == known:
            return False
        if self._cursor.execute(_ANY_TOMBSTONE).fetchone()[0]:
            return True
        self._no_tombstones_at = known
        return False

    def _remove(self, ids: Sequence[str], seq: int) -> int:
        """Delete ``ids``, leaving tombstones stamped ``seq`` (returned)."""
        self._no_tombstones_at = None
        self._clear(ids)
        self._conn.executemany(
            "INSERT OR REPLACE INTO tombstones (id, seq) VALUES (?, ?)", [(i, seq) for i in ids]
        )
        return seq

    async def get(self, pattern_id: str) -> Record | None:
        rowid = self._rowids((pattern_id,))[0]
        rows = []
        if rowid:
            sql = f"SELECT {_READ} FROM patterns WHERE seqno = ? AND pattern_id = ?"
            rows = self._read(sql, (rowid, pattern_id))
        if not rows:  # unknown, or rewritten since the bank caught up: search for it
            rows = self._read(f"SELECT {_READ} FROM patterns WHERE pattern_id = ?", (pattern_id,))
        return _row(rows[0]) if rows else None

    async def delete(self, ids: list[str]) -> None:
        if not ids:
            return
        self._apply(lambda first: self._remove(ids, first))

    async def by_category(self, category: str, limit: int) -> list[Record]:
        rows = self._read(
            f"SELECT {_READ} FROM patterns WHERE task_category = ? "
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
        if self.read_only:
            raise ReadOnlyBank(
                f"{self.location} is read-only (opened from a read-only file or mount)"
            )
        try:
            self._exec(
                "INSERT OR REPLACE INTO rb_meta (key, value) VALUES (?, ?)", ("x:" + key, value)
            )
        except sqlite3.Error as exc:
            raise _translate(exc, f"write to {self.location} failed") from exc
        if self._txn_seq is not None:
            self._txn_wrote = True  # inside write_lock: commits with the block

    async def changes(self) -> Changes | None:
        """Rows other connections committed since the last call; None, cheaply, when there
        are none."""
        # Inside write_lock there is no cached shortcut: the sequence number alone decides
        # (the data version is refreshed by the next call outside the lock); the lock read
        # it already, so no statement runs when nobody else wrote.
        locked = self._txn_seq is not None
        try:
            if not locked:
                version = self._pragma("data_version")
                if version == self._data_version:
                    return None
                self._data_version = version
                current = self._current_seq()
            else:
                current = self._txn_base
        except sqlite3.Error as exc:
            raise StorageError(f"read from {self.location} failed: {exc}") from exc
        seen, self._seen_seq = self._seen_seq, current
        if current == seen:
            return None
        # Up to ``current``: rows this transaction wrote already are not news.
        upserted = self._read(
            f"SELECT {_READ} FROM patterns WHERE seqno > ? AND seqno <= ? ORDER BY seqno",
            (seen, current),
        )
        deleted = self._read(
            "SELECT id FROM tombstones WHERE seq > ? AND seq <= ?", (seen, current)
        )
        return Changes([_row(r) for r in upserted], [d[0] for d in deleted])

    async def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.join()  # its connection closes first: ours checkpoints last
        try:
            self._conn.close()
        except sqlite3.Error as exc:  # pragma: no cover - close rarely fails
            raise StorageError(f"closing {self.location} failed: {exc}") from exc


class _WriteLock:
    """``SqliteStore.write_lock``'s block: a class, not a generator, because every single
    store enters one (a generator-based context manager costs several microseconds more)."""

    __slots__ = ("_store",)

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    async def __aenter__(self) -> None:
        self._store._lock()

    async def __aexit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self._store._unlock(kind is None)


def _checkpoint(uri: str, synchronous: str) -> None:
    """Copy the WAL into the bank file from a connection of its own (``PASSIVE``: it waits
    for nobody). A failure is left to the next commit's own checkpoint."""
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=0)
        try:
            conn.execute(f"PRAGMA synchronous={synchronous}")
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()
    except sqlite3.Error:
        pass


#: The schema whose step rewrites the patterns table: a bank older than it keeps the old
#: table's pages free after migrating (~45 % of the file) unless they are given back.
_REWRITTEN_AT = 6


def _give_back_pages(conn: sqlite3.Connection) -> None:
    """``VACUUM`` a bank that just migrated past ``_REWRITTEN_AT``, once (0.4 s at 100,000
    patterns). Not while another connection writes (it waits for no one: the open sets the
    busy timeout again after it): then the free pages stay, and new rows reuse them."""
    try:
        conn.execute("PRAGMA busy_timeout=0")
        conn.execute("VACUUM")
    except sqlite3.Error:
        pass


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring ``conn``'s bank to ``SCHEMA_VERSION``; the caller holds the write transaction."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    for step in range(current + 1, SCHEMA_VERSION + 1):
        for statement in _MIGRATIONS[step].split(";"):
            if statement.strip():
                conn.execute(statement)
    conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


def _create(path: str, busy_timeout: float) -> None:
    """Make a complete, empty bank at ``path`` unless one appears there first.

    Why a temporary file: the schema, the WAL mode and the 0600 mode are all in place
    before the name exists, and ``os.link`` publishes it atomically (it fails if another
    process won the race, which is fine: theirs is just as complete).
    """
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise StorageError(f"cannot create {path}: folder {parent} does not exist")
    tmp = os.path.join(parent, f".{os.path.basename(path)}.{os.getpid()}.{os.urandom(4).hex()}.new")
    try:
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        conn = sqlite3.connect(tmp, isolation_level=None, timeout=busy_timeout)
        try:
            conn.execute("BEGIN IMMEDIATE")
            _migrate(conn)
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode=WAL")
        finally:
            conn.close()  # the last connection checkpoints and removes tmp's -wal and -shm
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created the bank first
        except OSError:
            if not os.path.exists(path):  # no hard links here (some file systems)
                os.replace(tmp, path)
    except sqlite3.Error as exc:
        raise _translate(exc, f"cannot create {path}") from exc
    except OSError as exc:
        raise StorageError(f"cannot create {path}: {exc.strerror or exc}") from exc
    finally:
        for leftover in (tmp, tmp + "-wal", tmp + "-shm"):
            try:
                os.unlink(leftover)
            except FileNotFoundError:
                pass


def _writable(path: str) -> bool:
    """Whether we may write the bank: the file and (for -wal/-shm) its folder."""
    folder = os.path.dirname(os.path.abspath(path))
    if not (os.access(path, os.W_OK) and os.access(folder, os.W_OK)):
        return False
    try:
        return not os.statvfs(path).f_flag & os.ST_RDONLY
    except (AttributeError, OSError):  # no statvfs (Windows) or an odd file system
        return True


def _is_busy(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _translate(exc: sqlite3.Error, what: str) -> StorageError:
    """A sqlite3 error as ours, worded for the user: a full disk says so."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL:
        return StorageError(f"{what}: disk full; nothing from this write was stored")
    if code == sqlite3.SQLITE_READONLY:
        return ReadOnlyBank(f"{what}: the bank is read-only")
    return StorageError(f"{what}: {exc}")


def _quote_path(path: str) -> str:
    """Percent-escape the characters SQLite URIs treat specially."""
    return path.replace("%", "%25").replace("?", "%3f").replace("#", "%23")
