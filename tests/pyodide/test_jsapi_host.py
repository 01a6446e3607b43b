"""The JS API dispatcher under CPython: JSON in, JSON out through resolve/reject callbacks."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from reasoningbank import jsapi


async def call(handle: int, method: str, *args: Any) -> Any:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[tuple[bool, str]] = loop.create_future()
    jsapi.dispatch(
        handle,
        method,
        json.dumps(list(args)),
        lambda out: done.set_result((True, out)),
        lambda err: done.set_result((False, err)),
    )
    ok, payload = await done
    if not ok:
        raise LookupError(json.loads(payload))
    return json.loads(payload)


def test_dispatch_round_trip_and_errors() -> None:
    async def scenario() -> None:
        h = await call(0, "open", {"db": ":memory:", "dedupThreshold": None})
        pid = await call(
            h,
            "storePattern",
            {
                "task_description": "add oauth token refresh",
                "task_category": "backend",
                "strategy": "tdd",
                "success_score": 0.9,
            },
        )
        matches = await call(
            h, "findSimilar", "refresh oauth tokens", "backend", 3, {"minScore": 0.1}
        )
        assert [m["pattern"]["id"] for m in matches] == [pid]
        assert (await call(h, "getPattern", "nope")) is None
        updated = await call(
            h, "recordOutcome", pid, {"success": False, "score": 0.1, "tokensUsed": 5}
        )
        assert updated["outcome"]["tokens_used"] == 5
        assert (await call(h, "recommendStrategy", "oauth", "backend"))["strategy"] == "tdd"
        assert (await call(h, "getStats"))["storage"]["backend"] == "memory"
        for method, args, name in (
            ("recordOutcome", ("missing", {"success": True}), "NotFound"),
            ("storePattern", ({"task_category": "x"},), "InvalidPattern"),
            ("recordOutcome", (pid, {"bogus": 1}), "InvalidPattern"),
            ("noSuchMethod", (), "InvalidPattern"),
        ):
            try:
                await call(h, method, *args)
            except LookupError as exc:
                assert exc.args[0]["name"] == name, exc.args
            else:
                raise AssertionError(method)
        await call(h, "close")
        try:
            await call(h, "getStats")
        except LookupError as exc:
            assert exc.args[0]["name"] == "BankClosed"

    asyncio.run(scenario())
