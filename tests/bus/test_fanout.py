"""Per-broadcast cost of the hub, over real sockets on 127.0.0.1: a broadcast is framed
once for every WebSocket session, the frames of one loop turn leave in one write per
session, a WebTransport session carries every message on its one bus stream, and the hub's
UDP socket has room for the ACK burst that answers a broadcast."""

from __future__ import annotations

import asyncio
import os
import socket
import time

from reasoningbank.bus.aio import HubServer, connect
from reasoningbank.bus.aio.quic import UDP_SOCKET_BUFFER
from reasoningbank.bus.aio.websocket import _WsServerProtocol
from reasoningbank.bus.frames import pull_frame
from reasoningbank.bus.hub import Hub
from reasoningbank.bus.provenance import sign_pattern

from .helpers import VERIFIER, make_pattern, signer_for

ALICE = signer_for("alice")


async def start_hub(**kw) -> HubServer:
    hub = Hub(signer=signer_for("hub"), verifier=VERIFIER, nonce_source=os.urandom)
    server = HubServer(hub)
    await server.start("127.0.0.1", 0, **kw)
    return server


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


def pushes(chunks: list[bytes]) -> int:
    """gossip.push frames in what a tapped client received."""
    buf, count = bytearray(b"".join(chunks)), 0
    while (got := pull_frame(buf)) is not None:
        frame, used = got
        del buf[:used]
        count += frame.intent is not None and frame.intent.op == "gossip.push"
    return count


async def receivers(url: str, n: int, cert: str | None = None) -> tuple[list, list[list[bytes]]]:
    """``n`` sessions whose incoming bytes are only logged (one entry per transport write)."""
    clients = [
        await connect(
            url,
            signer=signer_for(f"reader-{i}"),
            verifier=VERIFIER,
            trusted={ALICE.public_key},
            cert_hash=cert,
        )
        for i in range(n)
    ]
    logs: list[list[bytes]] = [[] for _ in clients]
    for client, log in zip(clients, logs, strict=True):
        client.tap(log.append)
    return clients, logs


async def until(check, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_a_broadcast_is_framed_once_for_all_websocket_sessions():
    async def go():
        server = await start_hub(quic=False)
        try:
            clients, logs = await receivers(server.ws_url, 20)
            alice = await connect(server.ws_url, signer=ALICE, verifier=VERIFIER, trusted=None)
            await asyncio.sleep(0.05)
            before = _WsServerProtocol.framer.encodes
            alice.share(sign_pattern(make_pattern("alice", 1), ALICE, time.time()))
            await until(lambda: all(pushes(log) == 1 for log in logs))
            assert _WsServerProtocol.framer.encodes - before == 1
            for c in [*clients, alice]:
                await c.close()
        finally:
            await server.close()

    run(go())


def test_frames_of_one_loop_turn_reach_each_session_in_one_write():
    """Regression: the hub flushed after every input, so five patterns that arrived
    together left as five writes (five WebSocket messages, five syscalls) per session."""

    async def go():
        server = await start_hub(quic=False)
        try:
            clients, logs = await receivers(server.ws_url, 5)
            alice = await connect(server.ws_url, signer=ALICE, verifier=VERIFIER, trusted=None)
            await asyncio.sleep(0.05)
            now = time.time()
            for i in range(5):  # five separate WebSocket messages, read by the hub at once
                alice.share(sign_pattern(make_pattern("alice", i), ALICE, now))
            await until(lambda: all(pushes(log) == 5 for log in logs))
            await asyncio.sleep(0.05)
            assert [len(log) for log in logs] == [1] * 5
            for c in [*clients, alice]:
                await c.close()
        finally:
            await server.close()

    run(go())


def test_a_webtransport_session_carries_every_message_on_its_one_stream():
    async def go():
        server = await start_hub()
        try:
            clients, logs = await receivers(server.url, 3, server.cert_sha256)
            alice = await connect(
                server.url,
                signer=ALICE,
                verifier=VERIFIER,
                trusted=None,
                cert_hash=server.cert_sha256,
            )
            sessions = set(server.hub.sessions)
            for i in range(40):
                alice.share(sign_pattern(make_pattern("alice", i), ALICE, time.time()))
                await asyncio.sleep(0.005)
            await until(lambda: all(pushes(log) == 40 for log in logs))
            assert set(server.hub.sessions) == sessions  # no stream (session) per message
            for c in [*clients, alice]:
                await c.close()
        finally:
            await server.close()

    run(go())


def test_the_hub_udp_socket_has_room_for_a_broadcasts_acks():
    """Regression: at the default receive buffer (208 KiB) the ACKs of 500 sessions
    overflowed the one UDP socket; the drops read as loss and throttled every session."""

    async def go():
        server = await start_hub()
        try:
            sock = server._servers[0]._transport.get_extra_info("socket")
            with open("/proc/sys/net/core/rmem_max") as fh:
                allowed = int(fh.read())
            got = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
            assert got >= min(UDP_SOCKET_BUFFER, allowed)
        finally:
            await server.close()

    run(go())


def test_the_load_test_runs_through_a_nats_cluster_and_two_workers(tmp_path):
    """The benchmark's cluster set-up end to end, small: a 3-node NATS cluster, a hub with
    two workers, every relayed push delivered over both transports."""
    import argparse

    import pytest

    from bench.hub_cluster import HubProcess, fanout

    from ..cluster.natsnodes import NatsCluster, nats_server_binary

    binary = nats_server_binary()
    if binary is None:
        message = "nats-server is missing: run scripts/install-test-deps.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    cluster = NatsCluster(binary, tmp_path / "nats")
    cluster.start()
    try:
        hub = HubProcess("--nats", cluster.urls, "--workers", "2")
        try:
            for transport, sessions in (("websocket", 12), ("webtransport", 6)):
                args = argparse.Namespace(
                    sessions=sessions, messages=3, interval=0.05, loop="asyncio"
                )
                out = fanout(hub, transport, args)
                assert out["deliveries"] == 3 * (sessions - 1), out
        finally:
            hub.stop()
    finally:
        cluster.stop()
