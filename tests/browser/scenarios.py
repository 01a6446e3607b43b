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


# -- the page, used through its controls (all engines) ------------------------------------
PAGE_SCENARIO = (Path(__file__).parent / "page_scenario.js").read_text(encoding="utf-8")
FOREIGN = [
    {
        "id": f"foreign-{n:02d}",
        "task_description": f"tune cache eviction policy number {n}",
        "task_category": "infra",
        "strategy": "measure first" if n % 2 else "load test",
        "outcome": {"success": n % 3 != 0, "success_score": 0.6},
    }
    for n in range(12)
]


def page_playwright_js() -> str:
    return f"async (args) => {{\n{PAGE_SCENARIO}\n}}"


def page_selenium_js() -> str:
    return (
        "const done = arguments[arguments.length - 1]; const args = arguments[0];\n"
        f"(async () => {{\n{PAGE_SCENARIO}\n}})().then((v) => done([true, v]), (e) => done([false, String(e && e.stack || e)]));"
    )


def foreign_bundle() -> dict[str, str]:
    """A bundle of FOREIGN signed by a fresh CPython key, as ``reasoningbank export`` makes it."""
    import os
    import time

    from reasoningbank.bundle import build_bundle, ed25519_sign, public_key_of
    from reasoningbank.model import Pattern

    seed = os.urandom(32)
    now = time.time()
    patterns = [Pattern.from_dict(p, new_id=p["id"], now=now).to_dict() for p in FOREIGN]
    blob = build_bundle(
        patterns, sign=lambda m: ed25519_sign(seed, m), public_key=public_key_of(seed), now=now
    )
    return {"bundle": blob.decode(), "signer": public_key_of(seed).hex()}


def check_page(out: dict[str, Any], foreign: dict[str, str]) -> None:
    """What the page must have shown at each step of page_scenario.js."""
    blank = out["blankAdd"]
    assert blank["error"] == "The task cannot be empty or only spaces.", blank
    assert blank["role"] == "alert" and blank["invalid"] == "true" and blank["focused"], blank
    assert blank["stored"] == 0
    assert "cannot be empty" in out["blankSearch"] and out["addErrorCleared"]

    result, pattern = out["result"], out["result"]["pattern"]
    meta = pattern["metadata"]
    assert pattern["outcome"]["success"] is False and meta["usage_count"] == 1
    # Both: the latest stored outcome and the confidence over every outcome.
    assert "last outcome: failed (0.00)" in result["text"], result["text"]
    assert f"confidence {round(100 * meta['confidence'])}% over 2 outcomes" in result["text"]
    assert result["scoreText"].startswith("match ") and "similarity" in result["scoreTitle"]
    assert "outcome" in result["scoreTitle"] and "category" in result["scoreTitle"]

    chart = dict(out["chart"]["strategies"])
    assert set(chart) == {"test-driven", "spec-first", "prototype then harden"}, chart
    rate = meta["success_count"] / (meta["success_count"] + meta["failure_count"])
    assert math.isclose(chart[pattern["strategy"]], rate, abs_tol=1e-4), (chart, rate)
    assert out["chart"]["points"] == 3 and "Success rate by strategy" in out["chart"]["label"]

    assert out["listAll"] == 3 and out["listFrontend"] == ["build responsive login form"]
    assert "build responsive login form" in out["dialogText"]
    assert out["afterCancel"] == {"listed": 3, "stored": 3}
    assert out["afterDelete"] == {"listed": 2, "stored": 2, "gone": True}

    assert "64 hexadecimal digits" in out["badKey"]
    friend = "ab" * 32
    assert out["trustedAfterAdd"] == {friend: {"label": "friend's laptop"}}
    assert "friend's laptop" in out["trustRow"] and out["trustedAfterRemove"] == {}

    exported = out["exported"]
    assert exported["count"] == 2 and exported["lines"] == 4 and exported["key"] == exported["own"]
    re = out["reimport"]
    assert re["summary"].startswith("mine.rbundle: imported 0 of 2 patterns"), re
    assert len(re["skipped"]) == 2 and all("already in the bank" in s for s in re["skipped"])
    assert "does not match its SHA-256" in out["tampered"]["error"], out["tampered"]
    assert (
        foreign["signer"] in out["untrusted"]["error"]
        and "does not trust" in out["untrusted"]["error"]
    )
    assert out["trusted"]["summary"].startswith("theirs.rbundle: imported 12 of 12 patterns")
    assert out["afterImport"] == {"stored": 14, "page": "page 1 of 2 · 14 patterns", "listed": 10}
    assert out["page2"] == {"page": "page 2 of 2 · 14 patterns", "listed": 4, "next": True}
    assert "bundle" in out["garbage"]["error"] and out["garbage"]["summary"] is None

    assert out["footer"] == "Stored only in this browser."
    assert out["net"] == {"text": "Online · sharing off", "online": "true"}
