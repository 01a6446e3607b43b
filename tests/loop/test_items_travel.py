"""A memory item survives every way patterns travel: reopen, bundles, the signed bus,
and migration from agentic-flow."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from reasoningbank import ReasoningBank
from reasoningbank.loop.items import item_from_pattern
from tests.conftest import run
from tests.loop.conftest import standard_llm, steps

TASK = "book the cheapest flight to Oslo"
BAD = steps(("book", "book(flight=3)", "Error: session expired"), ("", "", "I gave up."))
AF_DB = Path(__file__).resolve().parents[1] / "fixtures" / "agentic_flow_memory.db"


async def _learned(db_path: str) -> list:
    async with await ReasoningBank.open(db_path) as bank:
        ok = await bank.learn(TASK, "search(sort='price')\n3 passed", category="web",
                              llm=standard_llm(True))  # fmt: skip
        bad = await bank.learn(TASK, BAD, category="web", llm=standard_llm(False))
        return ok.items + bad.items


def _fields(item) -> tuple:
    return (item.title, item.description, item.content, item.kind, item.provenance, item.category)


def test_items_survive_reopening_the_sqlite_file(db_path):
    learned = run(_learned(db_path))

    async def reopen():
        async with await ReasoningBank.open(db_path) as bank:
            return await bank.retrieve(TASK, category="web", k=10)

    again = run(reopen())
    assert sorted(map(_fields, again), key=str) == sorted(map(_fields, learned), key=str)
    assert {i.kind for i in again} == {"success", "failure"}


def test_items_survive_a_signed_bundle(tmp_path, db_path):
    pytest.importorskip("nacl")
    from reasoningbank.bundle import export_bundle
    from reasoningbank.migrate import import_file

    learned = run(_learned(db_path))
    out, dst = str(tmp_path / "items.rbundle"), str(tmp_path / "dst.db")

    async def go():
        async with await ReasoningBank.open(db_path) as bank:
            summary = await export_bundle(bank, out, location=db_path)
        async with await ReasoningBank.open(dst) as target:
            await import_file(target, out, trusted_keys={bytes.fromhex(summary["public_key"])})
            return await target.retrieve(TASK, category="web", k=10)

    got = run(go())
    assert sorted(map(_fields, got), key=str) == sorted(map(_fields, learned), key=str)


def test_items_shared_over_the_bus_keep_kind_and_provenance(tmp_path):
    pytest.importorskip("nacl")
    pytest.importorskip("aioquic")
    from reasoningbank.bus.aio import HubServer
    from reasoningbank.bus.hub import Hub
    from reasoningbank.bus.keys import TrustList
    from reasoningbank.bus.sync import bank_identity, sync_bank
    from tests.bus.helpers import VERIFIER, signer_for

    a_db, b_db = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    learned = run(_learned(a_db))
    author = bank_identity(a_db)[0].public_key
    TrustList.load(b_db).add(author)

    async def go():
        server = HubServer(
            Hub(signer=signer_for("hub"), verifier=VERIFIER, nonce_source=os.urandom)
        )
        await server.start("127.0.0.1", 0)
        try:
            async with await ReasoningBank.open(a_db) as a:
                sent = await sync_bank(a, server.ws_url, db_path=a_db)
            async with await ReasoningBank.open(b_db) as b:
                got = await sync_bank(b, server.ws_url, db_path=b_db)
                return sent, got, await b.retrieve(TASK, category="web", k=10), \
                    await b.memory_prompt(TASK, category="web")  # fmt: skip
        finally:
            await server.close()

    sent, got, items, prompt = run(asyncio.wait_for(go(), 60))
    assert sent["shared"] == got["imported"] == len(learned)
    assert sorted(map(_fields, items), key=str) == sorted(map(_fields, learned), key=str)
    assert all(i.author == author.hex() for i in items)
    assert f'author="shared:{author.hex()[:16]}"' in prompt


def test_agentic_flow_memories_import_as_items_with_nothing_lost(db_path):
    import json
    import sqlite3

    from reasoningbank.migrate import import_file

    conn = sqlite3.connect(f"file:{AF_DB}?mode=ro", uri=True)
    rows = {r[0]: json.loads(r[1]) for r in conn.execute("SELECT id, pattern_data FROM patterns")}
    conn.close()

    async def go():
        async with await ReasoningBank.open(db_path) as bank:
            await import_file(bank, str(AF_DB))
            return {p.id: p for p in await bank.all_patterns()}, await bank.retrieve(
                "Log in and submit the settings form with the CSRF token", k=10
            )

    patterns, retrieved = run(go())
    assert set(patterns) == set(rows)
    for pid, data in rows.items():
        item = item_from_pattern(patterns[pid])
        assert item is not None, pid
        assert (item.title, item.description, item.content) == (
            data["title"], data["description"], data["content"],
        )  # fmt: skip
        assert item.kind == ("failure" if data["source"]["outcome"] == "Failure" else "success")
        assert item.provenance["judged_by"] == "agentic-flow"
    csrf = next(i for i in retrieved if i.title == "CSRF token handling")
    assert csrf.task == "Log in and submit the settings form"  # the trajectory's query
