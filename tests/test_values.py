"""NaN, ±Infinity, float32 overflow and extreme times: refused at every door (API, CLI, MCP),
and one bad pattern already in an older bank never blocks export or sync of the others."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from reasoningbank.bank import ReasoningBank
from reasoningbank.bundle import export_bundle, export_jsonl
from reasoningbank.errors import InvalidPattern
from reasoningbank.migrate import import_file

from .conftest import pattern, run, run_cli

ROOT = Path(__file__).resolve().parents[1]
NAN, INF = float("nan"), float("inf")


async def _seed(db: str, n: int = 3) -> list[str]:
    async with await ReasoningBank.open(db) as bank:
        return await bank.store_patterns(
            [
                pattern(f"parse csv file number {i}", id=f"p{i}", embedding=[1.0, i, 0.5])
                for i in range(n)
            ]
        )


def _poison(db: str, pid: str, *, context=None, embedding=None, created_at=None) -> None:
    """Write what an older version let in (NaN in a context, a +inf vector, a time past year
    9999) straight into the bank file, as a bank written before these checks holds it."""
    conn = sqlite3.connect(db)
    with conn:
        if context is not None:
            (body,) = conn.execute(
                "SELECT body FROM patterns WHERE pattern_id = ?", (pid,)
            ).fetchone()
            doc = json.loads(body)
            doc["context"] = context
            conn.execute(
                "UPDATE patterns SET body = ? WHERE pattern_id = ?", (json.dumps(doc), pid)
            )
        if embedding is not None:
            blob = struct.pack(f"<{len(embedding)}f", *embedding)
            conn.execute("UPDATE patterns SET embedding = ? WHERE pattern_id = ?", (blob, pid))
        if created_at is not None:
            conn.execute(
                "UPDATE patterns SET created_at = ? WHERE pattern_id = ?", (created_at, pid)
            )
    conn.close()


# -- the API refuses them ------------------------------------------------------------------
def test_store_refuses_nan_infinity_and_float32_overflow_and_stores_nothing(db_path):
    async def go():
        async with await ReasoningBank.open(db_path) as bank:
            errors = []
            for extra in (
                {"context": {"load": NAN}},
                {"outcome": {"success": True, "metrics": {"ms": INF}}},
                {"embedding": [1e39, 1.0]},
                {"metadata": {"created_at": 1e300}},
            ):
                with pytest.raises(InvalidPattern) as err:
                    await bank.store_patterns([pattern("fine"), pattern("bad one", **extra)])
                errors.append(err.value.field)
            return errors, await bank.all_patterns()

    fields, stored = run(go())
    assert fields == ["context.load", "outcome.metrics.ms", "embedding", "created_at"]
    assert stored == []


def test_record_outcome_refuses_nan_metrics_and_keeps_the_pattern(db_path):
    run(_seed(db_path, 1))

    async def go():
        async with await ReasoningBank.open(db_path) as bank:
            with pytest.raises(InvalidPattern, match=r"outcome\.metrics\.m must be a finite"):
                await bank.record_outcome("p0", True, metrics={"m": NAN})
            return await bank.get_pattern("p0")

    p = run(go())
    assert p.metadata.usage_count == 0 and p.outcome.metrics == {}


@pytest.mark.parametrize("with_vectors", [False, True], ids=["text-only bank", "dense bank"])
def test_a_nan_query_embedding_is_an_error_not_matches(db_path, with_vectors):
    async def go():
        async with await ReasoningBank.open(db_path) as bank:
            extra = {"embedding": [1.0, 0.0, 0.5]} if with_vectors else {}
            await bank.store_pattern(pattern("parse csv", **extra))
            with pytest.raises(InvalidPattern, match="finite"):
                await bank.find_similar("parse csv", embedding=[NAN, 1.0, 0.5])
            with pytest.raises(InvalidPattern, match="float32"):
                await bank.find_similar("parse csv", embedding=[1e39, 1.0, 0.5])
            with pytest.raises(InvalidPattern, match="min_score"):
                await bank.find_similar("parse csv", min_score=NAN)

    run(go())


# -- one bad pattern in an older bank blocks nothing ---------------------------------------
def test_export_skips_and_reports_patterns_an_older_version_let_in(db_path, tmp_path):
    run(_seed(db_path, 4))
    _poison(db_path, "p1", context={"load": NAN})
    _poison(db_path, "p2", created_at=1e300)
    _poison(db_path, "p3", embedding=[INF, 1.0, 0.5])  # stored as +inf: vector left out

    async def go():
        async with await ReasoningBank.open(db_path) as bank:
            hits = await bank.find_similar("parse csv file", embedding=[1.0, 3.0, 0.5], top_k=4)
            summary = await export_bundle(bank, str(tmp_path / "out.rbundle"), location=db_path)
            plain = await export_jsonl(bank, str(tmp_path / "out.jsonl"))
        async with await ReasoningBank.open(str(tmp_path / "copy.db")) as copy:
            report = await import_file(copy, tmp_path / "out.rbundle")
        return hits, summary, plain, report

    hits, summary, plain, report = run(go())
    assert all(h.score == h.score for h in hits)  # no NaN scores from the +inf row
    for doc in (summary, plain):
        assert doc["count"] == 2 and doc["skipped"] == 2
        assert sorted(s["id"] for s in doc["skipped_patterns"]) == ["p1", "p2"]
        reasons = {s["id"]: s["reason"] for s in doc["skipped_patterns"]}
        assert "context.load must be a finite number" in reasons["p1"]
    assert sorted(report.imported) == ["p0", "p3"]


def test_cli_export_of_an_older_bank_with_a_nan_lists_what_it_skipped(db_path, tmp_path):
    run(_seed(db_path, 2))
    _poison(db_path, "p1", context={"load": NAN})
    done = run_cli("export", str(tmp_path / "out.rbundle"), "--db", db_path)
    assert done.returncode == 0, done.stderr
    assert "exported 1 patterns" in done.stdout
    assert "skipped 1 that cannot be exported" in done.stdout
    assert "p1: context.load must be a finite number, got nan" in done.stdout


def test_sync_shares_the_good_patterns_and_reports_the_bad_one(tmp_path):
    from reasoningbank.bus.aio import HubServer
    from reasoningbank.bus.hub import Hub
    from reasoningbank.bus.keys import TrustList
    from reasoningbank.bus.sync import bank_identity, sync_bank

    from .bus.helpers import VERIFIER, signer_for

    a_db, b_db = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    run(_seed(a_db, 3))
    _poison(a_db, "p1", context={"load": NAN})
    TrustList.load(b_db).add(bank_identity(a_db)[0].public_key)

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
                ids = sorted(p.id for p in await b.all_patterns())
            return sent, got, ids
        finally:
            await server.close()

    sent, got, ids = run(asyncio.wait_for(go(), 60))
    assert sent["shared"] == 2 and sent["skipped"] == 1
    assert sent["skipped_patterns"][0]["id"] == "p1"
    assert got["imported"] == 2 and ids == ["p0", "p2"]


# -- the CLI and MCP doors -------------------------------------------------------------------
def test_cli_store_with_nan_in_context_is_one_line_and_stores_nothing(db_path, tmp_path):
    src = tmp_path / "p.json"
    src.write_text(
        '{"task_description": "t", "task_category": "c", "strategy": "s", "success": true, '
        '"context": {"load": NaN}}'
    )
    done = run_cli("store", "--file", str(src), "--db", db_path)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "reasoningbank: error: context.load must be a finite number, got nan"
    )
    stats = run_cli("stats", "--json", "--db", db_path)
    assert json.loads(stats.stdout)["total_patterns"] == 0


def test_cli_extreme_timestamp_is_one_line(db_path, tmp_path):
    src = tmp_path / "p.json"
    src.write_text(
        json.dumps({"task_description": "t", "task_category": "c", "strategy": "s",
                    "success": True, "metadata": {"created_at": 1e300}})
    )  # fmt: skip
    done = run_cli("store", "--file", str(src), "--db", db_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        "reasoningbank: error: created_at must be between 1970-01-01 and 9999-12-31, got 1e+300"
    )


def test_mcp_store_with_a_nan_token_is_refused(db_path):
    """A raw JSON-RPC request with a bare NaN token (Python's json and pydantic would read it):
    the server answers with a JSON-RPC parse error and stores nothing."""
    pytest.importorskip("mcp", reason="the MCP extra is not installed")
    proc = subprocess.Popen(
        [sys.executable, "-m", "reasoningbank.mcp_server", "--db", db_path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    init = {"protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}  # fmt: skip
    lines = [
        json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init}),
        json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        '{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": '
        '"reasoning_store", "arguments": {"task_description": "t", "task_category": "c", '
        '"strategy": "s", "success": true, "context": {"load": NaN}}}}',
    ]
    replies = {}
    try:
        for line in lines:
            proc.stdin.write(line.encode() + b"\n")
            proc.stdin.flush()
            if '"id"' in line:  # a request: wait for its answer before the next one
                reply = json.loads(proc.stdout.readline())
                replies[reply["id"]] = reply
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    error = replies[None]["error"]  # NaN is not JSON: refused before the id is trusted
    assert error["code"] == -32700 and "NaN" in error["message"]

    async def count():
        async with await ReasoningBank.open(db_path) as bank:
            return len(await bank.all_patterns())

    assert run(count()) == 0
