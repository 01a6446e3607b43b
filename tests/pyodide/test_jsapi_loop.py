"""The JS API's closed loop under CPython: ``learn`` (through ``dispatch``, and through the
``learn`` entry that carries a model function), ``retrieve`` and ``memoryPrompt``, with JSON
in and out as the page sees them. The same calls run in Pyodide with JS models in
test_pyodide_jsapi_loop.py."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from reasoningbank import jsapi

STEPS = [{"action": "pytest", "observation": "1 failed: AssertionError: session cookie missing"}]
LESSON = {
    "title": "Freeze the clock in session tests",
    "description": "A cookie expiring mid-test looks missing.",
    "content": "Avoid the real clock in session tests because expiry races the assertion.",
}


def model(prompt: str) -> str:
    if '"success": true or false' in prompt:
        return '{"success": false, "score": 0.3, "reason": "a test fails"}'
    return json.dumps({"items": [LESSON]})


async def settle(start: Any) -> Any:
    """Run a dispatch-style call; its result, or its error document as a LookupError."""
    done: asyncio.Future[tuple[bool, str]] = asyncio.get_running_loop().create_future()
    start(lambda out: done.set_result((True, out)), lambda err: done.set_result((False, err)))
    ok, payload = await done
    if not ok:
        raise LookupError(json.loads(payload))
    return json.loads(payload)


def call(handle: int, method: str, *args: Any) -> Any:
    return settle(lambda ok, err: jsapi.dispatch(handle, method, json.dumps(args), ok, err))


def learn(handle: int, llm: Any, *args: Any) -> Any:
    return settle(lambda ok, err: jsapi.learn(handle, json.dumps(args), llm, ok, err))


async def error_name(awaitable: Any) -> str:
    try:
        await awaitable
    except LookupError as exc:
        return f"{exc.args[0]['name']}: {exc.args[0]['message']}"
    raise AssertionError("expected an error")


def test_learn_retrieve_memory_prompt_through_the_js_api() -> None:
    async def scenario() -> None:
        h = await call(0, "open", {"db": ":memory:"})
        judged = await learn(h, model, "fix the flaky login test", STEPS, {"category": "testing"})
        assert judged["verdict"]["judged_by"] == "llm" and judged["verdict"]["score"] == 0.3
        assert [i["title"] for i in judged["items"]] == [LESSON["title"]]

        async def slow_model(prompt: str) -> str:
            await asyncio.sleep(0)
            return model(prompt)

        told = await learn(h, slow_model, "add a login page", "9 passing", {"outcome": 1.0})
        assert told["verdict"]["judged_by"] == "outcome" and told["items"][0]["kind"] == "success"
        plain = await call(h, "learn", "migrate the users", "Traceback: no such table\nexit 1")
        assert plain["verdict"]["judged_by"] == "heuristic"
        stored = (await call(h, "getStats"))["total_patterns"]

        def broken(prompt: str) -> str:
            raise RuntimeError("model offline")

        assert (await error_name(learn(h, broken, "t", "ran it"))).startswith("LLMCallFailed")
        garbage = await error_name(learn(h, lambda p: "no idea", "t", "ran it"))
        assert garbage.startswith("LLMAnswerError")
        assert (await error_name(learn(h, model, "t"))).startswith("InvalidPattern")
        unknown = await error_name(call(h, "learn", "t", "ran it", {"llm": "x"}))
        assert unknown.startswith("InvalidPattern") and "llm" in unknown
        assert (await call(h, "getStats"))["total_patterns"] == stored

        items = await call(h, "retrieve", "fix the flaky signup test", {"k": 2, "diversity": 0.3})
        assert items[0]["title"] == LESSON["title"] and items[0]["category"] == "testing"
        block = await call(h, "memoryPrompt", "fix the flaky signup test", {"k": 2})
        assert LESSON["content"] in block
        await call(h, "close")

    asyncio.run(scenario())
