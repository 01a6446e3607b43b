"""The durable write path in SQL: one statement reads and bumps the sequence number, a
tombstone is cleared only when one can exist, a lock that wrote nothing leaves no trace,
and schema 2 (two unread indexes dropped) migrates older files."""

import sqlite3

import pytest

from reasoningbank import ReasoningBank
from reasoningbank.storage import sqlite as sqlite_store
from reasoningbank.storage.sqlite import _MIGRATIONS, APPLICATION_ID, SCHEMA_VERSION
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
        return int(conn.execute("SELECT value FROM rb_meta WHERE key = 'seq'").fetchone()[0])


def test_a_single_store_runs_four_statements(db_path):
    """BEGIN IMMEDIATE, the sequence number read and bumped at once, the row, COMMIT: the
    catch-up needs no read of its own and no tombstone can exist for a fresh id."""
    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    run(bank.store_pattern(pattern("first store learns there are no tombstones")))
    seen = _statements(bank, bank.store_pattern(pattern("a single durable store")))
    run(bank.close())
    assert len(seen) == 4, seen
    assert seen[0] == "BEGIN IMMEDIATE" and seen[-1] == "COMMIT"
    assert "RETURNING" in seen[1] and seen[2].startswith("INSERT OR REPLACE INTO patterns")


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


def test_without_returning_the_sequence_is_read_then_written(db_path, monkeypatch):
    """SQLite before 3.35 has no RETURNING: the same numbers, from two statements."""
    monkeypatch.setattr(sqlite_store, "_HAS_RETURNING", False)
    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    other = run(ReasoningBank.open(db_path, dedup_threshold=None))
    start = _seq(db_path)
    run(bank.store_pattern(pattern("from the first")))
    run(other.store_pattern(pattern("from the second")))
    run(bank.store_patterns([pattern("a batch"), pattern("of two")]))
    assert _seq(db_path) == start + 3
    assert len(run(other.all_patterns())) == 4 and len(run(bank.all_patterns())) == 4
    seen = _statements(bank, bank.store_pattern(pattern("traced")))
    assert "RETURNING" not in " ".join(seen) and len(seen) == 5, seen
    run(bank.close())
    run(other.close())


def _schema_1_bank(path):
    """A bank file as schema 1 wrote it, with two patterns."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    for statement in _MIGRATIONS[1].split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
    conn.execute("PRAGMA user_version=1")
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()


def test_a_schema_1_bank_migrates_to_schema_2_and_keeps_its_patterns(tmp_path):
    path = str(tmp_path / "old.db")
    _schema_1_bank(path)
    bank = run(ReasoningBank.open(path, dedup_threshold=None))
    stored = run(bank.store_patterns([pattern("refresh the oauth token"), pattern("pool leak")]))
    run(bank.close())
    # an older bank with data: take the file back to schema 1 as that version left it
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE INDEX patterns_by_category ON patterns (task_category, created_at)")
        conn.execute("CREATE INDEX patterns_by_created ON patterns (created_at)")
        conn.execute("PRAGMA user_version=1")
    bank = run(ReasoningBank.open(path, dedup_threshold=None))
    assert [p.id for p in run(bank.all_patterns())] == stored
    assert run(bank.find_similar("oauth token"))[0].pattern.id == stored[0]
    run(bank.store_pattern(pattern("after the migration")))
    run(bank.close())
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert "patterns_by_seq" in names
        assert not {"patterns_by_category", "patterns_by_created"} & names
        assert conn.execute("SELECT count(*) FROM patterns").fetchone()[0] == 3
    # the store's own category read still answers without its index
    bank = run(ReasoningBank.open(path, dedup_threshold=None))
    newest = run(bank._store.by_category("backend", 2))
    assert [r.id for r in newest][1:] == [stored[1]]
    run(bank.close())
