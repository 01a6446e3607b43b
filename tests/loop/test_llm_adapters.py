"""The LLM adapters against real peers: a subprocess for command_llm, a local
OpenAI-compatible HTTP server for openai_chat. The bank never stores a key."""

from __future__ import annotations

import json
import shlex
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reasoningbank import LLMCallFailed, ReasoningBank
from reasoningbank.loop import command_llm, openai_chat
from tests.conftest import run

TASK = "book the cheapest flight to Oslo"
TRAJ = "action: search(sort='price')\nobservation: 3 passed\nTask completed."
ANSWERS = {
    "You are judging": '{"success": true, "score": 0.8, "reason": "it worked"}',
    "SUCCEEDED": '```json\n{"items": [{"title": "Sort by price", "description": "Cheapest first.",'
    ' "content": "Sort the results by price before choosing."}]}\n```',
}

# A stand-in for any LLM command line tool: reads the prompt on stdin, prints an answer.
SCRIPT = f"""
import sys, json
prompt = sys.stdin.read()
answers = {json.dumps(ANSWERS)!r}
for key, answer in json.loads(answers).items():
    if key in prompt:
        print(answer)
        break
else:
    print("unscripted", file=sys.stderr)
    sys.exit(3)
"""


def _cmd(script: str) -> str:
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(script)}"


def test_command_llm_runs_learn_through_a_real_subprocess(db_path):
    async def go():
        async with await ReasoningBank.open(db_path) as bank:
            return await bank.learn(TASK, TRAJ, category="web", llm=command_llm(_cmd(SCRIPT)))

    report = run(go())
    assert report.verdict.judged_by == "llm" and report.verdict.score == 0.8
    assert [i.title for i in report.items] == ["Sort by price"]


def test_command_llm_non_zero_exit_is_a_clear_error_and_stores_nothing(db_path):
    script = "import sys; sys.stdin.read(); print('model not loaded', file=sys.stderr); sys.exit(2)"

    async def go():
        async with await ReasoningBank.open(db_path) as bank:
            with pytest.raises(LLMCallFailed) as info:
                await bank.learn(TASK, TRAJ, llm=command_llm(_cmd(script)))
            return str(info.value), (await bank.get_stats())["total_patterns"]

    message, total = run(go())
    assert "exited with 2: model not loaded" in message and "\n" not in message
    assert total == 0


def test_command_llm_timeout_and_missing_command():
    slow = command_llm(_cmd("import time; time.sleep(30)"), timeout=0.5)
    with pytest.raises(LLMCallFailed, match=r"timed out after 0.5s"):
        run(slow("hi"))
    with pytest.raises(LLMCallFailed, match="cannot run LLM command 'no-such-llm-tool-xyz'"):
        run(command_llm("no-such-llm-tool-xyz --flag")("hi"))


class _ChatStub(BaseHTTPRequestHandler):
    """An OpenAI-compatible /chat/completions peer; records what it was sent."""

    seen: list[dict] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).seen.append({"path": self.path, "auth": self.headers.get("authorization"),
                                "body": body})  # fmt: skip
        prompt = body["messages"][-1]["content"]
        answer = next((a for k, a in ANSWERS.items() if k in prompt), "?")
        payload = {"choices": [{"message": {"role": "assistant", "content": answer}}]}
        if type(self).status != 200:
            payload = {"error": {"message": "invalid api key"}}
        data = json.dumps(payload).encode()
        self.send_response(type(self).status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def chat_server():
    pytest.importorskip("httpx")
    _ChatStub.seen = []
    _ChatStub.status = 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ChatStub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_openai_chat_learns_and_the_key_is_stored_nowhere(db_path, chat_server):
    key = "sk-test-VERYSECRETKEY0123456789abcdef"
    llm = openai_chat(chat_server, "local-model", api_key=key)

    async def go():
        async with await ReasoningBank.open(db_path) as bank:
            return await bank.learn(TASK, TRAJ, category="web", llm=llm)

    report = run(go())
    assert report.verdict.judged_by == "llm"
    assert report.items[0].provenance["model"] == "local-model"
    assert [s["path"] for s in _ChatStub.seen] == ["/v1/chat/completions"] * 2
    assert all(s["auth"] == f"Bearer {key}" for s in _ChatStub.seen)
    assert _ChatStub.seen[0]["body"]["model"] == "local-model"
    assert key not in repr(llm)
    stored = b""
    for suffix in ("", "-wal", "-shm"):
        try:
            with open(db_path + suffix, "rb") as f:
                stored += f.read()
        except FileNotFoundError:
            pass
    assert stored and key.encode() not in stored and b"VERYSECRETKEY" not in stored


def test_openai_chat_http_error_is_llm_call_failed(chat_server):
    _ChatStub.status = 401
    llm = openai_chat(chat_server, "m", api_key="k")
    with pytest.raises(LLMCallFailed, match="answered HTTP 401"):
        run(llm("hi"))


def test_openai_chat_unreachable_endpoint_is_llm_call_failed():
    pytest.importorskip("httpx")
    llm = openai_chat("http://127.0.0.1:9/v1", "m", timeout=2.0)
    with pytest.raises(LLMCallFailed, match="failed: ConnectError"):
        run(llm("hi"))
