"""Malformed and hostile MCP messages, sent as raw bytes to a real server process.

Every message the server cannot serve gets a JSON-RPC error (never silence, never a crash),
and the server keeps serving afterwards with nothing stored lost.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time

import pytest

from reasoningbank.mcp_wire import MAX_MESSAGE_BYTES, MAX_MESSAGE_DEPTH

from .test_mcp import ROOT, _count, _env, _free_port

pytest.importorskip("mcp", reason="the MCP extra is not installed")

PARSE_ERROR, INVALID_REQUEST, INVALID_PARAMS = -32700, -32600, -32602
INIT = {
    "protocolVersion": "2025-06-18",
    "capabilities": {},
    "clientInfo": {"name": "raw", "version": "1"},
}
STORE = {
    "name": "reasoning_store",
    "arguments": {"task_description": "keep me", "task_category": "c", "strategy": "s",
                  "success": True},
}  # fmt: skip


def _line(message: dict) -> bytes:
    return json.dumps(message).encode()


class RawStdio:
    """``python -m reasoningbank mcp`` with raw lines on its stdin and stdout."""

    def __init__(self, db: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reasoningbank", "--db", db, "mcp"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, **_env()}, cwd=str(ROOT),
        )  # fmt: skip
        self.send(_line({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": INIT}))
        assert "result" in self.receive()
        self.send(_line({"jsonrpc": "2.0", "method": "notifications/initialized"}))

    def send(self, line: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + b"\n")
        self.proc.stdin.flush()

    def receive(self, timeout: float = 20.0) -> dict:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, "no answer: the server stayed silent"
        line = self.proc.stdout.readline()
        assert line, "the server closed its output: " + self._stderr()
        return json.loads(line)

    def _stderr(self) -> str:
        assert self.proc.stderr is not None
        self.proc.kill()
        return self.proc.stderr.read().decode(errors="replace")

    def close(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            return self.proc.wait(timeout=20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


@contextlib.contextmanager
def raw_stdio(db: str):
    server = RawStdio(db)
    try:
        yield server
    finally:
        if server.proc.poll() is None:
            server.close()


def _store_one(server: RawStdio, request_id: int) -> dict:
    server.send(
        _line({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": STORE})
    )
    return server.receive()


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


_BAD_UTF8_IN_STRING = (
    b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"reasoning_retrieve",'
    b'"arguments":{"query":"\xff\xfe"}}}'
)
MALFORMED = [
    # (what, line, expected code, expected id, words in the message)
    ("bad UTF-8 inside a string", _BAD_UTF8_IN_STRING, PARSE_ERROR, None, "UTF-8"),
    ("bad UTF-8 before the JSON", b'\xff{"jsonrpc":"2.0","id":8,"method":"tools/list"}',
     PARSE_ERROR, None, "UTF-8"),
    ("truncated JSON", b'{"jsonrpc":"2.0","id":9,"method":"tools/li', PARSE_ERROR, None, "JSON"),
    ("not JSON at all", b"hello", PARSE_ERROR, None, "JSON"),
    ("a NaN literal", b'{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":'
     b'"reasoning_store","arguments":{"success_score":NaN}}}', PARSE_ERROR, None, "NaN"),
    ("params as a list", b'{"jsonrpc":"2.0","id":11,"method":"tools/call","params":[1,2]}',
     INVALID_PARAMS, 11, "params must be an object"),
    ("params as a string", b'{"jsonrpc":"2.0","id":"s","method":"tools/list","params":"x"}',
     INVALID_PARAMS, "s", "params must be an object"),
    ("a number", b"42", INVALID_REQUEST, None, "JSON object"),
    ("a batch", b'[{"jsonrpc":"2.0","id":12,"method":"tools/list"}]', INVALID_REQUEST, None,
     "batch"),
    ("no jsonrpc version", b'{"id":13,"method":"tools/list"}', INVALID_REQUEST, 13, "jsonrpc"),
    ("a method that is not a string", b'{"jsonrpc":"2.0","id":14,"method":5}', INVALID_REQUEST,
     14, "method"),
    ("hostile depth", b'{"jsonrpc":"2.0","id":15,"method":"tools/call","params":{"x":'
     + _deep(100_000).encode() + b"}}", INVALID_REQUEST, None, "deeper"),
    ("depth just past the bound", _line({"jsonrpc": "2.0", "id": 16, "method": "tools/list",
     "params": {"x": json.loads(_deep(MAX_MESSAGE_DEPTH))}}), INVALID_REQUEST, 16, "deeper"),
]  # fmt: skip


def test_every_malformed_line_gets_a_json_rpc_error_over_stdio(db_path):
    with raw_stdio(db_path) as server:
        assert "result" in _store_one(server, 1)
        answers = []
        for what, line, *_ in MALFORMED:
            server.send(line)
            answers.append((what, server.receive()))
        still = _store_one(server, 99)  # the server kept serving
        assert server.close() == 0
    for (what, _, code, request_id, words), (_, answer) in zip(MALFORMED, answers, strict=True):
        assert answer.get("jsonrpc") == "2.0", what
        assert answer["error"]["code"] == code, (what, answer)
        assert answer["id"] == request_id, (what, answer)
        assert words in answer["error"]["message"], (what, answer)
        assert "\n" not in answer["error"]["message"], (what, answer)  # one line
    assert still["id"] == 99 and "result" in still
    assert run_count(db_path) == 1  # merged into the first: nothing lost, nothing extra


def test_a_huge_line_is_refused_and_the_next_one_served(db_path):
    big = {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": STORE}
    big["params"] = {**STORE, "arguments": {**STORE["arguments"], "context": {"x": "a" * MAX_MESSAGE_BYTES}}}  # fmt: skip
    with raw_stdio(db_path) as server:
        server.send(_line(big))
        refused = server.receive()
        served = _store_one(server, 6)
        assert server.close() == 0
    assert refused["error"]["code"] == INVALID_REQUEST and refused["id"] is None
    assert f"larger than {MAX_MESSAGE_BYTES} bytes" in refused["error"]["message"]
    assert served["id"] == 6 and "result" in served
    assert run_count(db_path) == 1


def test_a_truncated_last_line_gets_an_answer_before_the_server_exits(db_path):
    with raw_stdio(db_path) as server:
        assert server.proc.stdin is not None
        server.proc.stdin.write(b'{"jsonrpc":"2.0","id":3,"method":"tools/li')
        server.proc.stdin.close()
        answer = server.receive()
        assert server.proc.wait(timeout=20) == 0
    assert answer["error"]["code"] == PARSE_ERROR


def run_count(db: str) -> int:
    from .conftest import run

    return run(_count(db))


# -- streamable HTTP -----------------------------------------------------------------------
@contextlib.contextmanager
def http_server(db: str):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "reasoningbank.mcp_server", "--db", db, "--http", "--port",
         str(port)],
        env={**os.environ, **_env()}, cwd=str(ROOT), stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            assert proc.poll() is None
            time.sleep(0.1)
        yield port
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _post(port: int, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("POST", "/mcp", body=body, headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def _json_rpc_body(data: bytes) -> dict:
    """The JSON-RPC message of a JSON or a one-event SSE response body."""
    text = data.decode()
    if text.startswith("event:") or "data:" in text.split("\n", 1)[0]:
        text = next(line[5:] for line in text.splitlines() if line.startswith("data:"))
    return json.loads(text)


def test_every_malformed_body_gets_a_json_rpc_error_over_http(db_path):
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    with http_server(db_path) as port:
        status, got, _ = _post(
            port, _line({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT}),
            headers,
        )  # fmt: skip
        assert status == 200
        session = {**headers, "mcp-protocol-version": "2025-06-18"}
        if "mcp-session-id" in got:
            session["mcp-session-id"] = got["mcp-session-id"]
        _post(port, _line({"jsonrpc": "2.0", "method": "notifications/initialized"}), session)
        answers = []
        for what, line, *_ in MALFORMED:
            status, _, body = _post(port, line, session)
            answers.append((what, status, body))
        huge = _line({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {**STORE,
                      "arguments": {**STORE["arguments"], "context": {"x": "a" * MAX_MESSAGE_BYTES}}}})  # fmt: skip
        huge_status, _, huge_body = _post(port, huge, session)
        stored = _post(port, _line({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                                    "params": STORE}), session)  # fmt: skip
    for (what, _, code, request_id, words), (_, status, body) in zip(
        MALFORMED, answers, strict=True
    ):
        assert status == 400, (what, status, body)
        answer = _json_rpc_body(body)  # the same answer as over stdio
        assert answer["error"]["code"] == code and answer["id"] == request_id, (what, answer)
        assert words in answer["error"]["message"], (what, answer)
    assert huge_status == 413, huge_body
    assert _json_rpc_body(huge_body)["error"]["code"] == INVALID_REQUEST
    assert stored[0] == 200 and "result" in _json_rpc_body(stored[2])
    assert run_count(db_path) == 1
