"""`serve`'s HTTP server on a real socket: it answers only the host names it serves, refuses
bad paths with 400, holds a bounded number of connections, closes silent ones, and streams
large files instead of reading them into memory per request."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
import tracemalloc

import pytest

from reasoningbank.errors import ReasoningBankError
from reasoningbank.serve import ServeError

IDLE = 1.0  # the test server's idle timeout (seconds)
CAP = 4  # and its connection cap
BIG = 64 << 20  # bytes of the semantic asset it serves


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from reasoningbank.serve import _AppServer, find_pyodide, find_web

    asset = tmp_path_factory.mktemp("asset") / "wordllama-64-0123456789abcdef.rbsem"
    with asset.open("wb") as fh:
        fh.truncate(BIG)
    server = _AppServer(
        ("127.0.0.1", 0),
        find_web(),
        find_pyodide(),
        False,
        None,
        asset,
        max_connections=CAP,
        idle_timeout=IDLE,
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def raw(server, request: bytes, timeout: float = 5.0) -> bytes:
    """Send ``request`` as is; the status line of the answer (b"" if none)."""
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout) as sock:
        sock.sendall(request)
        return sock.makefile("rb").readline().strip()


def get(server, path: str, host: str) -> bytes:
    return raw(server, f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode("latin-1"))


def test_only_the_names_it_serves_get_answers(app):
    """DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1 sends
    `Host: evil.example`; it must not get the app (nor build-info.json and its hub)."""
    port = app.server_address[1]
    for host in ("evil.example", f"evil.example:{port}", "localhost.evil.example"):
        assert get(app, "/build-info.json", host).startswith(b"HTTP/1.0 421"), host
    assert raw(app, b"GET / HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.0 400")  # no Host
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "LOCALHOST"):
        assert get(app, "/build-info.json", host) == b"HTTP/1.0 200 OK", host
    assert app.origins == {
        f"http://localhost:{port}",
        f"http://127.0.0.1:{port}",
        f"http://[::1]:{port}",
    }


@pytest.mark.parametrize("path", ["/%00", "/a%00b.js", "/pyodide/%00", "/%0a", "/%7f"])
def test_invalid_bytes_in_the_path_get_400(app, path, capfd):
    assert get(app, path, "localhost").startswith(b"HTTP/1.0 400")
    assert raw(app, b"GET /\x00 HTTP/1.1\r\nHost: localhost\r\n\r\n").startswith(b"HTTP/1.0 400")
    assert "Traceback" not in capfd.readouterr().err
    assert get(app, "/", "localhost") == b"HTTP/1.0 200 OK"  # and it keeps serving


def test_silent_connections_are_closed_after_the_idle_timeout(app):
    with socket.create_connection(("127.0.0.1", app.server_address[1]), 10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n")  # and nothing more
        started = time.monotonic()
        assert sock.recv(1024) == b"" or sock.recv(1024) == b""
        assert time.monotonic() - started < IDLE + 2


def test_connections_beyond_the_cap_get_503(app):
    port = app.server_address[1]
    held = [socket.create_connection(("127.0.0.1", port), 5) for _ in range(CAP)]
    try:
        time.sleep(0.2)
        assert get(app, "/", "localhost") == b"HTTP/1.1 503 Service Unavailable"
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + IDLE + 3  # the slots come back
    while get(app, "/", "localhost") != b"HTTP/1.0 200 OK":
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_large_files_are_streamed_not_read_into_memory(app):
    path = app.semantic[0]
    conn = http.client.HTTPConnection("127.0.0.1", app.server_address[1], timeout=30)
    tracemalloc.start()
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        assert response.status == 200 and int(response.headers["Content-Length"]) == BIG
        received = 0
        while block := response.read(1 << 20):
            received += len(block)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        conn.close()
    assert received == BIG
    assert peak < BIG // 4, f"serving a {BIG >> 20} MiB file took {peak >> 20} MiB"


def test_serve_error_is_a_reasoningbank_error():
    assert issubclass(ServeError, ReasoningBankError)


def _hold(port: int) -> list[socket.socket]:
    """Take ``port`` on 127.0.0.1 (TCP and UDP) unless something else already has it."""
    held = []
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        sock = socket.socket(socket.AF_INET, kind)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue
        if kind == socket.SOCK_STREAM:
            sock.listen()
        held.append(sock)
    return held


def _serve(tmp_path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    env.pop("REASONINGBANK_DB", None)
    return subprocess.Popen(
        [sys.executable, "-m", "reasoningbank", "serve", "--no-semantic", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_taken_default_ports_are_replaced_by_free_ones(tmp_path):
    """`serve` and `hub` / `mcp --http` share default ports: a second one must still start,
    on free ports it prints."""
    from reasoningbank.serve import DEFAULT_HUB_PORT, DEFAULT_PORT

    held = _hold(DEFAULT_PORT) + _hold(DEFAULT_HUB_PORT)
    proc = _serve(tmp_path)
    try:
        first = proc.stdout.readline()
        assert first.startswith("ReasoningBank app: http://localhost:"), (
            first + proc.stderr.read() if proc.poll() is not None else first
        )
        app_port = int(first.split()[2].split(":")[2].split("/")[0])
        hub_line = proc.stdout.readline()
        hub_port = int(hub_line.split()[2].rsplit(":", 1)[1].split("/")[0])
        assert DEFAULT_PORT != app_port and DEFAULT_HUB_PORT != hub_port
    finally:
        proc.terminate()
        proc.wait(10)
        for sock in held:
            sock.close()


@pytest.mark.parametrize("option", ["--port", "--hub-port"])
def test_a_busy_port_asked_for_gives_one_error_line(tmp_path, option):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    other = "--hub-port" if option == "--port" else "--port"
    try:
        proc = _serve(tmp_path, option, str(port), other, "0")
        out, err = proc.communicate(timeout=120)
    finally:
        busy.close()
    assert proc.returncode == 1
    assert err.strip() == (
        f"reasoningbank serve: port {port} is already in use: choose another with {option} "
        "(0 picks one)"
    )


def test_simple_index_lists_the_served_wheel(app):
    """/simple/reasoningbank/ (micropip, pip): PEP 691 JSON when asked for, PEP 503 HTML
    otherwise, naming the served wheel with its sha256; readable from other origins."""
    import hashlib
    import json

    conn = http.client.HTTPConnection("127.0.0.1", app.server_address[1], timeout=5)
    try:
        conn.request(
            "GET",
            "/simple/reasoningbank/",
            headers={"Accept": "application/vnd.pypi.simple.v1+json"},
        )
        res = conn.getresponse()
        body = json.loads(res.read())
        assert res.getheader("Content-Type") == "application/vnd.pypi.simple.v1+json"
        assert res.getheader("Access-Control-Allow-Origin") == "*"
        [wheel] = body["files"]
        assert wheel["url"] == app.wheel_path
        assert wheel["hashes"]["sha256"] == hashlib.sha256(app.wheel).hexdigest()
        conn.request("GET", "/simple/")
        res = conn.getresponse()
        assert b'href="reasoningbank/"' in res.read()
        conn.request("GET", "/simple/reasoningbank/")
        res = conn.getresponse()
        assert f'href="{app.wheel_path}#sha256={wheel["hashes"]["sha256"]}"'.encode() in res.read()
        conn.request("GET", app.wheel_path)
        res = conn.getresponse()
        assert res.read() == app.wheel and res.getheader("Access-Control-Allow-Origin") == "*"
        conn.request("GET", "/build-info.json")
        res = conn.getresponse()
        res.read()
        assert (
            res.getheader("Access-Control-Allow-Origin") is None
        )  # the app itself: same origin only
    finally:
        conn.close()
