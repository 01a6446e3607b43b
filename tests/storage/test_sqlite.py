import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from reasoningbank import NotABank, ReasoningBank, SchemaTooNew, StorageError
from reasoningbank.storage.sqlite import SCHEMA_VERSION
from tests.conftest import pattern, run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def child(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_schema_is_wal_with_indexes_and_user_version(db_path):
    bank = run(ReasoningBank.open(db_path))
    run(bank.store_pattern(pattern("x y", embedding=[0.5, 0.25])))
    run(bank.close())
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    # catch-up reads rows by sequence number: their rowid since schema 5, no index of its own;
    # nothing reads the two indexes schema 2 dropped
    assert "tombstones_by_seq" in names
    assert not {"patterns_by_seq", "patterns_by_category", "patterns_by_created"} & names
    assert conn.execute("SELECT count(*) FROM patterns WHERE rowid = seqno").fetchone()[0] == 1
    blob = conn.execute("SELECT embedding FROM patterns").fetchone()[0]
    assert isinstance(blob, bytes) and len(blob) == 8  # two float32s


def test_pattern_survives_kill_9_right_after_store_returns(db_path):
    proc = child(
        """
        import asyncio, sys, time
        from reasoningbank import ReasoningBank
        async def main():
            bank = await ReasoningBank.open(sys.argv[1])
            pid = await bank.store_pattern({"task_description": "survive a crash",
                "task_category": "ops", "strategy": "wal", "success_score": 1.0})
            print(pid, flush=True)
            time.sleep(60)
        asyncio.run(main())
    """,
        db_path,
    )
    try:
        pid = proc.stdout.readline().strip()
        assert pid, proc.stderr.read()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL
    bank = run(ReasoningBank.open(db_path))
    got = run(bank.get_pattern(pid))
    assert got is not None and got.task_description == "survive a crash"
    run(bank.close())


def test_a_file_that_is_not_a_bank_is_refused_and_untouched(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_bytes(b"my precious notes, not a database\n" * 200)
    before = text.read_bytes()
    with pytest.raises(NotABank, match="not modified"):
        run(ReasoningBank.open(str(text)))
    assert text.read_bytes() == before

    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.execute("INSERT INTO users VALUES ('ada')")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    with pytest.raises(NotABank, match="not a ReasoningBank"):
        run(ReasoningBank.open(str(other)))
    assert other.read_bytes() == before
    with pytest.raises(NotABank):
        run(ReasoningBank.open(str(tmp_path)))  # a directory


def test_newer_schema_is_refused_and_untouched(db_path):
    run(run(ReasoningBank.open(db_path)).close())
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaTooNew, match="upgrade"):
        run(ReasoningBank.open(db_path))
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    assert isinstance(SchemaTooNew("x"), StorageError)


def test_reopen_restores_everything_including_vectors_and_index(db_path):
    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    ids = run(
        bank.store_patterns(
            [
                pattern("rotate tls certificates", embedding=[1.0, 0.0]),
                pattern("tune kubernetes autoscaling", embedding=[0.0, 1.0]),
            ]
        )
    )
    run(bank.close())
    bank = run(ReasoningBank.open(db_path))
    assert run(bank.get_pattern(ids[0])).embedding == [1.0, 0.0]
    assert run(bank.find_similar("autoscaling kubernetes", top_k=1))[0].pattern.id == ids[1]
    assert run(bank.find_similar("x", embedding=[0.1, 0.9], top_k=1))[0].pattern.id == ids[1]
    run(bank.close())


def test_two_processes_write_and_read_one_file_concurrently(db_path):
    run(run(ReasoningBank.open(db_path)).close())
    writer = child(
        """
        import asyncio, sys
        from reasoningbank import ReasoningBank
        async def main():
            bank = await ReasoningBank.open(sys.argv[1], dedup_threshold=None)
            for i in range(150):
                await bank.store_pattern({"task_description": f"concurrent task {i}",
                    "task_category": "ops", "strategy": "s", "success_score": 0.5})
            await bank.close()
        asyncio.run(main())
    """,
        db_path,
    )
    reader = run(ReasoningBank.open(db_path))
    seen = []
    try:
        while writer.poll() is None:
            seen.append(run(reader.get_stats())["total_patterns"])
            run(reader.find_similar("concurrent task", top_k=3))
            time.sleep(0.005)
        assert writer.returncode == 0, writer.stderr.read()
        assert seen == sorted(seen)  # never goes backwards
        assert run(reader.get_stats())["total_patterns"] == 150  # picked up the other writer
        assert len(run(reader.find_similar("concurrent task 149", top_k=200))) == 150
    finally:
        writer.kill()
        run(reader.close())


def test_deletes_by_another_process_are_seen(db_path):
    bank = run(ReasoningBank.open(db_path))
    pid = run(bank.store_pattern(pattern("to be deleted elsewhere")))
    other = run(ReasoningBank.open(db_path))
    run(other.delete_pattern(pid))
    run(other.close())
    assert run(bank.get_pattern(pid)) is None
    assert run(bank.find_similar("deleted elsewhere")) == []
    run(bank.close())


def test_bank_written_by_an_older_analyzer_is_reindexed_on_open(db_path):
    bank = run(ReasoningBank.open(db_path))
    pid = run(bank.store_pattern(pattern("Refreshing OAuth tokens")))
    run(bank.close())
    conn = sqlite3.connect(db_path)  # simulate a bank written by an older analyzer
    conn.execute("UPDATE patterns SET terms = 'stale term'")
    conn.execute("UPDATE rb_meta SET value = 'lex-0' WHERE key = 'x:analyzer'")
    conn.commit()
    conn.close()
    progress = []
    bank = run(
        ReasoningBank.open(db_path, progress=lambda done, total: progress.append((done, total)))
    )
    assert run(bank.find_similar("refresh oauth token"))[0].pattern.id == pid
    assert run(bank.find_similar("stale term")) == []
    assert progress == [(1, 1)]
    run(bank.close())
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT terms FROM patterns").fetchone()[0] == "refresh oauth token"


def test_a_single_store_runs_six_statements_each_prepared_once(db_path):
    """Why: every statement of the durable single-store path costs microseconds; a sequence
    number baked into the SQL text defeated sqlite3's statement cache (one prepare per
    store). The write stays one BEGIN IMMEDIATE ... COMMIT with the catch-up read inside.
    SQLite asks the authorizer only while preparing, so a cached statement asks nothing."""
    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    conn = bank._store._conn
    prepared: list[int] = []
    conn.set_authorizer(lambda action, *_: prepared.append(action) or sqlite3.SQLITE_OK)
    run(bank.store_pattern(pattern("warm up the cache")))  # (setting it expired the cache)
    prepared.clear()
    seen: list[str] = []
    # Lines starting "--" trace statements SQLite runs nested inside one of ours.
    conn.set_trace_callback(lambda sql: sql.startswith("--") or seen.append(sql))
    run(bank.store_pattern(pattern("stored with every statement cached")))
    conn.set_trace_callback(None)
    conn.set_authorizer(None)
    run(bank.close())
    assert seen[0] == "BEGIN IMMEDIATE" and seen[-1] == "COMMIT"
    assert len(seen) <= 6, seen
    assert prepared == []


def test_two_writes_in_one_lock_get_consecutive_sequence_numbers(db_path):
    """Both writes of one ``write_lock`` are reported to another connection."""
    bank = run(ReasoningBank.open(db_path))
    other = run(ReasoningBank.open(db_path))
    a, b = pattern("first write in the lock"), pattern("second write in the lock")

    async def two_writes() -> None:
        async with bank._writing():
            store = bank._store
            rec_a = bank._record(model_pattern(a))[0]
            rec_b = bank._record(model_pattern(b))[0]
            await store.put([rec_a])
            await store.put([rec_b])

    run(two_writes())
    seqs = sqlite3.connect(db_path).execute("SELECT seqno FROM patterns ORDER BY seqno").fetchall()
    assert [s for (s,) in seqs] == [seqs[0][0], seqs[0][0] + 1]
    assert {p.task_description for p in run(other.all_patterns())} == {
        "first write in the lock",
        "second write in the lock",
    }
    run(bank.close())
    run(other.close())


def model_pattern(data):
    from reasoningbank.model import Pattern

    return Pattern.from_dict(data, new_id=os.urandom(8).hex(), now=time.time())


def test_a_bulk_store_of_deleted_ids_clears_their_tombstones(db_path):
    """A bulk write skips clearing tombstones only when the bank has none: ids deleted
    before and stored again must not be reported deleted to another connection."""
    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    stored = [pattern(f"restored pattern {i}", id=f"p{i}") for i in range(3)]
    run(bank.store_patterns(stored))
    run(bank.delete_pattern("p0"))
    run(bank.delete_pattern("p1"))
    other = run(ReasoningBank.open(db_path, dedup_threshold=None))
    run(bank.store_patterns(stored[:2] + [pattern("a new one", id="p3")]))
    changes = run(other._store.changes())
    assert sorted(r.id for r in changes.upserted) == ["p0", "p1", "p3"]
    assert changes.deleted == []
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT count(*) FROM tombstones").fetchone()[0] == 0
    conn.close()
    run(other.close())
    run(bank.close())
