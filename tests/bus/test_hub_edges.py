"""The hub's doors, on real sockets: which web origins may open sessions, how long an
upgrade may take, and how many connections it holds at once."""

from __future__ import annotations

import asyncio
import os
import ssl
import time

import pytest

pytest.importorskip("aioquic")

from reasoningbank.bus.aio import UPGRADE_TIMEOUT, HubServer, connect  # noqa: E402
from reasoningbank.bus.errors import LocalBusError  # noqa: E402
from reasoningbank.bus.hub import Hub  # noqa: E402

from .helpers import VERIFIER, signer_for  # noqa: E402

APP = "http://localhost:8765"
ALICE = signer_for("alice")


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def start_hub(**options) -> HubServer:
    hub = Hub(signer=signer_for("hub"), verifier=VERIFIER, nonce_source=os.urandom)
    server = HubServer(hub)
    await server.start("127.0.0.1", 0, **options)
    return server


def ws_port(server: HubServer) -> int:
    return int(server.ws_url.rsplit(":", 1)[1].split("/", 1)[0])


def upgrade_request(origin: str | None) -> bytes:
    head = (
        "GET /bus HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: AAECAwQFBgcICQoLDA0ODw==\r\nSec-WebSocket-Version: 13\r\n"
    )
    if origin is not None:
        head += f"Origin: {origin}\r\n"
    return (head + "\r\n").encode()


async def status_of(port: int, request: bytes) -> bytes:
    """The status line the hub answers ``request`` with (b"" if it hung up silently)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    try:
        line = await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
    return line.strip()


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """True if the hub closed the connection within ``seconds`` (whatever it said first)."""
    try:
        await asyncio.wait_for(reader.read(), seconds)
    except asyncio.TimeoutError:
        return False
    return True


async def wt_session(server: HubServer, origin: str | None) -> None:
    """Open a WebTransport session the way a browser does, with an ``origin`` header."""
    from aioquic.asyncio.client import connect as quic_connect
    from aioquic.h3.connection import H3_ALPN
    from aioquic.quic.configuration import QuicConfiguration

    from reasoningbank.bus.aio.quic import _ClientProtocol

    config = QuicConfiguration(
        is_client=True, alpn_protocols=H3_ALPN, max_datagram_frame_size=65536
    )
    config.verify_mode = ssl.CERT_NONE
    port = int(server.url.rsplit(":", 1)[1].split("/", 1)[0])
    async with quic_connect(
        "127.0.0.1", port, configuration=config, create_protocol=_ClientProtocol
    ) as p:
        session = p._quic.get_next_available_stream_id()
        headers = [
            (b":method", b"CONNECT"),
            (b":scheme", b"https"),
            (b":authority", f"127.0.0.1:{port}".encode()),
            (b":path", b"/bus"),
            (b":protocol", b"webtransport"),
            (b"sec-webtransport-http3-draft02", b"1"),
        ]
        if origin is not None:
            headers.append((b"origin", origin.encode()))
        p.session_id = session
        p._http.send_headers(session, headers)
        p.transmit()
        await asyncio.wait_for(p.ready, 10)


def test_websocket_upgrades_from_another_origin_get_403_and_no_session():
    async def go():
        server = await start_hub(origins={APP})
        try:
            port = ws_port(server)
            assert await status_of(port, upgrade_request("https://evil.example")) == (
                b"HTTP/1.1 403 Forbidden"
            )
            assert await status_of(port, upgrade_request("http://localhost:9999")) == (
                b"HTTP/1.1 403 Forbidden"
            )
            assert server.hub.sessions == {}
            assert (
                await status_of(port, upgrade_request(APP)) == b"HTTP/1.1 101 Switching Protocols"
            )
            client = await connect(server.ws_url, signer=ALICE, verifier=VERIFIER, trusted=None)
            await client.close()  # no Origin: not a browser, admitted
        finally:
            await server.close()

    run(go())


def test_a_standalone_hub_admits_no_browser_origin_unless_given():
    async def go():
        server = await start_hub()
        try:
            port = ws_port(server)
            assert await status_of(port, upgrade_request(APP)) == b"HTTP/1.1 403 Forbidden"
            client = await connect(server.ws_url, signer=ALICE, verifier=VERIFIER, trusted=None)
            await client.close()
        finally:
            await server.close()
        server = await start_hub(origins=None)  # explicitly open to every origin
        try:
            port = ws_port(server)
            assert await status_of(port, upgrade_request("https://anywhere.example")) == (
                b"HTTP/1.1 101 Switching Protocols"
            )
        finally:
            await server.close()

    run(go())


def test_webtransport_sessions_from_another_origin_are_refused():
    async def go():
        server = await start_hub(origins={APP})
        try:
            with pytest.raises(LocalBusError, match="403"):
                await wt_session(server, "https://evil.example")
            await wt_session(server, APP)
            client = await connect(
                server.url,
                signer=ALICE,
                verifier=VERIFIER,
                trusted=None,
                cert_hash=server.cert_sha256,
            )  # the CPython client sends no origin
            await client.close()
        finally:
            await server.close()

    run(go())


def test_half_open_upgrades_are_closed_within_the_timeout():
    """Slowloris: connections that send part of an upgrade and then nothing are dropped
    within the default timeout (today they stay open until file descriptors run out)."""
    assert UPGRADE_TIMEOUT <= 10

    async def go():
        server = await start_hub()
        try:
            port = ws_port(server)
            pending = []
            for _ in range(20):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"GET /bus HTTP/1.1\r\nHost: localhost\r\nUpgrade: web")
                pending.append((reader, writer))
            started = time.monotonic()
            closed = await asyncio.gather(
                *(closed_within(r, UPGRADE_TIMEOUT + 1.5) for r, _ in pending)
            )
            assert all(closed) and time.monotonic() - started < UPGRADE_TIMEOUT + 1.5
            assert server.connections == 0
            for _, writer in pending:
                writer.close()
        finally:
            await server.close()

    run(go())


def test_websocket_connections_beyond_the_cap_are_refused():
    async def go():
        server = await start_hub(max_connections=5)
        try:
            port = ws_port(server)
            held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(5)]
            for _, writer in held:
                writer.write(b"GET /bus HTTP/1.1\r\n")
            assert await status_of(port, upgrade_request(None)) == (
                b"HTTP/1.1 503 Service Unavailable"
            )
            held.pop()[1].close()  # a slot frees up: a real client gets in
            await asyncio.sleep(0.2)
            client = await connect(server.ws_url, signer=ALICE, verifier=VERIFIER, trusted=None)
            await client.close()
            for _, writer in held:
                writer.close()
        finally:
            await server.close()

    run(go())


def test_webtransport_sessions_beyond_the_cap_are_refused():
    async def go():
        server = await start_hub(max_connections=1)
        options = dict(signer=ALICE, verifier=VERIFIER, trusted=None, cert_hash=server.cert_sha256)
        try:
            first = await connect(server.url, **options)
            with pytest.raises(LocalBusError):
                await connect(server.url, **options)
            await first.close()
            deadline = time.monotonic() + 5
            while server.connections and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            again = await connect(server.url, **options)  # the slot was given back
            await again.close()
        finally:
            await server.close()

    run(go())


def test_the_hub_command_admits_pages_only_from_origins_it_is_given():
    import re
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "reasoningbank", "hub", "--port", "0", "--no-quic"]
        + ["--allow-origin", APP, "--open"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(4)]
        assert f"browser pages admitted from: {APP}\n" in lines, lines
        port = int(re.search(r"ws://127\.0\.0\.1:(\d+)/bus", "".join(lines)).group(1))

        async def go():
            assert await status_of(port, upgrade_request("https://evil.example")) == (
                b"HTTP/1.1 403 Forbidden"
            )
            assert await status_of(port, upgrade_request(APP)) == (
                b"HTTP/1.1 101 Switching Protocols"
            )

        run(go())
    finally:
        proc.terminate()
        proc.wait(10)
