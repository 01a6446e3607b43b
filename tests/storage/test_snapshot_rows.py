"""A bank without vectors opens from its index snapshot alone: no row is read while the
snapshot's tag matches. What it holds must be exactly what reading every row gives, in
the same order, and a damaged or older snapshot must only cost reading the rows."""

import gc
import sqlite3
import struct

from reasoningbank import ReasoningBank
from reasoningbank.storage.sqlite import SqliteStore
from tests.conftest import pattern, run
from tests.storage.test_snapshot import parsed_state, state

HEAD = struct.Struct("=4sQIIII")  # magic, seq, count, three JSON lengths (native order)


def fill(db_path: str, n: int = 60) -> list[str]:
    async def go() -> list[str]:
        async with await ReasoningBank.open(db_path, dedup_threshold=None) as bank:
            ids = await bank.store_patterns(
                [
                    pattern(
                        f"rotate tls certificates for service {i % 9}",
                        category="ab"[i % 2],
                        strategy=f"s{i % 3}",
                        score=i / n,
                        **({"context": {"n": i}} if i % 7 == 0 else {}),
                    )
                    for i in range(n)
                ]
            )
            # Rewritten rows move to the end of the table; their slots stay.
            await bank.record_outcome(ids[1], success=False, score=0.2)
            await bank.record_outcome(ids[4], success=True, score=0.9)
            return ids

    return run(go())


def traced_open(db_path: str) -> tuple[ReasoningBank, list[str]]:
    """A bank opened with every SQL statement its store runs recorded."""
    store = SqliteStore.open(db_path)
    statements: list[str] = []
    store.tracer = lambda sql, params: statements.append(sql)
    bank = ReasoningBank(store)
    run(bank._load(None))
    return bank, statements


def snapshot_blob(db_path: str) -> bytes:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute("SELECT value FROM rb_meta WHERE key = 'index-snapshot'").fetchone()[0]
    finally:
        conn.close()


def set_snapshot_blob(db_path: str, blob: bytes) -> None:
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE rb_meta SET value = ? WHERE key = 'index-snapshot'", (blob,))
    conn.commit()
    conn.close()


def reads_rows(statements: list[str]) -> bool:
    """Whether the open read rows, beyond the bodies of patterns with a context (kept in
    memory, so read by row number); the sequence number's ``max(seqno)`` reads an index edge only."""
    return any(
        "FROM patterns" in sql and "WHERE seqno IN" not in sql and "max(seqno)" not in sql
        for sql in statements
    )


def test_an_open_from_the_snapshot_reads_no_row_and_equals_reading_them(db_path):
    fill(db_path)
    bank, statements = traced_open(db_path)
    try:
        assert not reads_rows(statements)
        assert bank._snapshot_version is not None
        got = state(bank)
        ordered = [p.id for p in run(bank.all_patterns())]
        newest = [p.id for p in run(bank.search_by_category("a", 5))]
    finally:
        run(bank.close())
    assert got == parsed_state(db_path)
    # The same order as an open that reads every row (rewritten patterns last).
    conn = sqlite3.connect(db_path)
    assert ordered == [r[0] for r in conn.execute("SELECT pattern_id FROM patterns ORDER BY rowid")]
    conn.close()
    reread = run(ReasoningBank.open(db_path))
    try:
        assert [p.id for p in run(reread.search_by_category("a", 5))] == newest
    finally:
        run(reread.close())


def test_a_snapshot_with_a_code_out_of_range_is_ignored(db_path):
    fill(db_path)
    blob = bytearray(snapshot_blob(db_path))
    _, _, n, *sizes = HEAD.unpack_from(blob)
    codes = HEAD.size + sum(sizes) + n * (8 * 5 + 1)
    blob[codes : codes + 4] = struct.pack("=I", 2**32 - 1)  # the first category code
    set_snapshot_blob(db_path, bytes(blob))
    bank, statements = traced_open(db_path)
    try:
        assert reads_rows(statements)
        assert bank._snapshot_version is None
        got = state(bank)
    finally:
        run(bank.close())
    assert got == parsed_state(db_path)


def test_a_snapshot_of_another_layout_is_replaced_on_close(db_path):
    fill(db_path)
    set_snapshot_blob(db_path, b"RBX1" + snapshot_blob(db_path)[4:])
    bank, statements = traced_open(db_path)
    run(bank.close())  # nothing changed, but the snapshot it found was no use
    assert reads_rows(statements)
    bank, statements = traced_open(db_path)
    try:
        assert not reads_rows(statements)
        got = state(bank)
    finally:
        run(bank.close())
    assert got == parsed_state(db_path)


def test_an_opened_bank_keeps_no_object_per_pattern_for_the_collector(db_path):
    """Why: a full collection walks every tracked object; at 1M patterns one per pattern
    made searches that met a collection take tens of milliseconds."""
    n = 3000
    fill(db_path, n)
    gc.collect()
    before = len(gc.get_objects())
    bank = run(ReasoningBank.open(db_path))
    try:
        gc.collect()
        assert len(bank._table.slot) == n
        assert len(gc.get_objects()) - before < n / 10
    finally:
        run(bank.close())


def test_a_snapshot_after_another_writers_rows_keeps_the_row_order(db_path):
    """Rows another connection wrote reach this bank by catch-up; the snapshot it leaves
    must still list patterns in row order, as an open that reads the rows does."""
    ids = fill(db_path)

    async def go() -> None:
        mine = await ReasoningBank.open(db_path, dedup_threshold=None)
        other = await ReasoningBank.open(db_path, dedup_threshold=None)
        await other.store_patterns([pattern(f"deploy canary {i}", category="b") for i in range(5)])
        await other.record_outcome(ids[0], success=True, score=1.0)
        await other.close()
        await mine.get_stats()  # catches up
        await mine.close()

    run(go())
    bank, statements = traced_open(db_path)
    try:
        assert not reads_rows(statements)
        ordered = [p.id for p in run(bank.all_patterns())]
        got = state(bank)
    finally:
        run(bank.close())
    conn = sqlite3.connect(db_path)
    assert ordered == [r[0] for r in conn.execute("SELECT pattern_id FROM patterns ORDER BY rowid")]
    conn.close()
    assert got == parsed_state(db_path)
