"""The closed loop over MCP: ``reasoning_store`` with a trajectory learns, asking the *client's*
model through MCP sampling when the client offers it (the real SDK client over stdio, with a
scripted model as its sampling callback), and the heuristic path when it does not;
``reasoning_retrieve`` with ``format: "prompt"`` renders the memory block."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from reasoningbank.bank import ReasoningBank
from reasoningbank.mcp_schema import TOOLS

from .conftest import run

ROOT = Path(__file__).resolve().parents[1]
TASK = "fix the flaky login test"
STEPS = [
    {"thought": "the login test fails one run in five", "action": "pytest tests/test_login.py",
     "observation": "1 failed, 12 passed: AssertionError: session cookie missing"},
    {"thought": "retry until green", "action": "pytest tests/test_login.py --count 5",
     "observation": "FAILED test_login_sets_cookie - AssertionError"},
]  # fmt: skip
LESSONS = {
    "items": [
        {
            "title": "Do not retry a flaky test into green",
            "description": "Retries hide the race that makes the login test flaky.",
            "content": "Avoid rerunning the test until it passes because the race stays.",
        }
    ]
}


class ScriptedModel:
    """The client's model: answers the judge and the distiller, and records every request."""

    def __init__(self, answers: list[str] | None = None, refuse: bool = False) -> None:
        self.requests: list[Any] = []
        self.answers = answers
        self.refuse = refuse

    async def __call__(self, context: Any, params: Any) -> Any:
        import mcp.types as types

        self.requests.append(params)
        if self.refuse:
            return types.ErrorData(code=types.INVALID_REQUEST, message="the user declined")
        prompt = params.messages[0].content.text
        if self.answers is not None:
            text = self.answers[min(len(self.requests), len(self.answers)) - 1]
        elif '"success": true or false' in prompt:
            text = (
                '```json\n{"success": false, "score": 0.2, "reason": "the test still fails"}\n```'
            )
        else:
            text = json.dumps(LESSONS)
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text=text), model="scripted-7b"
        )


@contextlib.asynccontextmanager
async def session(db: str, model: ScriptedModel | None):
    """A real MCP client over stdio; with ``model`` it declares the sampling capability."""
    pytest.importorskip("mcp", reason="the MCP extra is not installed")
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "reasoningbank.mcp_server", "--db", db], env=env
    )
    with open(os.devnull, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write, sampling_callback=model) as s:
                await s.initialize()
                yield s


async def call(s: Any, name: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await s.call_tool(name, args)
    assert not result.is_error, result.content[0].text
    assert json.loads(result.content[0].text) == result.structured_content
    return dict(result.structured_content)


async def call_error(s: Any, name: str, args: dict[str, Any]) -> str:
    result = await s.call_tool(name, args)
    assert result.is_error, f"expected an error for {args}"
    return str(result.content[0].text)


async def count(db: str) -> int:
    async with await ReasoningBank.open(db) as bank:
        return len(await bank.all_patterns())


def test_store_with_a_trajectory_asks_the_clients_model(db_path):
    model = ScriptedModel()

    async def go():
        async with session(db_path, model) as s:
            learned = await call(
                s, "reasoning_store",
                {"task_description": TASK, "task_category": "testing", "trajectory": STEPS},
            )  # fmt: skip
            block = await call(
                s, "reasoning_retrieve",
                {"query": "fix the flaky signup test", "format": "prompt", "top_k": 3},
            )  # fmt: skip
            plain = await call(s, "reasoning_retrieve", {"query": "flaky login test"})
        return learned, block, plain

    learned, block, plain = run(go())
    assert learned["action"] == "learned"
    assert learned["verdict"] == {
        "success": False, "score": 0.2, "reason": "the test still fails", "judged_by": "llm"
    }  # fmt: skip
    [item] = learned["items"]
    assert item["kind"] == "failure" and item["title"] == LESSONS["items"][0]["title"]
    assert item["provenance"]["model"] == "scripted-7b"
    assert learned["ids"] and run(count(db_path)) == 1
    # Two sampling requests (judge, then the failure distiller), each carrying the steps.
    assert len(model.requests) == 2
    texts = [r.messages[0].content.text for r in model.requests]
    assert all("session cookie missing" in t for t in texts) and "FAILED" in texts[1]
    assert all(r.max_tokens > 0 for r in model.requests)
    assert block["mode"] == "prompt" and "Do not retry a flaky test into green" in block["prompt"]
    assert plain["mode"] == "query" and plain["matches"][0]["id"] == learned["ids"][0]


def test_without_sampling_the_heuristic_path_learns(db_path):
    traceback_log = (
        "$ python manage.py migrate\nTraceback (most recent call last):\n"
        "django.db.utils.OperationalError: no such table: auth_user\nexit code 1\n"
    )

    async def go():
        async with session(db_path, None) as s:
            judged = await call(
                s, "reasoning_store",
                {"task_description": "migrate the user table", "trajectory": traceback_log},
            )  # fmt: skip
            told = await call(
                s, "reasoning_store",
                {"task_description": "add a login page", "trajectory": "$ npm test\n9 passing",
                 "task_category": "frontend", "outcome": {"success": True, "success_score": 0.9}},
            )  # fmt: skip
        return judged, told

    judged, told = run(go())
    assert judged["verdict"]["judged_by"] == "heuristic" and judged["verdict"]["success"] is False
    assert judged["items"] and all(i["kind"] == "failure" for i in judged["items"])
    assert told["verdict"]["judged_by"] == "outcome" and told["verdict"]["score"] == 0.9
    assert all("model" not in i["provenance"] for i in judged["items"] + told["items"])


@pytest.mark.parametrize(
    ("model", "fragment"),
    [
        (ScriptedModel(refuse=True), "the user declined"),
        (ScriptedModel(answers=["I think it went fine."]), "LLMAnswerError"),
    ],
    ids=["declined", "garbage"],
)
def test_a_failing_client_model_is_a_tool_error_and_stores_nothing(db_path, model, fragment):
    async def go():
        async with session(db_path, model) as s:
            await call(
                s, "reasoning_store",
                {"task_description": "seed", "task_category": "c", "strategy": "s", "success": True},
            )  # fmt: skip
            error = await call_error(
                s, "reasoning_store", {"task_description": TASK, "trajectory": STEPS}
            )
            still = await call(s, "reasoning_retrieve", {"query": "seed"})
        return error, still

    error, still = run(go())
    assert fragment in error and "\n" not in error
    assert still["count"] == 1 and run(count(db_path)) == 1


def test_learn_arguments_are_checked_before_anything_runs(db_path):
    model = ScriptedModel()
    cases = [
        ({"task_description": TASK, "trajectory": STEPS, "strategy": "tdd"}, "drop strategy"),
        ({"task_description": TASK, "trajectory": 7}, "trajectory must be string or array"),
        ({"task_description": TASK, "trajectory": [{"thougth": "x"}]}, "unknown argument"),
        ({"task_description": TASK, "trajectory": STEPS, "outcome": {"tokens_used": 3}},
         "drop outcome.tokens_used"),
        ({"trajectory": STEPS}, "missing arguments"),
    ]  # fmt: skip

    async def go():
        async with session(db_path, model) as s:
            errors = [await call_error(s, "reasoning_store", args) for args, _ in cases]
            errors.append(
                await call_error(
                    s, "reasoning_retrieve", {"task_category": "testing", "format": "prompt"}
                )
            )
            tools = {t.name for t in (await s.list_tools()).tools}
        return errors, tools

    errors, tools = run(go())
    for (_, fragment), error in zip(cases, errors, strict=False):
        assert fragment in error, error
    assert "format 'prompt' needs query" in errors[-1]
    assert tools == set(TOOLS) and len(tools) == 4
    assert model.requests == [] and run(count(db_path)) == 0


def test_sampling_over_streamable_http(db_path):
    """The HTTP transport carries the sampling request back to the client too."""
    pytest.importorskip("mcp", reason="the MCP extra is not installed")
    import signal
    import socket
    import subprocess
    import time

    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "reasoningbank.mcp_server", "--db", db_path, "--http",
         "--port", str(port)],
        env=env, cwd=str(ROOT), stderr=subprocess.DEVNULL,
    )  # fmt: skip
    model = ScriptedModel()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            assert proc.poll() is None
            time.sleep(0.1)

        async def go():
            url = f"http://127.0.0.1:{port}/mcp"
            async with streamable_http_client(url) as (read, write, *_):
                async with ClientSession(read, write, sampling_callback=model) as s:
                    await s.initialize()
                    return await call(
                        s, "reasoning_store", {"task_description": TASK, "trajectory": STEPS}
                    )

        learned = run(go())
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
    assert learned["verdict"]["judged_by"] == "llm" and len(model.requests) == 2
    assert learned["items"][0]["provenance"]["model"] == "scripted-7b"
