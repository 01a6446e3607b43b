"""A SQLite bank keeps no pattern bodies in memory: it reads them back by id when it returns
patterns. What it returns must be exactly what a bank holding every body returns, and never
a body of one version paired with the columns of another when other processes write."""

import itertools
import os
import subprocess
import sys
import textwrap

from reasoningbank import ReasoningBank, jsapi
from tests.conftest import ROOT, pattern, run

#: The statement ``SqliteStore.read_bodies`` runs (one per call for up to 900 ids).
BODY_READ = "FROM patterns WHERE seqno IN"
#: What it runs instead when the ids are a large part of the bank: one pass.
BODY_PASS = "SELECT pattern_id, body, seqno > ? FROM patterns"

QUERIES = [
    ("rotate tls certificates", None),
    ("rotate tls certificates", "backend"),
    ("deploy service canary", "devops"),
    ("flaky login test", None),
    ("nothing matches this", None),
]


def patterns() -> list[dict]:
    cats = ["backend", "devops", "frontend"]
    tasks = ["rotate tls certificates", "deploy service canary", "fix flaky login test"]
    return [
        pattern(
            f"{tasks[i % 3]} number {i % 11}",
            category=cats[i % 3],
            strategy=f"s{i % 4}",
            score=(i % 10) / 10,
            **({"context": {"env": "prod"}} if i % 9 == 0 else {}),
        )
        for i in range(120)
    ]


def fill(db_path: str) -> list[str]:
    async def go() -> list[str]:
        async with await ReasoningBank.open(db_path, dedup_threshold=None) as bank:
            ids = await bank.store_patterns(patterns())
            await bank.record_outcome(ids[5], success=False, score=0.1)
            return ids

    return run(go())


def answers(bank: ReasoningBank, ids: list[str]) -> dict:
    """Everything a caller reads back: patterns by every path, and find results."""

    async def go() -> dict:
        return {
            "get": [(await bank.get_pattern(pid)).to_dict() for pid in ids[:30]],
            "all": [p.to_dict() for p in await bank.all_patterns()],
            "category": [p.to_dict() for p in await bank.search_by_category("devops", 7)],
            "find": [
                [(m.pattern.to_dict(), m.score, m.parts) for m in await bank.find_similar(q, c, 8)]
                for q, c in QUERIES
            ],
            "find_context": [
                (m.pattern.id, m.score)
                for m in await bank.find_similar("tls", context={"env": "prod"}, top_k=6)
            ],
        }

    return run(go())


def in_memory_copy(db_path: str) -> ReasoningBank:
    """A memory bank holding the same patterns (bodies in memory, as before)."""

    async def go() -> ReasoningBank:
        async with await ReasoningBank.open(db_path) as source:
            stored = [p.to_dict() for p in await source.all_patterns()]
        bank = await ReasoningBank.open(":memory:", dedup_threshold=None)
        await bank.store_patterns(stored)
        return bank

    return run(go())


def test_a_reopened_sqlite_bank_keeps_no_bodies_and_answers_like_one_that_does(db_path):
    ids = fill(db_path)
    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    memory = in_memory_copy(db_path)
    try:
        assert bank._table.records and all(e.body is None for e in bank._table.records.values())
        assert all(isinstance(e.body, str) for e in memory._table.records.values())
        assert answers(bank, ids) == answers(memory, ids)
    finally:
        run(bank.close())
        run(memory.close())


def test_a_bank_that_just_stored_keeps_no_bodies_either(db_path):
    async def go() -> None:
        async with await ReasoningBank.open(db_path, dedup_threshold=None) as bank:
            ids = await bank.store_patterns(patterns()[:10])
            await bank.store_pattern(pattern("one more", context={"k": "v"}))
            await bank.record_outcome(ids[0], success=True)
            assert all(e.body is None for e in bank._table.records.values())
            got = await bank.get_pattern(ids[0])
            assert got is not None and got.metadata.usage_count == 1

    run(go())


def test_find_reads_every_returned_body_in_one_statement(db_path):
    fill(db_path)
    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    statements: list[str] = []
    bank._store.tracer = lambda sql, params: statements.append(sql)
    try:
        found = run(bank.find_similar("rotate tls certificates", top_k=8))
        assert len(found) == 8
        assert sum(BODY_READ in sql for sql in statements) == 1
        statements.clear()
        assert len(run(bank.all_patterns())) == 120
        assert sum(BODY_READ in sql for sql in statements) == 1  # 120 ids: one statement
    finally:
        run(bank.close())


def test_opening_without_a_snapshot_keeps_no_bodies_and_the_same_numbers(db_path):
    ids = fill(db_path)
    with_snapshot = run(ReasoningBank.open(db_path, dedup_threshold=None))
    expected = answers(with_snapshot, ids)
    stats = run(with_snapshot.get_stats())["index"]
    run(with_snapshot.close())
    import sqlite3

    conn = sqlite3.connect(db_path)
    conn.execute("DELETE FROM rb_meta WHERE key = 'index-snapshot'")
    conn.commit()
    conn.close()
    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    try:
        assert all(e.body is None for e in bank._table.records.values())
        assert answers(bank, ids) == expected
        assert run(bank.get_stats())["index"] == stats
    finally:
        run(bank.close())


class _WritesFromAnotherConnection:
    """An embedder that lets a second bank (its own SQLite connection: to the first bank,
    another writer) write once, right after the first bank caught up for a search and
    before it reads the bodies of what it found."""

    def __init__(self) -> None:
        self.write = None

    async def __call__(self, text: str) -> list[float]:
        if self.write is not None:
            write, self.write = self.write, None
            await write()
        return [1.0, 0.0]


def test_a_pattern_rewritten_by_another_writer_during_a_search_comes_back_current(db_path):
    ids = fill(db_path)
    hook = _WritesFromAnotherConnection()
    reader = run(ReasoningBank.open(db_path, dedup_threshold=None, embedder=hook))
    other = run(ReasoningBank.open(db_path, dedup_threshold=None))
    target = ids[0]  # "rotate tls certificates number 0"
    rewritten = {}

    async def rewrite() -> None:
        rewritten["p"] = await other.record_outcome(target, success=False, score=0.05)

    try:
        before = run(reader.get_pattern(target))
        hook.write = rewrite
        found = run(reader.find_similar("rotate tls certificates number 0", top_k=5))
        assert hook.write is None  # the other writer did write, mid-search
        got = [m.pattern for m in found if m.pattern.id == target]
        assert len(got) == 1
        # The stored version, whole: never the old body, nor the new body with old columns.
        assert got[0].to_dict() == rewritten["p"].to_dict() != before.to_dict()
        assert run(reader.get_pattern(target)).to_dict() == rewritten["p"].to_dict()
    finally:
        run(other.close())
        run(reader.close())


def test_a_pattern_deleted_by_another_writer_during_a_search_is_left_out(db_path):
    ids = fill(db_path)
    hook = _WritesFromAnotherConnection()
    reader = run(ReasoningBank.open(db_path, dedup_threshold=None, embedder=hook))
    other = run(ReasoningBank.open(db_path, dedup_threshold=None))
    target = ids[0]

    async def delete() -> None:
        await other.delete_pattern(target)

    try:
        hook.write = delete
        found = run(reader.find_similar("rotate tls certificates number 0", top_k=5))
        assert hook.write is None
        assert found and target not in [m.pattern.id for m in found]
        assert run(reader.get_pattern(target)) is None
    finally:
        run(other.close())
        run(reader.close())


def _delete_in_another_process(db_path: str, pid: str) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio
        from reasoningbank import ReasoningBank

        async def main():
            async with await ReasoningBank.open({db_path!r}) as bank:
                await bank.delete_pattern({pid!r})

        asyncio.run(main())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=120)


def test_get_and_all_patterns_leave_out_what_another_process_deletes_before_the_read(db_path):
    ids = fill(db_path)
    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    victims = [ids[7], ids[8]]

    def tracer(sql: str, params: tuple) -> None:
        if BODY_READ in sql and victims:  # after the catch-up, before the bodies are read
            _delete_in_another_process(db_path, victims.pop())

    bank._store.tracer = tracer
    try:
        assert run(bank.get_pattern(ids[8])) is None
        every = run(bank.all_patterns())
        assert not victims and len(every) == 118
        assert {ids[7], ids[8]}.isdisjoint(p.id for p in every)
    finally:
        run(bank.close())


def test_the_browser_api_packs_matches_of_a_bank_without_bodies_like_one_with_them(db_path):
    fill(db_path)
    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    memory = in_memory_copy(db_path)
    try:
        packed = []
        queries = [
            ("deploy service canary", "devops", 6, {}),
            (
                "rotate tls deploy canary",
                "backend",
                60,
                {"context": {"env": "prod"}, "strict_category": False},
            ),
        ]
        for b, (text, category, k, options) in itertools.product((bank, memory), queries):
            hits = run(b._search(text, category, k, **options))
            packed.append(jsapi._unpack_matches(jsapi._pack_hits(b, hits)))
            # ... and as find_similar's matches would be written
            matches = run(b.find_similar(text, category, k, **options))
            assert packed[-1] == [
                {
                    "pattern": m.pattern.to_dict(with_embedding=False),
                    "score": m.score,
                    "similarity": m.similarity,
                    "parts": m.parts,
                }
                for m in matches
            ]
        assert len(packed[0]) == 6 and packed[:2] == packed[2:]
        assert {"env"} == {k for m in packed[1] for k in m["pattern"]["context"]}
        assert any(m["parts"]["context"] == 1.0 for m in packed[1])
        assert any(m["parts"]["category"] == 0.0 for m in packed[1])
    finally:
        run(bank.close())
        run(memory.close())


def test_reading_most_of_a_bank_is_one_pass_and_still_current(db_path):
    """``all_patterns`` of a large bank reads the bodies in one pass over the table (cheaper
    than a search per id); what another process deletes or rewrites first is still honoured."""

    async def fill_many() -> list[str]:
        async with await ReasoningBank.open(db_path, dedup_threshold=None) as bank:
            return await bank.store_patterns(patterns() * 10)  # 1,200 patterns

    ids = run(fill_many())
    bank = run(ReasoningBank.open(db_path, dedup_threshold=None))
    statements: list[str] = []
    victims = [ids[11]]

    def tracer(sql: str, params: tuple) -> None:
        statements.append(sql)
        if sql == BODY_PASS and victims:  # the pass, before it reads a row
            _delete_in_another_process(db_path, victims.pop())

    bank._store.tracer = tracer
    memory = in_memory_copy(db_path)
    try:
        every = run(bank.all_patterns())
        passes = [sql for sql in statements if sql == BODY_PASS]
        assert len(passes) == 1 and not any(BODY_READ in sql for sql in statements)
        assert not victims and len(every) == 1199 and ids[11] not in {p.id for p in every}
        expected = [p.to_dict() for p in run(memory.all_patterns()) if p.id != ids[11]]
        assert [p.to_dict() for p in every] == expected
    finally:
        run(bank.close())
        run(memory.close())
