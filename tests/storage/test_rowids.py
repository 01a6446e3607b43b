"""Rows are found by number, not by id (schema 6: the id has no index).

The bank keeps each pattern's row number (``SlotTable.rowids``); these tests hold it to
the table SQLite has after every kind of write, and show that a number gone stale, or a
store used without a bank, still never leaves two rows for one id.
"""

from __future__ import annotations

import sqlite3

from reasoningbank import ReasoningBank
from reasoningbank.storage.base import Record
from reasoningbank.storage.sqlite import SqliteStore
from tests.conftest import pattern, run

#: Statements that search the whole table for an id: only for numbers unknown or stale.
BY_ID = ("WHERE pattern_id = ?", "WHERE pattern_id IN")


def stored(path: str) -> dict[str, int]:
    """id -> row number, as SQLite holds them; every id exactly once."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT pattern_id, seqno FROM patterns").fetchall()
    assert len({pid for pid, _ in rows}) == len(rows), rows
    return dict(rows)


def known(bank: ReasoningBank) -> dict[str, int]:
    """id -> row number, as the bank's table holds them."""
    table = bank._table
    return {pid: table.rowids[slot] for pid, slot in table.slot.items()}


def test_the_bank_knows_every_rows_number_after_every_kind_of_write(db_path):
    bank = run(ReasoningBank.open(db_path, dedup_threshold=0.9))
    other = run(ReasoningBank.open(db_path, dedup_threshold=None))
    searches: list[str] = []
    bank._store.tracer = lambda sql, params: searches.append(sql)
    bulk = run(bank.store_patterns([pattern(f"bulk task {i}") for i in range(50)]))
    single = run(bank.store_pattern(pattern("one on its own", context={"k": 1})))
    assert known(bank) == stored(db_path)
    run(bank.store_pattern(pattern("one on its own", context={"k": 1})))  # merged
    run(bank.record_outcome(bulk[3], False))
    run(bank.store_patterns([pattern("given back", id=bulk[7]), pattern("new in a batch")]))
    run(bank.delete_pattern(bulk[9]))
    run(bank.consolidate())
    assert known(bank) == stored(db_path)
    # another process rewrites, adds and deletes: the catch-up brings their numbers
    run(other.record_outcome(bulk[4], True))
    theirs = run(other.store_pattern(pattern("theirs")))
    run(other.delete_pattern(bulk[5]))
    assert run(bank.get_pattern(bulk[4])).metadata.usage_count == 1
    assert known(bank) == stored(db_path) and theirs in known(bank)
    run(bank.find_similar("bulk task", top_k=20))
    assert not [sql for sql in searches if any(s in sql for s in BY_ID)]
    run(other.close())
    run(bank.close())
    # reopened from the snapshot (no row read) and from the rows
    for drop_snapshot in (False, True):
        if drop_snapshot:
            with sqlite3.connect(db_path) as conn:
                conn.execute("DELETE FROM rb_meta WHERE key = 'index-snapshot'")
        again = run(ReasoningBank.open(db_path, dedup_threshold=None))
        assert known(again) == stored(db_path)
        assert run(again.get_pattern(single)) is not None
        run(again.close())


def test_a_stale_number_still_replaces_the_one_row_of_its_id(db_path):
    """A write from a bank that did not catch up (the bank always does; the store does not
    rely on it): the row its number names is gone, so the id is searched for."""
    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    other = run(ReasoningBank.open(db_path, dedup_threshold=None))
    pid = run(bank.store_pattern(pattern("rewritten twice")))
    run(other.record_outcome(pid, True))  # a new row: the bank's number for pid is stale
    assert known(bank)[pid] != stored(db_path)[pid]
    record = bank._table.records[pid]
    rewrite = Record(pid, "backend", "test-driven", 1.0, 2.0, '{"task_description":"x"}',
                     record.terms)  # fmt: skip
    run(bank._store.put([rewrite]))
    assert stored(db_path)[pid] == rewrite.rowid  # one row, the new one
    run(bank._store.delete([pid]))
    assert pid not in stored(db_path)
    run(other.close())
    run(bank.close())


def test_a_store_without_a_bank_replaces_and_deletes_by_id(db_path):
    def record(pid: str, body: str) -> Record:
        return Record(pid, "c", "s", 1.0, 1.0, body, ["t"])

    async def go() -> None:
        store = SqliteStore.open(db_path)
        try:
            await store.put([record("a", '{"v":1}'), record("b", '{"v":1}')])
            await store.put([record("a", '{"v":2}')])
            await store.put([record("b", '{"v":2}'), record("b", '{"v":3}')])
            assert (await store.get("a")).body == '{"v":2}'
            assert (await store.get("b")).body == '{"v":3}'
            assert await store.count() == 2
            await store.delete(["a", "unknown"])
            assert await store.get("a") is None and await store.count() == 1
            assert store.read_bodies(["b", "a"]) == {"b": '{"v":3}'}
        finally:
            await store.close()

    run(go())
    assert list(stored(db_path)) == ["b"]


def test_an_open_that_rewrites_every_row_knows_their_new_numbers(db_path):
    """An open under a newer analyzer stores every row again (new terms): the bank must hold
    the rows' new numbers, or each later read searches the whole table."""
    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    run(bank.store_patterns([pattern(f"refresh oauth token {i}") for i in range(5)]))
    run(bank.close())
    with sqlite3.connect(db_path) as conn:  # as an older analyzer left it
        conn.execute("UPDATE rb_meta SET value = 'lex-0' WHERE key = 'x:analyzer'")
    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    assert known(bank) == stored(db_path)
    run(bank.close())
