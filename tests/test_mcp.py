"""The MCP server, driven through the official SDK's client over real stdio (and HTTP)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from reasoningbank.analysis import analyze_patterns, beta_interval, wilson_interval
from reasoningbank.bank import ReasoningBank
from reasoningbank.mcp_schema import TOOLS, ToolError, validate
from reasoningbank.model import Pattern

from .conftest import run

ROOT = Path(__file__).resolve().parents[1]
DAY = 86_400.0


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": str(ROOT) + (os.pathsep + path if path else "")}


@contextlib.asynccontextmanager
async def session(db: str, *module_args: str):
    """A real MCP client session with a server spawned as ``python -m ...`` over stdio."""
    pytest.importorskip("mcp", reason="the MCP extra is not installed")
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    args = list(module_args) or ["-m", "reasoningbank.mcp_server", "--db", db]
    params = StdioServerParameters(command=sys.executable, args=args, env=_env(), cwd=str(ROOT))
    with open(os.devnull, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as s:
                await s.initialize()
                yield s


async def call(s, name: str, args: dict) -> dict:
    result = await s.call_tool(name, args)
    assert not result.is_error, result.content[0].text
    data = result.structured_content
    assert json.loads(result.content[0].text) == data  # text and structured agree
    return data


async def call_error(s, name: str, args: dict) -> str:
    result = await s.call_tool(name, args)
    assert result.is_error, f"expected an error for {args}"
    return result.content[0].text


async def _count(db: str) -> int:
    async with await ReasoningBank.open(db) as bank:
        return len(await bank.all_patterns())


# -- tool listing ----------------------------------------------------------------------------
def test_four_tools_are_listed_with_precise_schemas(db_path):
    async def go():
        async with session(db_path) as s:
            listed = await s.list_tools()
            return {t.name: t for t in listed.tools}

    tools = run(go())
    assert set(tools) == {
        "reasoning_store", "reasoning_retrieve", "reasoning_analyze", "reasoning_optimize"
    }  # fmt: skip
    for name, tool in tools.items():
        assert len(tool.description) > 80, name
        schema = tool.input_schema
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        for prop, spec in schema["properties"].items():
            assert spec.get("description") or prop == "outcome", (name, prop)
            assert "type" in spec, (name, prop)
        assert schema == TOOLS[name]["input_schema"]
    assert tools["reasoning_retrieve"].input_schema["properties"]["top_k"]["maximum"] == 100
    assert tools["reasoning_retrieve"].annotations.read_only_hint is True
    assert tools["reasoning_store"].annotations.read_only_hint is False


# -- store and retrieve ------------------------------------------------------------------------
def test_store_then_retrieve_by_id_query_and_category(db_path):
    async def go():
        async with session(db_path) as s:
            ids = []
            for i, (task, strategy) in enumerate(
                [
                    ("refresh oauth access tokens before they expire", "test-driven"),
                    ("rotate oauth refresh tokens on every use", "spike-first"),
                    ("revoke oauth tokens when a user logs out", "test-driven"),
                    ("cache oauth discovery documents for an hour", "read-the-spec"),
                    ("validate oauth state parameter against csrf", "test-driven"),
                    ("paginate a rest api with cursors", "read-the-spec"),
                ]
            ):
                r = await call(
                    s,
                    "reasoning_store",
                    {"task_description": task, "task_category": "auth" if i < 5 else "api",
                     "strategy": strategy, "success": i % 2 == 0, "context": {"lang": "python"},
                     "tags": ["oauth"] if i < 5 else []},
                )  # fmt: skip
                assert r["action"] == "stored"
                ids.append(r["id"])
            by_id = await call(s, "reasoning_retrieve", {"pattern_id": ids[0]})
            top3 = await call(s, "reasoning_retrieve", {"query": "oauth tokens", "top_k": 3})
            top1 = await call(s, "reasoning_retrieve", {"query": "oauth tokens", "top_k": 1})
            api = await call(s, "reasoning_retrieve", {"query": "paginate", "task_category": "api"})
            ctx = await call(
                s, "reasoning_retrieve",
                {"query": "oauth tokens", "top_k": 2, "context": {"lang": "python"}},
            )  # fmt: skip
            assert all(m["parts"]["context"] == 1.0 for m in ctx["matches"])
            cat = await call(s, "reasoning_retrieve", {"task_category": "auth", "top_k": 2})
            return ids, by_id, top3, top1, api, cat

    ids, by_id, top3, top1, api, cat = run(go())
    assert by_id["mode"] == "id" and by_id["patterns"][0]["id"] == ids[0]
    p = by_id["patterns"][0]
    assert p["context"] == {"lang": "python"} and p["metadata"]["tags"] == ["oauth"]
    assert p["outcome"]["success"] is True
    assert top3["count"] == 3 and len(top3["matches"]) == 3  # top_k honoured
    assert top1["count"] == 1
    scores = [m["score"] for m in top3["matches"]]
    assert scores == sorted(scores, reverse=True)
    for m in top3["matches"]:
        assert {"similarity", "lexical"} <= set(m["parts"])
        assert 0 < m["similarity"] <= 1 and m["pattern"]["id"] == m["id"]
    assert all(m["pattern"]["task_category"] == "api" for m in api["matches"]) and api["count"] == 1
    assert cat["mode"] == "category" and cat["count"] == 2
    assert all(p["task_category"] == "auth" for p in cat["patterns"])


def test_outcome_reported_through_pattern_id_updates_learning(db_path):
    async def go():
        async with session(db_path) as s:
            r = await call(
                s,
                "reasoning_store",
                {"task_description": "deploy with blue green", "task_category": "ops",
                 "strategy": "blue-green", "success_score": 0.9},
            )  # fmt: skip
            again = await call(
                s,
                "reasoning_store",
                {"pattern_id": r["id"], "success": False, "success_score": 0.1},
            )
            return r, again

    first, again = run(go())
    assert again["action"] == "outcome_recorded" and again["id"] == first["id"]
    assert again["pattern"]["usage_count"] == first["pattern"]["usage_count"] + 1
    assert again["pattern"]["confidence"] < first["pattern"]["confidence"]


def test_a_repeated_attempt_is_merged_as_one_more_observation(db_path):
    async def go():
        async with session(db_path) as s:
            args = {"task_description": "deploy the api with blue green switching",
                    "task_category": "ops", "strategy": "blue-green"}  # fmt: skip
            first = await call(s, "reasoning_store", {**args, "success": True})
            second = await call(s, "reasoning_store", {**args, "success": False})
            return first, second

    first, second = run(go())
    assert first["action"] == "stored" and second["action"] == "merged"
    assert second["id"] == first["id"] and second["pattern"]["observations"] == 2
    assert run(_count(db_path)) == 1


# -- errors ------------------------------------------------------------------------------------
BAD_CALLS = [
    ("reasoning_store", {"task_description": "x"}, "missing arguments"),
    ("reasoning_store", {"task_description": "x", "task_category": "c", "strategy": "s"},
     "give the outcome"),
    ("reasoning_store", {"task_description": "x", "task_category": "c", "strategy": "s",
                         "success_score": 1.5}, "success_score must be between 0 and 1"),
    ("reasoning_store", {"task_description": "x", "task_category": "c", "strategy": "s",
                         "success": "yes"}, "success must be a boolean"),
    ("reasoning_store", {"task_description": "   ", "task_category": "c", "strategy": "s",
                         "success": True}, "task_description must not be empty"),
    ("reasoning_store", {"task_description": "x", "task_category": "c", "strategy": "s",
                         "success": True, "tags": "a,b"}, "tags must be an array"),
    ("reasoning_store", {"task_description": "x", "task_category": "c", "strategy": "s",
                         "success": True, "outcome": {"tokens_used": -1}}, "outcome.tokens_used"),
    ("reasoning_store", {"task_description": "x", "task_category": "c", "strategy": "s",
                         "success": True, "taskCategory": "c"}, "unknown argument 'taskCategory'"),
    ("reasoning_store", {"pattern_id": "nope", "success": True}, "no pattern with id 'nope'"),
    ("reasoning_store", {"pattern_id": "nope", "success": True, "strategy": "s"},
     "with pattern_id only the outcome is recorded"),
    ("reasoning_retrieve", {}, "missing arguments: give pattern_id or query or task_category"),
    ("reasoning_retrieve", {"query": "x", "top_k": 0}, "top_k must be between 1 and 100"),
    ("reasoning_retrieve", {"query": "x", "top_k": 101}, "top_k must be between 1 and 100"),
    ("reasoning_retrieve", {"query": "x", "top_k": 2.5}, "top_k must be an integer"),
    ("reasoning_retrieve", {"pattern_id": "missing"}, "no pattern with id 'missing'"),
    ("reasoning_analyze", {"bucket": "year"}, "bucket must be one of 'day', 'week', 'month'"),
    ("reasoning_optimize", {}, "missing arguments"),
    ("reasoning_optimize", {"consolidate": True, "min_evidence": -1},
     "min_evidence must be between 0 and 1"),
    ("reasoning_nope", {}, "unknown tool 'reasoning_nope'"),
]  # fmt: skip


def test_bad_arguments_are_tool_errors_and_lose_nothing(db_path):
    async def go():
        async with session(db_path) as s:
            await call(
                s,
                "reasoning_store",
                {"task_description": "keep me", "task_category": "c", "strategy": "s",
                 "success": True},
            )  # fmt: skip
            messages = [await call_error(s, name, args) for name, args, _ in BAD_CALLS]
            still = await call(s, "reasoning_retrieve", {"task_category": "c"})
            return messages, still

    messages, still = run(go())
    for (name, args, expected), got in zip(BAD_CALLS, messages, strict=True):
        assert expected in got, (name, args, got)
    assert still["count"] == 1 and still["patterns"][0]["task_description"] == "keep me"
    assert run(_count(db_path)) == 1  # after the server exited: exactly what was stored


# -- analyze and optimize ----------------------------------------------------------------------
def _history(now: float) -> list[dict]:
    """Six weeks of 'ci' attempts: caching keeps working, retries mostly fail, a late pair
    of near-identical tasks disagree. Each week's attempts sit mid-week (Wednesday from
    noon UTC) and the pair in the current week, so every weekly bucket holds what it is
    meant to whatever the day and hour the test runs."""
    today = datetime.fromtimestamp(now, timezone.utc).replace(hour=0, minute=0, second=0)
    monday = (today - timedelta(days=today.weekday())).replace(microsecond=0).timestamp()
    late = max(monday, now - DAY)
    out = []
    for week in range(6):
        for k in range(3):
            ts = monday - (6 - week) * 7 * DAY + 2.5 * DAY + k * 3600
            out.append({
                "task_description": f"speed up the ci pipeline for service {week}{k}",
                "task_category": "ci", "strategy": "cache-dependencies",
                "outcome": {"success": week >= 2, "success_score": 0.3 + 0.12 * week},
                "metadata": {"created_at": ts, "updated_at": ts},
            })  # fmt: skip
            out.append({
                "task_description": f"fix flaky ci test number {week}{k} in the suite",
                "task_category": "ci", "strategy": "retry-until-green",
                "outcome": {"success": k == 0, "success_score": 0.8 if k == 0 else 0.1},
                "metadata": {"created_at": ts, "updated_at": ts},
            })  # fmt: skip
    out.append({"id": "dup-a", "task_description": "upgrade the node version used by ci runners",
                "task_category": "ci", "strategy": "bump-and-pray", "outcome": {"success": True},
                "metadata": {"created_at": late, "updated_at": late}})  # fmt: skip
    out.append({"id": "dup-b", "task_description": "upgrade the node version used by ci runners",
                "task_category": "ci", "strategy": "bump-and-pray", "outcome": {"success": False},
                "metadata": {"created_at": late, "updated_at": late}})  # fmt: skip
    out.append({"task_description": "write release notes", "task_category": "docs",
                "strategy": "changelog-first", "success_score": 0.9})  # fmt: skip
    return out


async def _seed(db: str, now: float) -> None:
    async with await ReasoningBank.open(db) as bank:
        await bank.store_patterns(_history(now))


def test_analyze_reports_rates_intervals_trends_contradictions_duplicates(db_path):
    now = time.time()
    run(_seed(db_path, now))

    async def go():
        async with session(db_path) as s:
            ci = await call(s, "reasoning_analyze", {"task_category": "ci", "bucket": "week"})
            everything = await call(s, "reasoning_analyze", {"limit": 2})
            return ci, everything

    ci, everything = run(go())
    assert ci["scope"]["task_category"] == "ci" and ci["counts"]["patterns"] == 38
    assert everything["counts"]["patterns"] == 39
    assert everything["counts"]["categories"] == {"ci": 38, "docs": 1}
    rates = {s["strategy"]: s for s in ci["strategies"]}
    cache, retry = rates["cache-dependencies"], rates["retry-until-green"]
    assert cache["patterns"] == 18 and retry["patterns"] == 18
    assert cache["success_rate"] > retry["success_rate"]
    for s in (cache, retry):
        lo, hi = s["wilson_95"]
        assert 0 <= lo <= s["success_rate"] <= hi <= 1
        blo, bhi = s["posterior_95"]
        assert blo <= s["posterior_mean"] <= bhi
    assert ci["strategies"][0]["strategy"] == "cache-dependencies"  # best lower bound first
    trends = ci["trends"]
    assert trends["bucket"] == "week" and len(trends["series"]) >= 6
    assert trends["direction"] == "improving" and trends["slope_per_bucket"] > 0
    pairs = ci["contradictions"]["conflicting_pairs"]
    assert {frozenset((p["a"], p["b"])) for p in pairs} >= {frozenset(("dup-a", "dup-b"))}
    dups = ci["near_duplicates"]
    assert dups["total"] >= 1 and any({d["a"], d["b"]} == {"dup-a", "dup-b"} for d in dups["pairs"])
    assert len(everything["strategies"]) == 2  # limit honoured


def test_optimize_recommends_with_evidence_and_consolidates(db_path):
    now = time.time()
    run(_seed(db_path, now))

    async def go():
        async with session(db_path) as s:
            rec = await call(
                s, "reasoning_optimize",
                {"task_description": "speed up the ci pipeline", "task_category": "ci"},
            )  # fmt: skip
            dry = await call(s, "reasoning_optimize", {"consolidate": True, "dry_run": True})
            count_after_dry = (await call(s, "reasoning_analyze", {}))["counts"]["patterns"]
            real = await call(s, "reasoning_optimize", {"consolidate": True})
            gone = await s.call_tool("reasoning_retrieve", {"pattern_id": "dup-b"})
            kept = await call(s, "reasoning_retrieve", {"pattern_id": "dup-a"})
            return rec, dry, count_after_dry, real, gone, kept

    rec, dry, count_after_dry, real, gone, kept = run(go())
    r = rec["recommendation"]
    assert r["strategy"] == "cache-dependencies"
    assert 0 < r["confidence"] <= 1
    assert r["evidence_ids"] and all(e["strategy"] == "cache-dependencies" for e in r["evidence"])
    assert {a["strategy"] for a in r["alternatives"]} >= {"cache-dependencies"}
    assert all(len(a["interval"]) == 2 for a in r["alternatives"])
    assert "consolidation" not in rec
    c = dry["consolidation"]
    assert c["dry_run"] and c["patterns_after"] < c["patterns_before"] == 39
    assert count_after_dry == 39  # a dry run changes nothing
    merged = real["consolidation"]["merged"]
    assert [(m["kept"], m["removed"]) for m in merged] == [("dup-a", ["dup-b"])]
    assert real["consolidation"]["patterns_after"] == 38
    assert gone.is_error and "no pattern with id 'dup-b'" in gone.content[0].text
    meta = kept["patterns"][0]["metadata"]  # both observations survive the merge
    assert meta["success_count"] + meta["failure_count"] == pytest.approx(2.0)
    assert meta["merged_count"] == 1
    # the dry run predicted exactly what the real run did
    assert [(m["kept"], m["removed"]) for m in c["merged"]] == [("dup-a", ["dup-b"])]
    assert c["merged"][0]["confidence_after"] == pytest.approx(merged[0]["confidence_after"])
    assert merged[0]["strategy"] == "bump-and-pray" and merged[0][
        "observations_after"
    ] == pytest.approx(2)
    assert run(_count(db_path)) == 38


# -- transports and entry points ---------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_streamable_http_transport(db_path):
    pytest.importorskip("mcp", reason="the MCP extra is not installed")
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "reasoningbank.mcp_server", "--db", db_path, "--http",
         "--port", str(port)],
        env={**os.environ, **_env()}, cwd=str(ROOT), stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.1)

        async def go():
            async with streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (read, write, *_):
                async with ClientSession(read, write) as s:
                    await s.initialize()
                    names = [t.name for t in (await s.list_tools()).tools]
                    stored = await call(
                        s, "reasoning_store",
                        {"task_description": "over http", "task_category": "net",
                         "strategy": "post", "success": True},
                    )  # fmt: skip
                    return names, stored

        names, stored = run(go())
        assert len(names) == 4 and stored["action"] == "stored"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    err = proc.stderr.read().decode()
    assert f"http://127.0.0.1:{port}/mcp" in err
    assert run(_count(db_path)) == 1


def test_reasoningbank_mcp_subcommand(db_path):
    """``python -m reasoningbank mcp --db PATH`` serves the same tools."""

    async def go():
        async with session(db_path, "-m", "reasoningbank", "--db", db_path, "mcp") as s:
            return [t.name for t in (await s.list_tools()).tools]

    assert len(run(go())) == 4


def test_missing_sdk_prints_the_install_hint(db_path):
    code = (
        "import sys; sys.modules['mcp'] = None; "
        "from reasoningbank.mcp_server import main; sys.exit(main(['--db', sys.argv[1]]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, db_path],
        env={**os.environ, **_env()}, cwd=str(ROOT), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "pip install 'reasoningbank[mcp]'" in proc.stderr
    assert proc.stdout == ""


# -- pure parts: validation and statistics -----------------------------------------------------
def test_validation_fills_defaults_and_names_the_argument():
    schema = TOOLS["reasoning_retrieve"]["input_schema"]
    assert validate(schema, {"query": "x"}) == {"query": "x", "top_k": 5, "min_score": 0}
    with pytest.raises(ToolError, match="min_score must be between 0 and 1"):
        validate(schema, {"query": "x", "min_score": -1})
    with pytest.raises(ToolError, match="arguments must be an object"):
        validate(schema, ["x"])


def test_wilson_interval_matches_known_values():
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(0, 5)
    assert lo == 0.0 and hi == pytest.approx(0.4345, abs=1e-4)
    blo, bhi = beta_interval(9, 3)
    assert blo < 9 / 12 < bhi


def test_trend_needs_three_buckets():
    now = 1_700_000_000.0
    patterns = [
        Pattern.from_dict(
            {
                "task_description": f"t {i}",
                "task_category": "c",
                "strategy": "s",
                "success_score": 0.5,
                "metadata": {"created_at": now - i * DAY},
            },
            new_id=f"p{i}",
            now=now,
        )  # fmt: skip
        for i in range(2)
    ]
    out = analyze_patterns(patterns, bucket="month", now=now)
    assert out["trends"]["direction"] == "insufficient data"
    assert out["counts"]["patterns"] == 2


def test_tool_calls_are_serialised():
    """Consolidation never interleaves with a store: the ToolSet holds one lock."""
    from reasoningbank.mcp_server import ToolSet

    async def go():
        async with await ReasoningBank.open(":memory:") as bank:
            tools = ToolSet(bank)
            store = {"task_category": "c", "strategy": "s", "success": True}
            calls = [
                tools.call("reasoning_store", {"task_description": f"task {i}", **store})
                for i in range(20)
            ]
            calls.append(tools.call("reasoning_optimize", {"consolidate": True}))
            await asyncio.gather(*calls)
            return len(await bank.all_patterns())

    assert run(go()) >= 1


def test_every_tool_is_documented():
    docs = (ROOT / "docs" / "mcp.md").read_text()
    for name, spec in TOOLS.items():
        assert f"### `{name}`" in docs, name
        for arg in spec["input_schema"]["properties"]:
            assert f"`{arg}`" in docs or f'"{arg}"' in docs, (name, arg)


def test_sdk_1x_is_refused_with_the_pin(monkeypatch):
    pytest.importorskip("mcp", reason="the MCP extra is not installed")
    import importlib.metadata

    from reasoningbank.errors import ReasoningBankError
    from reasoningbank.mcp_server import _sdk

    real = importlib.metadata.version
    monkeypatch.setattr(
        importlib.metadata, "version", lambda name: "1.27.0" if name == "mcp" else real(name)
    )
    with pytest.raises(ReasoningBankError, match=r"needs the mcp SDK 2\.x, found 1\.27\.0"):
        _sdk()


# -- trust: no call wipes the bank; one name per field -----------------------------------------
async def _seed_ages(db: str, now: float, stale: int, fresh: int) -> None:
    """``stale`` patterns last touched two years ago (their evidence has decayed to almost
    nothing) and ``fresh`` ones from today, all distinct."""
    old = now - 730 * DAY
    async with await ReasoningBank.open(db) as bank:
        await bank.store_patterns(
            [{"task_description": f"{'stale' if i < stale else 'fresh'} task {i} {w}",
              "task_category": "c", "strategy": f"s{i}", "outcome": {"success": True},
              "metadata": {"created_at": old if i < stale else now,
                           "updated_at": old if i < stale else now}}
             for i, w in enumerate(["alpha", "bravo", "delta", "echo", "golf", "hotel", "india",
                                    "kilo", "lima", "mike", "oscar", "papa"][: stale + fresh])]
        )  # fmt: skip


def test_no_optimize_call_wipes_the_bank(db_path):
    run(_seed_ages(db_path, time.time(), stale=6, fresh=4))

    async def go():
        async with session(db_path) as s:
            huge = await call_error(
                s, "reasoning_optimize", {"consolidate": True, "min_evidence": 1e12}
            )
            plain = await call(s, "reasoning_optimize", {"consolidate": True, "min_evidence": 1})
            preview = await call(s, "reasoning_optimize", {"prune": True, "min_evidence": 0.5})
            refused = await call_error(
                s, "reasoning_optimize", {"prune": True, "min_evidence": 0.5, "dry_run": False}
            )
            return huge, plain, preview, refused

    huge, plain, preview, refused = run(go())
    assert "min_evidence must be between 0 and 1" in huge
    assert plain["consolidation"]["pruned"] == [] and not plain["consolidation"]["dry_run"]
    c = preview["consolidation"]
    assert c["dry_run"] and c["prune"] and len(c["pruned"]) == 6  # a preview by default
    assert "prune would delete 6 of 10 patterns" in refused
    assert run(_count(db_path)) == 10  # nothing was deleted by any of these calls


def test_a_deliberate_prune_deletes_only_decayed_patterns(db_path):
    run(_seed_ages(db_path, time.time(), stale=4, fresh=8))

    async def go():
        async with session(db_path) as s:
            return await call(
                s, "reasoning_optimize", {"prune": True, "min_evidence": 0.5, "dry_run": False}
            )

    c = run(go())["consolidation"]
    assert not c["dry_run"] and len(c["pruned"]) == 4
    assert all(p["observations"] == 1 for p in c["pruned"])
    assert run(_count(db_path)) == 8


OLD_SPELLINGS = [
    ("reasoning_retrieve", {"category": "c"}, "'category': it is called 'task_category'"),
    ("reasoning_analyze", {"category": "c"}, "'category': it is called 'task_category'"),
    ("reasoning_retrieve", {"id": "x"}, "'id': it is called 'pattern_id'"),
    ("reasoning_store", {"task": "x", "task_category": "c", "strategy": "s", "success": True},
     "'task': it is called 'task_description'"),
    ("reasoning_optimize", {"description": "x"}, "'description': it is called 'task_description'"),
    ("reasoning_store", {"task_description": "x", "task_category": "c", "strategy": "s",
                         "score": 0.5}, "'score': it is called 'success_score'"),
    ("reasoning_optimize", {"taskCategory": "c", "task_description": "x"},
     "'taskCategory': it is called 'task_category'"),
]  # fmt: skip


def test_arguments_are_named_as_the_patterns_fields():
    from reasoningbank.mcp_schema import RENAMED
    from reasoningbank.mcp_server import ToolSet

    for name, spec in TOOLS.items():
        props = spec["input_schema"]["properties"]
        assert not set(props) & set(RENAMED), name  # no old spelling is still accepted
        assert "pattern's own fields" in spec["description"], name  # the schema says so
    for name in ("reasoning_store", "reasoning_retrieve", "reasoning_analyze",
                 "reasoning_optimize"):  # fmt: skip
        assert "task_category" in TOOLS[name]["input_schema"]["properties"], name

    async def go():
        async with await ReasoningBank.open(":memory:") as bank:
            tools, messages = ToolSet(bank), []
            for name, args, _ in OLD_SPELLINGS:
                with pytest.raises(ToolError) as caught:
                    await tools.call(name, args)
                messages.append(str(caught.value))
            return messages, len(await bank.all_patterns())

    messages, stored = run(go())
    for (name, args, expected), got in zip(OLD_SPELLINGS, messages, strict=True):
        assert expected in got, (name, args, got)
    assert stored == 0


def test_free_form_arguments_are_bounded():
    from reasoningbank.mcp_schema import MAX_ARGUMENT_DEPTH
    from reasoningbank.mcp_server import ToolSet

    deep: dict = {}
    for _ in range(MAX_ARGUMENT_DEPTH + 1):
        deep = {"x": deep}
    base = {"task_description": "x", "task_category": "c", "strategy": "s", "success": True}
    calls = [
        ({**base, "context": deep}, f"context nests deeper than {MAX_ARGUMENT_DEPTH} levels"),
        ({**base, "outcome": {"metrics": {"m": float("nan")}}}, "outcome.metrics holds a number"),
        ({**base, "outcome": {"tokens_used": 10**300}}, "outcome.tokens_used must be between"),
    ]

    async def go():
        async with await ReasoningBank.open(":memory:") as bank:
            tools, messages = ToolSet(bank), []
            for args, _ in calls:
                with pytest.raises(ToolError) as caught:
                    await tools.call("reasoning_store", args)
                messages.append(str(caught.value))
            return messages, len(await bank.all_patterns())

    messages, stored = run(go())
    for (_, expected), got in zip(calls, messages, strict=True):
        assert expected in got, got
    assert stored == 0
