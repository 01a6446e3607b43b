"""The hub's limits over real WebSocket connections on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import time

from reasoningbank.bus.aio import HubServer, connect
from reasoningbank.bus.events import PatternAccepted, StreamDataReceived
from reasoningbank.bus.frames import FrameType
from reasoningbank.bus.hub import Hub
from reasoningbank.bus.provenance import canonical_json, sign_pattern

from .helpers import VERIFIER, make_pattern, signer_for

ALICE, BOB, CAROL = signer_for("alice"), signer_for("bob"), signer_for("carol")


async def start_hub(**kw) -> HubServer:
    hub = Hub(signer=signer_for("hub"), verifier=VERIFIER, nonce_source=os.urandom, **kw)
    server = HubServer(hub)
    await server.start("127.0.0.1", 0, quic=False)
    return server


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


def test_websocket_catch_up_of_more_than_a_mebibyte_arrives_in_chunks():
    """Regression: the hub wrote a whole catch-up as one WebSocket message and clients
    refuse messages over 1 MiB, so catch-up failed once the hub held more than that."""
    now = time.time()
    patterns = [
        sign_pattern(make_pattern("alice", i, strategy=f"strategy {i} " + "x" * 200), ALICE, now)
        for i in range(3200)
    ]
    assert sum(len(canonical_json(p)) for p in patterns) > 2 * 1024 * 1024

    async def go():
        server = await start_hub()
        try:
            assert server.hub.preload(patterns) == 3200
            bob = await connect(
                server.ws_url, signer=BOB, verifier=VERIFIER, trusted={ALICE.public_key}
            )
            await bob.sync(timeout=60)
            got = {e.pattern_id for e in bob.events if isinstance(e, PatternAccepted)}
            assert len(got) == 3200
            await bob.close()
        finally:
            await server.close()

    run(go())


def test_a_websocket_reader_that_stops_reading_keeps_the_hub_bounded():
    """Regression: a stream relayed to a session that never reads grew the hub without
    bound (1.6 GB measured). Now the stream stops being relayed to the lagging session and
    what waits for it stays under its budget, while a reading session gets everything."""
    budget = 2 * 1024 * 1024

    async def go():
        server = await start_hub(max_outbound_bytes=budget)
        try:
            sender = await connect(server.ws_url, signer=ALICE, verifier=VERIFIER, trusted=None)
            slow = await connect(server.ws_url, signer=BOB, verifier=VERIFIER, trusted=None)
            reader = await connect(server.ws_url, signer=CAROL, verifier=VERIFIER, trusted=None)
            slow._write.__self__.transport.pause_reading()  # type: ignore[attr-defined]
            slow_sid = next(
                sid for sid, c in server.hub.sessions.items() if c.peer_key == BOB.public_key
            )
            slow_conn = server.hub.sessions[slow_sid]
            stream = sender.open_stream(FrameType.TOKEN, {"title": "flood"})
            peak = 0
            for _ in range(600):  # 36 MB in total
                sender.send_stream(stream, b"t" * 60_000)
                await asyncio.sleep(0.002)
                held = sum(server.hub.queued_bytes(s) for s in server.hub.sessions)
                peak = max(peak, held)
            sender.send_stream(stream, b"", end=True)
            deadline = time.time() + 30
            while time.time() < deadline:
                got = [e for e in reader.events if isinstance(e, StreamDataReceived)]
                if len(got) >= 600:
                    break
                await asyncio.sleep(0.1)
            assert len(got) == 600
            assert peak <= budget + 256 * 1024
            assert not slow_conn.closed  # the lagging reader keeps its session
            for c in (sender, reader):
                await c.close()
        finally:
            await server.close()

    run(go())
