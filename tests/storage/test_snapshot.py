"""The index snapshot a bank leaves on close: the next open must see exactly what parsing
every pattern would give, including after other processes wrote in between."""

import sqlite3
import subprocess
import sys
import textwrap

from reasoningbank import ReasoningBank
from reasoningbank.storage import snapshot
from reasoningbank.storage.sqlite import _CURRENT
from tests.conftest import ROOT, pattern, run


def state(bank: ReasoningBank) -> dict:
    """Everything the in-memory view derives from the bodies, plus search results."""
    table = bank._table
    return {
        "entries": {
            # The body as the bank returns it (a SQLite bank reads bodies back on demand).
            # The numbers live in columns by slot; the body as the bank returns it (a SQLite
            # bank reads bodies back on demand).
            pid: (
                table.wins[table.slot[pid]],
                table.losses[table.slot[pid]],
                table.average[table.slot[pid]],
                table.contradictions[table.slot[pid]],
                table.pattern(pid).body_json(),
                e.terms,
            )
            for pid, e in table.records.items()
        },  # fmt: skip
        "quality": {pid: table.quality[s] for pid, s in table.slot.items()},
        "contexts": {table.ids[s]: c for s, c in table.contexts.items()},
        "stats": {k: v for k, v in run(bank.get_stats()).items() if k != "storage"},
        "found": [
            (m.pattern.id, m.score)
            for m in run(bank.find_similar("rotate tls certificates nightly", top_k=10))
        ],
    }


def parsed_state(db_path: str) -> dict:
    """The state of a bank opened with the snapshot removed: every body parsed."""
    conn = sqlite3.connect(db_path)
    conn.execute("DELETE FROM rb_meta WHERE key = 'index-snapshot'")
    conn.commit()
    conn.close()
    bank = run(ReasoningBank.open(db_path))
    bank._snapshot_version = bank._table.version  # keep this close from saving a new one
    try:
        return state(bank)
    finally:
        run(bank.close())


def fill(db_path: str) -> list[str]:
    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    ids = run(
        bank.store_patterns(
            [
                pattern(f"rotate tls certificates for service {i % 7}", score=i / 40)
                for i in range(40)
            ]
            + [pattern("rotate tls certificates with context", context={"env": "prod"})]
        )
    )
    run(bank.record_outcome(ids[3], success=False))
    run(bank.close())
    return ids


def used_snapshot(db_path: str) -> tuple[bool, dict]:
    bank = run(ReasoningBank.open(db_path))
    try:
        return bank._snapshot_version is not None, state(bank)
    finally:
        run(bank.close())


def test_close_leaves_a_snapshot_and_opening_from_it_equals_parsing_every_body(db_path):
    fill(db_path)
    used, got = used_snapshot(db_path)
    assert used
    assert got == parsed_state(db_path)


def test_writes_by_another_process_after_the_snapshot_are_seen(db_path):
    ids = fill(db_path)
    # Another process writes and dies without closing (so it leaves no snapshot of its own).
    code = """
        import asyncio, os, sys
        from reasoningbank import ReasoningBank
        async def main():
            bank = await ReasoningBank.open(sys.argv[1])
            await bank.record_outcome(sys.argv[2], success=True, score=1.0)
            await bank.delete_pattern(sys.argv[3])
            await bank.store_pattern({"id": "late", "task_description": "rotate tls certificates late",
                "task_category": "backend", "strategy": "s", "success_score": 0.2})
            os._exit(0)
        asyncio.run(main())
    """
    subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), db_path, ids[5], ids[6]],
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    used, got = used_snapshot(db_path)
    assert not used  # the sequence number moved on: the bodies were parsed
    assert "late" in got["entries"] and ids[6] not in got["entries"]
    assert got == parsed_state(db_path)


def test_a_write_while_a_bank_is_open_is_caught_up_before_its_snapshot(db_path):
    fill(db_path)
    bank = run(ReasoningBank.open(db_path))
    other = run(ReasoningBank.open(db_path))
    run(other.store_pattern(pattern("rotate tls certificates from the other one")))
    run(bank.close())  # catches up on the other's write, then saves
    run(other.close())
    used, got = used_snapshot(db_path)
    assert used
    assert any(e[4].count("from the other one") for e in got["entries"].values())
    assert got == parsed_state(db_path)


def test_a_damaged_snapshot_is_ignored(db_path):
    fill(db_path)
    conn = sqlite3.connect(db_path)
    blob = conn.execute("SELECT value FROM rb_meta WHERE key = 'index-snapshot'").fetchone()[0]
    assert snapshot.decode(blob, conn.execute(_CURRENT).fetchone()[0]) is not None
    conn.execute("UPDATE rb_meta SET value = ? WHERE key = 'index-snapshot'", (blob[:-3],))
    conn.commit()
    conn.close()
    used, got = used_snapshot(db_path)
    assert not used
    assert got == parsed_state(db_path)


def rounded(got: dict) -> dict:
    """Totals summed in another order differ in the last bit."""
    for total in ("success_rate", "observations"):
        got["stats"][total] = round(got["stats"][total], 9)
    return got


def test_the_view_built_by_writes_equals_the_view_reopened_from_columns(db_path):
    """Bulk stores index new patterns column by column, and opening reads the bank as
    columns: both must give what indexing each record in turn gives (the memory store's
    path), with vectors, contexts, repeated texts and an updated pattern."""
    from reasoningbank.storage.memory import MemoryStore

    def bulk(bank):
        ids = run(
            bank.store_patterns(
                [
                    pattern(
                        f"rotate tls certificates for service {i % 5}",
                        score=i / 30,
                        embedding=[1.0, float(i % 3), 0.5] if i % 2 else None,
                        **({"context": {"n": i}} if i % 4 == 0 else {}),
                    )
                    for i in range(30)
                ]
            )
        )
        run(bank.record_outcome(ids[2], success=False))
        return state(bank)

    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    written = bulk(bank)
    run(bank.close())
    used, reopened = used_snapshot(db_path)
    assert used
    assert reopened == parsed_state(db_path)
    # The updated pattern's row moved to the end of the file: totals differ in the last bit.
    rounded(written), rounded(reopened)
    assert reopened == written
    # The same writes into a store that hands out records, reopened record by record.
    store = MemoryStore()
    memory = ReasoningBank(store, dedup_threshold=None)
    bulk(memory)
    again = ReasoningBank(store, dedup_threshold=None)
    run(again._load(None))
    mine, theirs = rounded(state(again)), reopened
    for got in (mine, theirs):
        got["entries"] = sorted(v[:4] + v[5:] for v in got["entries"].values())
        got["quality"] = sorted(got["quality"].values())
        got["contexts"] = sorted(str(c) for c in got["contexts"].values())
        got["found"] = [score for _, score in got["found"]]
    assert mine == theirs


def test_opening_a_few_rows_at_a_time_gives_the_same_view(db_path, monkeypatch):
    """A bank opens a few thousand rows at a time; texts, vectors, contexts and snapshot
    numbers spread over many steps must give the view one step gives, with the snapshot
    and without it (every body parsed)."""
    from reasoningbank.storage import sqlite

    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    ids = run(
        bank.store_patterns(
            [
                pattern(
                    f"rotate tls certificates for service {i % 4}",
                    category="ab"[i % 2],
                    score=i / 50,
                    embedding=[1.0, float(i % 5), 0.25] if i % 3 else None,
                    **({"context": {"n": i}} if i % 6 == 0 else {}),
                )
                for i in range(50)
            ]
        )
    )
    run(bank.record_outcome(ids[7], success=False))
    run(bank.close())
    _, whole = used_snapshot(db_path)
    whole_parsed = parsed_state(db_path)
    monkeypatch.setattr(sqlite, "_CHUNK", 7)
    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    run(bank.close())  # leaves a snapshot again (the parse above removed it)
    used, chunked = used_snapshot(db_path)
    assert used
    assert chunked == whole
    assert parsed_state(db_path) == whole_parsed == whole


def test_closing_an_unchanged_empty_bank_writes_nothing(db_path):
    """An empty bank's snapshot covers it: opening and closing it again leaves the file's
    data untouched (no write, so other processes have nothing to catch up on)."""
    run(run(ReasoningBank.open(db_path)).close())
    conn = sqlite3.connect(db_path)
    before = conn.execute("PRAGMA data_version").fetchone()[0]
    bank = run(ReasoningBank.open(db_path))
    assert bank._snapshot_version is not None
    run(bank.close())
    assert conn.execute("PRAGMA data_version").fetchone()[0] == before
    conn.close()
