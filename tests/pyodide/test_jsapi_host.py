"""The JS API dispatcher under CPython: JSON in, JSON out through resolve/reject callbacks."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from reasoningbank import jsapi
from reasoningbank.errors import ReasoningBankError


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


def test_find_answers_like_call_without_json_arguments() -> None:
    """``find`` (``rb.findSimilar``'s own entry: primitives in, no task) replies exactly what
    ``call`` replies for the same query, errors included, and at once on an open bank."""
    jsapi.connect(lambda call_id, reply: None)

    async def scenario() -> None:
        h = await call(0, "open", {"db": ":memory:", "dedupThreshold": None})
        patterns = [
            {"task_description": f"add oauth refresh {i}", "task_category": "b" if i % 2 else "c",
             "strategy": "tdd", "success_score": 0.5 + i / 20, "context": {"k": i % 3}}
            for i in range(8)
        ]  # fmt: skip
        await call(h, "storePatterns", patterns)
        for text, category, k, options in (
            ("oauth refresh", "b", 3, {}),
            ("oauth refresh", None, 5, {"strictCategory": False, "context": {"k": 1}}),
            ("oauth refresh", "b", 3, {"minScore": 0.99}),
            ("x", None, 0, {}),  # InvalidPattern: top_k
            ("x", None, 3, {"bogus": 1}),  # InvalidPattern: unknown option
        ):
            options_json = json.dumps(options) if options else ""
            fast = jsapi.find(h, text, category, k, options_json, 1)
            assert fast is not None  # answered at once: nothing to wait for
            args = json.dumps([text, category, k, options])
            task = asyncio.ensure_future(jsapi._reply(h, "findSimilar", args))
            assert fast == await task
        reply = jsapi.find(h, "oauth", None, 3, "{not json", 2)
        assert reply is not None and json.loads(reply[1:])["name"] == "InternalError"
        await call(h, "close")
        reply = jsapi.find(h, "oauth", None, 3, "", 3)
        assert reply is not None and json.loads(reply[1:])["name"] == "BankClosed"

    asyncio.run(scenario())


def test_a_reply_that_must_wait_is_finished_by_a_task() -> None:
    """When the call has to wait (an IndexedDB round trip in the browser), ``find``'s runner
    returns None and the rest runs as a task that settles the reply; cancelling the task
    cancels the call and settles an error; without ``connect`` the call is refused and nothing keeps running."""
    settled: dict[int, str] = {}
    jsapi.connect(lambda call_id, reply: settled.__setitem__(call_id, reply))
    steps: list[str] = []

    async def waits(gate: asyncio.Future[str]) -> str:
        steps.append("started")
        try:
            value = await gate
        except asyncio.CancelledError:
            steps.append("cancelled")
            raise
        steps.append("resumed")
        return "1" + json.dumps(value)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        gate: asyncio.Future[str] = loop.create_future()
        assert jsapi._now_or_later(waits(gate), 5) is None
        assert steps == ["started"] and 5 not in settled
        gate.set_result("done")
        for _ in range(5):
            await asyncio.sleep(0)
        assert steps == ["started", "resumed"] and settled.pop(5) == '1"done"'

        steps.clear()
        assert jsapi._now_or_later(waits(loop.create_future()), 6) is None
        await asyncio.sleep(0)  # the task took over the call
        [task] = [t for t in jsapi._tasks if not t.done()]
        task.cancel()
        for _ in range(5):
            await asyncio.sleep(0)
        assert steps == ["started", "cancelled"]
        assert json.loads(settled.pop(6)[1:])["message"] == "the call was cancelled"

        steps.clear()
        jsapi._settle = None
        coro = waits(loop.create_future())
        try:
            jsapi._now_or_later(coro, 7)
        except ReasoningBankError:
            pass
        else:
            raise AssertionError("a call that must wait needs connect() first")
        assert coro.cr_frame is None  # closed, not left suspended

    asyncio.run(scenario())
