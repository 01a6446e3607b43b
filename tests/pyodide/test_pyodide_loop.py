"""The closed loop inside Pyodide (Node + Chromium) on IndexedDB: learn, retrieve,
memory_prompt and MaTTS with a Python scripted LLM and with a JavaScript function as the
LLM, compared with the same checks under CPython; and the OpenAI-compatible adapter over
the runtime's own fetch."""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import loop_checks

LOOP = (Path(__file__).parent / "loop_checks.py").read_text(encoding="utf-8")
JS_LLM = """
from pyodide.code import run_js
answers = json.dumps(LOOP_ANSWERS)
js_llm = run_js('''(answers => async (prompt) => {
    for (const [key, text] of Object.entries(answers)) if (prompt.includes(key)) return text;
    throw new Error("unscripted prompt");
})(''' + answers + ''')''')
"""


def reference() -> dict:
    """The same check under CPython on a SQLite file (reopened like the IndexedDB one)."""
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(1) as pool:
        check = loop_checks.check_loop(str(Path(tmp) / "bank.db"))
        return json.loads(pool.submit(asyncio.run, check).result())


def location(selenium) -> str:  # type: ignore[no-untyped-def]
    return f"idb://loop-{selenium.browser}-{uuid.uuid4().hex[:8]}"


def test_loop_with_python_llm_matches_cpython(rb):
    got = rb.run_async(LOOP + f"\nawait check_loop({location(rb)!r})\n")
    assert json.loads(got) == reference()


def test_loop_with_a_javascript_function_as_llm(rb):
    got = rb.run_async(LOOP + JS_LLM + f"\nawait check_loop({location(rb)!r}, js_llm)\n")
    assert json.loads(got) == reference()


class _CorsChatStub(BaseHTTPRequestHandler):
    """An OpenAI-compatible peer a page may call (CORS allowed); records the auth header."""

    auth: list[str | None] = []

    def _cors(self) -> None:
        self.send_header("access-control-allow-origin", "*")
        self.send_header("access-control-allow-headers", "authorization, content-type")
        self.send_header("access-control-allow-methods", "POST")

    def do_OPTIONS(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(204)
        self._cors()
        self.end_headers()

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).auth.append(self.headers.get("authorization"))
        prompt = body["messages"][-1]["content"]
        answer = next(t for k, t in loop_checks.LOOP_ANSWERS.items() if k in prompt)
        data = json.dumps({"choices": [{"message": {"content": answer}}]}).encode()
        self.send_response(200)
        self._cors()
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
        pass


def test_openai_chat_uses_fetch_inside_pyodide(rb):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CorsChatStub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _CorsChatStub.auth = []
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    code = (
        LOOP
        + f"""
from reasoningbank.loop import openai_chat
llm = openai_chat({url!r}, "local-model", api_key="k-123")
bank = await ReasoningBank.open({location(rb)!r})
report = await bank.learn(LOOP_TASK, LOOP_WIN, category="web", llm=llm)
await bank.close()
json.dumps([report.verdict.judged_by, report.verdict.score, [i.title for i in report.items],
            report.items[0].provenance["model"]])
"""
    )
    try:
        got = json.loads(rb.run_async(code))
    finally:
        server.shutdown()
        server.server_close()
    assert got == ["llm", 0.85, ["Sort by price"], "local-model"]
    assert _CorsChatStub.auth == ["Bearer k-123", "Bearer k-123"]
