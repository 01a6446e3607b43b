"""A large write leaves its checkpoint (copying the WAL into the bank file) to a thread:
the writer goes on once its commit is durable, and nothing is lost or hidden meanwhile."""

import os
import sqlite3
import threading

from reasoningbank import ReasoningBank
from reasoningbank.storage import sqlite as sqlite_store
from tests.conftest import pattern, run

N = sqlite_store._CHECKPOINT_AFTER_ROWS


def batch(n: int, tag: str) -> list[dict]:
    return [pattern(f"{tag} rotate the tls certificate of host {i}") for i in range(n)]


def test_a_large_write_returns_before_its_checkpoint_and_loses_nothing(db_path, monkeypatch):
    release = threading.Event()
    done = []
    checkpoint = sqlite_store._checkpoint

    def held(uri: str, synchronous: str) -> None:
        release.wait(30)
        checkpoint(uri, synchronous)
        done.append(uri)

    monkeypatch.setattr(sqlite_store, "_checkpoint", held)
    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    empty_file = os.path.getsize(db_path)
    ids = run(bank.store_patterns(batch(N, "bulk")))
    # Committed, and still only in the WAL: the writer did not copy it into the file.
    assert os.path.getsize(db_path) == empty_file
    assert os.path.getsize(db_path + "-wal") > N * 150
    # Meanwhile: the bank writes and answers, another process sees every pattern.
    one = run(bank.store_pattern(pattern("one more while the checkpoint waits")))
    assert run(bank.find_similar("tls certificate of host 7", top_k=1))[0].pattern.id == ids[7]
    other = sqlite3.connect(db_path)
    assert other.execute("SELECT count(*) FROM patterns").fetchone()[0] == N + 1
    other.close()
    release.set()
    bank._store._checkpointer.join(30)
    assert done and os.path.getsize(db_path) > N * 150  # now in the file
    run(bank.close())
    assert not os.path.exists(db_path + "-wal")  # the last close checkpointed the rest
    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    assert {p.id for p in run(bank.all_patterns())} == {*ids, one}
    run(bank.close())


def test_close_waits_for_the_checkpoint(db_path, monkeypatch):
    started = threading.Event()
    checkpoint = sqlite_store._checkpoint

    def slow(uri: str, synchronous: str) -> None:
        started.set()
        threading.Event().wait(0.3)
        checkpoint(uri, synchronous)

    monkeypatch.setattr(sqlite_store, "_checkpoint", slow)
    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    run(bank.store_patterns(batch(N, "bulk")))
    assert started.wait(10)
    thread = bank._store._checkpointer
    run(bank.close())
    assert not thread.is_alive()
    assert not os.path.exists(db_path + "-wal")


def test_small_writes_checkpoint_as_sqlite_does(db_path, monkeypatch):
    calls = []
    monkeypatch.setattr(sqlite_store, "_checkpoint", lambda *a: calls.append(a))
    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    run(bank.store_patterns(batch(N - 1, "small")))
    for i in range(3):
        run(bank.store_pattern(pattern(f"single {i}")))
    assert calls == [] and bank._store._checkpointer is None
    run(bank.close())
