"""The durable write path in SQL: the sequence number is read from the rows (no counter
page written), a tombstone is cleared only when one can exist, a lock that wrote nothing
leaves no trace, and older files migrate: schemas 2 (two unread indexes dropped), 3 (no
counter row) and 5 (the sequence number is the rowid)."""

import os
import sqlite3

import pytest

from reasoningbank import ReasoningBank
from reasoningbank.model import Pattern
from reasoningbank.storage.sqlite import _CURRENT, _MIGRATIONS, APPLICATION_ID, SCHEMA_VERSION
from reasoningbank.text import analyze
from tests.conftest import pattern, run


def _statements(bank, action):
    seen: list[str] = []
    conn = bank._store._conn
    # Lines starting "--" trace statements SQLite runs nested inside one of ours.
    conn.set_trace_callback(lambda sql: sql.startswith("--") or seen.append(sql))
    try:
        run(action)
    finally:
        conn.set_trace_callback(None)
    return seen


def _seq(path):
    with sqlite3.connect(path) as conn:
        return int(conn.execute(_CURRENT).fetchone()[0])


def test_a_single_store_runs_four_statements(db_path):
    """BEGIN IMMEDIATE, whether anyone else committed (``data_version``), the row, COMMIT:
    the sequence number is our own last one, the catch-up needs no read of its own and no
    tombstone can exist for a fresh id."""
    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    run(bank.store_pattern(pattern("first store learns there are no tombstones")))
    seen = _statements(bank, bank.store_pattern(pattern("a single durable store")))
    run(bank.close())
    assert len(seen) == 4, seen
    assert seen[0] == "BEGIN IMMEDIATE" and seen[-1] == "COMMIT"
    assert seen[1] == "PRAGMA data_version"
    assert seen[2].startswith("INSERT INTO patterns")
    assert _seq(db_path) == 2


def test_a_write_after_another_connections_commit_reads_the_sequence_number(db_path):
    """Another connection committed since our last write: its number is read, not our own
    remembered one, so ours comes after it and ``changes()`` reports its row."""
    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    other = run(ReasoningBank.open(db_path, dedup_threshold=None))
    run(bank.store_pattern(pattern("ours first")))
    for turn in range(3):
        theirs = run(other.store_pattern(pattern(f"theirs {turn}")))
        stamped_by_them = _seq(db_path)
        seen = _statements(bank, bank.store_pattern(pattern(f"ours {turn}")))
        assert any("max(seq)" in sql for sql in seen), seen
        assert _seq(db_path) == stamped_by_them + 1
        assert run(bank.get_pattern(theirs)) is not None  # caught up inside the lock
    seen = _statements(bank, bank.store_pattern(pattern("ours again")))
    assert not any("max(seq)" in sql for sql in seen), seen  # nobody wrote: remembered
    assert _seq(db_path) == 1 + 2 * 3 + 1
    assert run(other.get_stats())["total_patterns"] == 8  # the other saw every write
    run(other.close())
    run(bank.close())


def test_a_single_store_commits_one_page(db_path):
    """The table's last page: no counter row is written (it was a fourth page in every
    commit), the sequence number is the row's rowid (its own index was a third) and the id
    has no index (the second)."""
    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    run(bank.store_pattern(pattern("the first store")))
    wal = db_path + "-wal"
    for text in ("a second store", "a third store"):
        before = os.path.getsize(wal)
        run(bank.store_pattern(pattern(text)))
        page = bank._store._pragma("page_size")
        assert (os.path.getsize(wal) - before) / (page + 24) == 1  # WAL frame: 24-byte header
    run(bank.close())


def test_a_tombstone_another_process_left_is_cleared_when_its_id_comes_back(db_path):
    """Our connection knew the tombstones table empty; another one deleted a pattern since.
    Storing that id again must clear its tombstone, or a third connection catching up would
    be told it was deleted."""
    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    run(bank.store_pattern(pattern("kept", id="kept")))
    run(bank.store_pattern(pattern("comes back", id="back")))  # no tombstones: none cleared
    other = run(ReasoningBank.open(db_path, dedup_threshold=None))
    watcher = run(ReasoningBank.open(db_path, dedup_threshold=None))
    run(other.delete_pattern("back"))
    run(bank.store_pattern(pattern("comes back again", id="back")))
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM tombstones").fetchone()[0] == 0
    changes = run(watcher._store.changes())
    assert [r.id for r in changes.upserted] == ["back"] and changes.deleted == []
    assert run(other.get_pattern("back")).task_description == "comes back again"
    # and our own delete: the next store of that id clears it too
    run(bank.delete_pattern("kept"))
    run(bank.store_pattern(pattern("kept again", id="kept")))
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM tombstones").fetchone()[0] == 0
    for b in (bank, other, watcher):
        run(b.close())


def test_a_lock_that_writes_nothing_changes_nothing(db_path):
    """The sequence number bumped when the lock was taken is rolled back with the empty
    block: other connections see no new data version, and the next write takes that
    number."""
    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    run(bank.store_pattern(pattern("one")))
    before = _seq(db_path)
    watcher = sqlite3.connect(db_path)
    version = watcher.execute("PRAGMA data_version").fetchone()[0]

    async def empty() -> None:
        async with bank._writing():
            pass

    for _ in range(3):
        run(empty())
    assert _seq(db_path) == before
    assert watcher.execute("PRAGMA data_version").fetchone()[0] == version
    with pytest.raises(RuntimeError):

        async def failing() -> None:
            async with bank._writing() as batch:
                batch.delete = ["nothing"]
                raise RuntimeError("refused")

        run(failing())
    assert _seq(db_path) == before
    run(bank.store_pattern(pattern("two")))
    assert _seq(db_path) == before + 1
    watcher.close()
    run(bank.close())


def test_a_lock_that_writes_only_metadata_stamps_no_number(db_path):
    """A block that only sets metadata commits but stamps no row: the next commit (here
    another process's) takes the number after the last stamped one, and this bank's
    catch-up must still see it."""
    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    other = run(ReasoningBank.open(db_path, dedup_threshold=None))
    run(bank.store_pattern(pattern("one")))
    run(other._store.changes())

    async def meta_only() -> None:
        async with bank._store.write_lock():
            await bank._store.set_meta("note", "kept")

    run(meta_only())
    assert run(bank._store.get_meta("note")) == "kept"
    stored = run(other.store_pattern(pattern("from the other process")))
    assert [r.id for r in run(bank._store.changes()).upserted] == [stored]
    run(bank.close())
    run(other.close())


def test_the_sequence_number_never_goes_back(db_path):
    """Deleting the newest pattern, storing its id again, deleting everything: every step
    gets a larger number, so a watcher catching up after each is told exactly that step."""
    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    watcher = run(ReasoningBank.open(db_path, dedup_threshold=None))
    steps = [
        (bank.store_patterns([pattern("a", id="a"), pattern("b", id="b")]), ["a", "b"], []),
        (bank.delete_pattern("b"), [], ["b"]),
        (bank.store_pattern(pattern("b again", id="b")), ["b"], []),
        (bank.delete_pattern("b"), [], ["b"]),
        (bank.delete_pattern("a"), [], ["a"]),
        (bank.store_pattern(pattern("c", id="c")), ["c"], []),
    ]
    last = _seq(db_path)
    for action, upserted, deleted in steps:
        run(action)
        now = _seq(db_path)
        assert now > last
        last = now
        changes = run(watcher._store.changes())
        assert sorted(r.id for r in changes.upserted) == upserted
        assert changes.deleted == deleted
    run(bank.close())
    run(watcher.close())


def _schema_1_bank(path, rows=()):
    """A bank file as schema 1 wrote it, holding ``rows`` (``_V1_ROW``'s columns), with its
    counter row at the last sequence number they hold."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    for statement in _MIGRATIONS[1].split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.executemany(_V1_ROW, rows)
    last = max((r[-1] for r in rows), default=0)
    conn.execute("UPDATE rb_meta SET value = ? WHERE key = 'seq'", (str(last),))
    conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
    conn.execute("PRAGMA user_version=1")
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()


_V1_ROW = (
    "INSERT INTO patterns (id, task_category, strategy, created_at, updated_at, body, terms, seq)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def _v1_rows(texts_and_seqs):
    """Rows as schema 1 wrote them: the whole pattern in the body, one sequence number per
    commit (a batch's rows share it)."""
    rows = []
    for i, (text, seq) in enumerate(texts_and_seqs):
        p = Pattern.from_dict(pattern(text), new_id=f"v1-{i}", now=1_700_000_000.0 + i)
        rows.append((p.id, p.task_category, p.strategy, p.metadata.created_at,
                     p.metadata.updated_at, p.body_json(), " ".join(analyze(text)), seq))  # fmt: skip
    return rows


def test_a_schema_1_bank_migrates_and_keeps_its_patterns(tmp_path):
    """Through every step: two unread indexes dropped (2), no counter row (3), bodies without
    their columns (4: nothing to rewrite), one sequence number a row, as its rowid (5), no
    index on the id (6)."""
    path = str(tmp_path / "old.db")
    texts = [("refresh the oauth token", 1), ("pool leak", 1), ("rotate the keys", 2)]
    _schema_1_bank(path, _v1_rows(texts))
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO tombstones (id, seq) VALUES ('gone', 2)")
    bank = run(ReasoningBank.open(path, dedup_threshold=None))
    assert [p.id for p in run(bank.all_patterns())] == ["v1-0", "v1-1", "v1-2"]
    assert [p.task_description for p in run(bank.all_patterns())] == [t for t, _ in texts]
    assert run(bank.find_similar("oauth token"))[0].pattern.id == "v1-0"
    run(bank.store_pattern(pattern("after the migration")))
    run(bank.close())
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
        assert conn.execute("SELECT count(*) FROM rb_meta WHERE key = 'seq'").fetchone()[0] == 0
        indexes = "SELECT name, tbl_name FROM sqlite_master WHERE type='index'"
        assert [t for _, t in conn.execute(indexes)] == ["rb_meta", "tombstones", "tombstones"]
        numbered = conn.execute(
            "SELECT pattern_id, seqno, rowid FROM patterns ORDER BY rowid"
        ).fetchall()
        assert [(pid, n) for pid, n, _ in numbered[:3]] == [("v1-0", 1), ("v1-1", 2), ("v1-2", 3)]
        assert all(n == rowid for _, n, rowid in numbered) and numbered[3][1] == 4
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0  # the old table's pages
        assert conn.execute(_CURRENT).fetchone()[0] == 4
        # a version that still writes ``seq`` fails loudly instead of replacing a row
        with pytest.raises(sqlite3.OperationalError, match="no column named (id|seq)"):
            conn.execute(_V1_ROW, _v1_rows([("an older writer", 5)])[0])
        with pytest.raises(sqlite3.OperationalError, match="no such column: seq"):
            conn.execute("SELECT pattern_id FROM patterns WHERE seq > 0")  # and its catch-up
        # one that still replaces rows by id (schema 5) fails loudly instead of adding a row
        with pytest.raises(sqlite3.OperationalError, match="no column named id"):
            conn.execute(
                "INSERT OR REPLACE INTO patterns (id, task_category, strategy, created_at,"
                " updated_at, body, terms, seqno) VALUES ('v1-0', 'c', 's', 1, 1, '{}', '', 9)"
            )
    # the store's own category read still answers without its index
    bank = run(ReasoningBank.open(path, dedup_threshold=None))
    newest = run(bank._store.by_category("backend", 2))
    assert [r.id for r in newest][1:] == ["v1-2"]
    run(bank.close())


def test_a_stored_id_written_again_keeps_one_row(db_path):
    """The id has no index to refuse a second row: the bank replaces a stored pattern's row
    by its number, whichever way the pattern comes back (one by one, in a batch, merged)."""
    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    run(bank.store_pattern(pattern("kept once", id="taken")))
    run(bank.store_patterns([pattern("written again", id="taken"), pattern("new one")]))
    run(bank.store_pattern(pattern("and again", id="taken")))
    run(bank.record_outcome("taken", True))
    run(bank.close())
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT body FROM patterns WHERE pattern_id = 'taken'").fetchall()
        assert len(rows) == 1 and '"and again"' in rows[0][0]
        assert conn.execute("SELECT count(*) FROM patterns").fetchone()[0] == 2
    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    assert [p.task_description for p in run(bank.all_patterns())] == ["new one", "and again"]
    run(bank.close())


def test_giving_pages_back_after_a_migration_waits_for_no_writer(tmp_path):
    """``VACUUM`` needs the write lock: while another connection holds it, the open goes on
    at once without it (new rows reuse the free pages)."""
    import time

    from reasoningbank.storage.sqlite import _give_back_pages

    path = str(tmp_path / "old.db")
    _schema_1_bank(path, _v1_rows([(f"task number {i}", 1) for i in range(300)]))
    conn = sqlite3.connect(path, isolation_level=None, timeout=10)
    conn.execute("DELETE FROM patterns WHERE seq = 1")  # pages to give back
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        _give_back_pages(conn)
        assert time.monotonic() - started < 1  # no wait for the busy timeout
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] > 0
    finally:
        writer.close()
    _give_back_pages(conn)
    assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0
    conn.close()
