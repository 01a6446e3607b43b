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


def test_call_replies_at_once_or_through_settle() -> None:
    """``call`` (the page's path): a reply when the call finished at once, else None and
    ``settle(call_id, reply)`` later; ``_unpack_matches`` gives what ``dispatch`` resolves."""
    settled: dict[int, str] = {}
    jsapi.connect(lambda call_id, reply: settled.__setitem__(call_id, reply))

    async def reply_of(call_id: int, handle: int, method: str, *args: Any) -> str:
        reply = jsapi.call(handle, method, json.dumps(list(args)), call_id)
        while reply is None:  # CPython < 3.12 has no eager tasks: always settled later
            await asyncio.sleep(0)
            reply = settled.pop(call_id, None)
        return reply

    async def scenario() -> None:
        h = await call(0, "open", {"db": ":memory:", "dedupThreshold": None})
        pattern = {"task_description": "add oauth refresh", "task_category": "b",
                   "strategy": "tdd", "success_score": 0.9, "context": {"k": 1}}  # fmt: skip
        reply = await reply_of(7, h, "storePatterns", [pattern])
        assert reply[0] == "1" and len(json.loads(reply[1:])) == 1
        reply = await reply_of(8, h, "findSimilar", "oauth refresh", "b", 3)
        assert reply[0] == "2"
        unpacked = jsapi._unpack_matches(reply[1:])
        assert len(unpacked) == 1 and unpacked[0]["pattern"]["context"] == {"k": 1}
        assert unpacked == await call(h, "findSimilar", "oauth refresh", "b", 3)
        reply = await reply_of(9, h, "findSimilar", "x", None, 0)
        assert reply[0] == "0" and json.loads(reply[1:])["name"] == "InvalidPattern"

    asyncio.run(scenario())
