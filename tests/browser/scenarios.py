"""Shared test data and expectations for the JS API scenario (all engines)."""

from __future__ import annotations

import asyncio
import json
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

PATTERNS = [
    {
        "id": "oauth-1",
        "task_description": "add oauth token refresh",
        "task_category": "backend",
        "strategy": "test-driven",
        "outcome": {"success": True, "success_score": 0.9},
    },
    {
        "id": "oauth-2",
        "task_description": "refresh expired oauth tokens in the mobile app",
        "task_category": "backend",
        "strategy": "spec-first",
        "success_score": 0.4,
    },
    {
        "id": "pool-1",
        "task_description": "fix database connection pool leak",
        "task_category": "backend",
        "strategy": "pair review",
        "outcome": {"success": True, "success_score": 0.7},
    },
    {
        "id": "login-1",
        "task_description": "build responsive login form",
        "task_category": "frontend",
        "strategy": "prototype then harden",
        "outcome": {"success": False, "success_score": 0.2},
    },
    {
        "id": "login-2",
        "task_description": "fix flickering login form modal",
        "task_category": "frontend",
        "strategy": "test-driven",
        "outcome": {"success": True, "success_score": 0.8},
    },
]

SCENARIO = (
    (Path(__file__).parent / "jsapi_scenario.js")
    .read_text(encoding="utf-8")
    .replace("__PATTERNS__", json.dumps(PATTERNS))
)


def playwright_js() -> str:
    return f"async (db) => {{\n{SCENARIO}\n}}"


def selenium_js() -> str:
    """For ``execute_async_script(js, db)``: the callback gets ``[ok, value]``."""
    return (
        "const done = arguments[arguments.length - 1]; const db = arguments[0];\n"
        f"(async () => {{\n{SCENARIO}\n}})().then((v) => done([true, v]), (e) => done([false, String(e && e.stack || e)]));"
    )


async def _reference() -> dict[str, Any]:
    from reasoningbank import ReasoningBank

    bank = await ReasoningBank.open(":memory:")
    try:
        await bank.store_patterns(PATTERNS[1:])
        await bank.store_pattern(PATTERNS[0])
        matches = await bank.find_similar("refresh oauth tokens", "backend", 3)
        other = await bank.find_similar("login form", None, 2)
        return {
            "matches": [(m.pattern.id, m.score) for m in matches],
            "anyCategory": [(m.pattern.id, m.score) for m in other],
        }
    finally:
        await bank.close()


def reference() -> dict[str, Any]:
    """What CPython answers for the scenario's searches (computed in a thread: the test
    process may already run an event loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(_reference())).result()


def check(result: dict[str, Any]) -> None:
    """Everything the JS API must have returned."""
    ref = reference()
    assert result["plain"], "results must be plain JS objects"
    assert result["after"] == result["before"], (
        f"PyProxies leaked: {result['before']} -> {result['after']}"
    )
    assert result["ids"] == [p["id"] for p in PATTERNS[1:]] and result["id"] == "oauth-1"
    for key in ("matches", "anyCategory"):
        got = [(m["pattern"]["id"], m["score"]) for m in result[key]]
        assert [g[0] for g in got] == [r[0] for r in ref[key]], (key, got, ref[key])
        for (_, a), (_, b) in zip(got, ref[key], strict=False):
            assert math.isclose(a, b, abs_tol=1e-6), (key, a, b)
    m = result["matches"][0]
    assert set(m) >= {"pattern", "score", "similarity", "parts"} and "embedding" not in m["pattern"]
    assert result["got"]["task_description"] == "add oauth token refresh"
    assert result["missing"] is None
    assert {p["id"] for p in result["byCat"]} == {"oauth-1", "oauth-2", "pool-1"}
    assert result["updated"]["metadata"]["usage_count"] >= 1
    assert result["updated"]["outcome"]["duration_seconds"] == 3
    assert (
        result["rec"]["strategy"] in {"test-driven", "spec-first"}
        and 0 <= result["rec"]["confidence"] <= 1
    )
    assert result["stats"]["total_patterns"] == 5 and result["stats"]["storage"]["backend"] == "idb"
    assert result["stats"]["runtime"] == "pyodide-browser"
    assert result["error"]["name"] == "NotFound" and result["error"]["isRB"]
    assert result["error"]["patternId"] == "no-such-id"
    assert result["invalid"]["name"] == "InvalidPattern"
    assert result["closed"] == "BankClosed"
