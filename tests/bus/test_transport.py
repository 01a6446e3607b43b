"""Real sockets on 127.0.0.1: the hub over HTTP/3 WebTransport (pinned cert) and WebSocket."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import subprocess
import sys
import time

import pytest

from reasoningbank.bus.aio import HubServer, connect
from reasoningbank.bus.errors import LocalBusError
from reasoningbank.bus.events import (
    PatternAccepted,
    PatternRejected,
    StreamDataReceived,
    StreamEnded,
)
from reasoningbank.bus.frames import FrameType
from reasoningbank.bus.hub import Hub
from reasoningbank.bus.keys import TrustList
from reasoningbank.bus.provenance import pattern_id, sign_pattern
from reasoningbank.bus.sync import bank_identity, sync_bank

from .helpers import VERIFIER, make_pattern, signer_for

ALICE, BOB = signer_for("alice"), signer_for("bob")
TRUST = {ALICE.public_key, BOB.public_key}


async def start_hub() -> HubServer:
    hub = Hub(signer=signer_for("hub"), verifier=VERIFIER, nonce_source=os.urandom)
    server = HubServer(hub)
    await server.start("127.0.0.1", 0)
    return server


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_two_clients_sync_through_a_quic_hub_with_a_pinned_certificate():
    async def go():
        server = await start_hub()
        try:
            a = await connect(
                server.url,
                signer=ALICE,
                verifier=VERIFIER,
                trusted=TRUST,
                cert_hash=server.cert_sha256,
            )
            b = await connect(
                server.url,
                signer=BOB,
                verifier=VERIFIER,
                trusted=TRUST,
                cert_hash=server.cert_sha256,
            )
            mine = [sign_pattern(make_pattern("alice", i), ALICE, time.time()) for i in range(5)]
            for p in mine:
                a.share(p)
            await a.sync()
            await b.sync()
            got = {e.pattern_id for e in b.events if isinstance(e, PatternAccepted)}
            assert got == {pattern_id(p) for p in mine}
            # live relay: a new pattern reaches b without another sync
            late = sign_pattern(make_pattern("alice", 99), ALICE, time.time())
            a.share(late)
            ev = await b.wait_for(
                lambda e: isinstance(e, PatternAccepted) and e.pattern_id == pattern_id(late)
            )
            assert ev.pattern["metadata"]["provenance"]["author"] == ALICE.public_key.hex()
            # a reasoning stream is relayed live
            sid = a.open_stream(FrameType.TRACE, {"task": "t"})
            a.send_stream(sid, b"step 1")
            a.send_stream(sid, b"step 2", end=True)
            end = await b.wait_for(lambda e: isinstance(e, StreamEnded))
            data = [
                e.data
                for e in b.events
                if isinstance(e, StreamDataReceived) and e.stream_id == end.stream_id
            ]
            assert data == [b"step 1", b"step 2"]
            await a.close()
            await b.close()
        finally:
            await server.close()

    run(go())


def test_wrong_certificate_pin_is_refused_before_any_bus_data():
    async def go():
        server = await start_hub()
        try:
            with pytest.raises(LocalBusError, match="pinned"):
                await connect(
                    server.url,
                    signer=ALICE,
                    verifier=VERIFIER,
                    trusted=TRUST,
                    cert_hash="ab" * 32,
                    timeout=5,
                )
            with pytest.raises(LocalBusError):
                await connect(
                    server.url,
                    signer=ALICE,
                    verifier=VERIFIER,
                    trusted=TRUST,
                    cert_hash="zz",
                    timeout=5,
                )
            # without a pin, CA verification applies: a self-signed hub is refused
            with pytest.raises(LocalBusError):
                await connect(server.url, signer=ALICE, verifier=VERIFIER, trusted=TRUST, timeout=5)
            assert server.hub.sessions == {}
        finally:
            await server.close()

    run(go())


def test_websocket_endpoint_has_the_same_semantics_and_stores_for_late_syncers():
    """Alice shares over WebTransport and leaves; Bob connects later over WebSocket and
    still catches up (store-and-forward); Mallory's forgeries never reach Bob."""

    async def go():
        server = await start_hub()
        try:
            a = await connect(
                server.url,
                signer=ALICE,
                verifier=VERIFIER,
                trusted=TRUST,
                cert_hash=server.cert_sha256,
            )
            mine = [sign_pattern(make_pattern("alice", i), ALICE, time.time()) for i in range(4)]
            for p in mine:
                a.share(p)
            await a.sync()
            await a.close()
            mallory = signer_for("mallory")
            m = await connect(server.ws_url, signer=mallory, verifier=VERIFIER, trusted=None)
            m.share(
                sign_pattern(make_pattern("mallory", 1), mallory, time.time())
            )  # untrusted by Bob
            forged = copy.deepcopy(mine[0])
            forged["strategy"] = "rm -rf"
            m.peer.conn.send(
                time.time(),
                type=FrameType.GOSSIP,
                op="gossip.push",
                payload=json.dumps({"hops": 1, "pattern": forged}).encode(),
            )
            m.flush()
            await m.sync()
            await m.close()
            assert len(server.hub.gossip.store) == 5  # 4 of Alice's + Mallory's own, no forgery
            b = await connect(server.ws_url, signer=BOB, verifier=VERIFIER, trusted=TRUST)
            await b.sync()
            got = {e.pattern_id for e in b.events if isinstance(e, PatternAccepted)}
            assert got == {pattern_id(p) for p in mine}
            assert [e.reason for e in b.events if isinstance(e, PatternRejected)] == ["untrusted"]
            await b.close()
        finally:
            await server.close()

    run(go())


def _bank_patterns(n: int, who: str) -> list[dict]:
    return [make_pattern(who, i) for i in range(n)]


def test_two_banks_sync_through_a_running_hub(tmp_path):
    from reasoningbank import ReasoningBank

    a_db, b_db, c_db = (str(tmp_path / f"{x}.db") for x in "abc")
    a_key = bank_identity(a_db)[0].public_key
    TrustList.load(b_db).add(a_key, "bank a")  # b trusts a; c trusts nobody

    async def go():
        server = await start_hub()
        try:
            a = await ReasoningBank.open(a_db)
            for p in _bank_patterns(6, "a"):
                await a.store_pattern(p)
            r1 = await sync_bank(a, server.url, db_path=a_db, cert_hash=server.cert_sha256)
            await a.close()
            b = await ReasoningBank.open(b_db)
            await b.store_pattern(make_pattern("b", 0))
            r2 = await sync_bank(b, server.url, db_path=b_db, cert_hash=server.cert_sha256)
            got = await b.get_pattern("a-3")
            assert got is not None and got.metadata.extra["provenance"]["author"] == a_key.hex()
            r3 = await b.sync(server.ws_url)  # idempotent, over WebSocket
            await b.close()
            c = await ReasoningBank.open(c_db)
            r4 = await sync_bank(c, server.url, db_path=c_db, cert_hash=server.cert_sha256)
            assert await c.get_pattern("a-3") is None
            await c.close()
            return r1, r2, r3, r4
        finally:
            await server.close()

    r1, r2, r3, r4 = run(go())
    assert (r1["shared"], r1["imported"]) == (6, 0)
    assert (r2["shared"], r2["imported"]) == (1, 6)
    assert (r3["shared"], r3["imported"]) == (7, 0)  # b re-shares a's patterns, imports nothing new
    assert r4["imported"] == 0 and r4["rejected"] == {"untrusted": 7}


def _start_cli_hub(tmp_path, store):
    import reasoningbank.cli as cli

    code = (
        "import reasoningbank.cli as c; "
        f"raise SystemExit(c.main(['hub', '--host', '127.0.0.1', '--port', '0', '--open', '--store', {store!r}]))"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(cli.__file__)))
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    )
    hub = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=tmp_path, env=env
    )
    lines = []
    while not (lines and lines[-1].startswith("hub key:")):
        line = hub.stdout.readline()
        assert line, f"hub exited early: {lines}"
        lines.append(line.strip())
    url = next(line for line in lines if line.startswith("hub listening on ")).split()[3]
    cert = next(line for line in lines if line.startswith("certificate sha256: ")).split(": ")[1]
    assert len(cert) == 64 and url.startswith("https://127.0.0.1:")
    return hub, lines, url, cert


def test_cli_hub_and_sync_commands(tmp_path, monkeypatch, capsys):
    """`reasoningbank hub` in a child process; `identity`, `trust add` and `sync` in-process;
    the hub keeps what it relayed (--store) across a restart."""
    import reasoningbank.cli as cli

    store = str(tmp_path / "hub.jsonl")
    hub, lines, url, cert = _start_cli_hub(tmp_path, store)
    try:
        assert lines[0] == f"kept patterns: 0 from {store}"
        a_db, b_db = str(tmp_path / "a.db"), str(tmp_path / "b.db")
        assert cli.main(["--db", a_db, "identity"]) == 0
        a_key = capsys.readouterr().out.strip()
        assert cli.main(["--db", b_db, "trust", "add", a_key, "--label", "a"]) == 0
        assert (
            cli.main(
                [
                    "--db",
                    a_db,
                    "store",
                    "--task",
                    "cache the oauth token",
                    "--category",
                    "backend",
                    "--strategy",
                    "memoize",
                    "--success",
                ]
            )
            == 0
        )
        capsys.readouterr()
        assert cli.main(["--db", a_db, "sync", "--hub", url, "--cert-hash", cert, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["shared"] == 1
        assert cli.main(["--db", b_db, "sync", "--hub", url, "--cert-hash", cert, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["imported"] == 1
        assert cli.main(["--db", b_db, "sync", "--hub", url, "--cert-hash", "00" * 32]) == 1
        assert "pinned" in capsys.readouterr().err
    finally:
        hub.terminate()
        hub.wait(10)
    hub, lines, url, cert = _start_cli_hub(tmp_path, store)  # restart: new cert, same patterns
    try:
        assert lines[0] == f"kept patterns: 1 from {store}"
        c_db = str(tmp_path / "c.db")
        assert cli.main(["--db", c_db, "trust", "add", a_key]) == 0
        assert cli.main(["--db", c_db, "sync", "--hub", url, "--cert-hash", cert, "--json"]) == 0
        out = capsys.readouterr().out
        assert json.loads(out[out.index("{") :])["imported"] == 1
    finally:
        hub.terminate()
        hub.wait(10)


def test_websocket_endpoint_refuses_bad_upgrades_and_garbage():
    async def go():
        server = await start_hub()
        try:
            port = int(server.ws_url.rsplit(":", 1)[1].split("/")[0])
            answers = []
            for request in (
                b"GET /elsewhere HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                b"GET /bus HTTP/1.1\r\nHost: x\r\n\r\n",
            ):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(request)
                answers.append(await reader.read(100))
                writer.close()
            assert answers[0].startswith(b"HTTP/1.1 404") and answers[1].startswith(b"HTTP/1.1 400")
            # a real upgrade followed by an unmasked (client-illegal) frame is dropped
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                b"GET /bus HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101")
            writer.write(b"\x82\x03abc")
            rest = await asyncio.wait_for(reader.read(), 5)  # hub HELLO, then close 1002, then EOF
            assert b"\x88\x02\x03\xea" in rest
            await asyncio.sleep(0.05)
            assert server.hub.sessions == {}
        finally:
            await server.close()

    run(go())


def test_bank_link_derives_identity_from_the_bank_location(tmp_path):
    """``await bank.connect(url, cert_hash=...)``: identity next to the bank file, live sync,
    and a reasoning stream to another bank."""
    from reasoningbank import ReasoningBank

    a_db, b_db = str(tmp_path / "a.db"), str(tmp_path / "b.db")

    async def go():
        server = await start_hub()
        try:
            a = await ReasoningBank.open(a_db)
            b = await ReasoningBank.open(b_db)
            await a.store_pattern(make_pattern("a", 1))
            la = await a.connect(server.url, cert_hash=server.cert_sha256)
            assert (tmp_path / "a.db.key").exists()
            TrustList.load(b_db).add(la.signer.public_key)
            lb = await b.connect(server.ws_url)
            assert (await la.sync())["shared"] == 1
            assert (await lb.sync())["imported"] == 1
            sid = la.open_stream(FrameType.VERIFY, {"pattern": "a-1"})
            la.send_stream(sid, b'{"verdict": "pass"}', end=True)
            await lb.client.wait_for(lambda e: isinstance(e, StreamEnded))
            await la.close()
            await lb.close()
            assert (await b.get_pattern("a-1")) is not None
            await a.close()
            await b.close()
        finally:
            await server.close()

    run(go())


def test_hub_hangs_up_after_a_protocol_error_and_after_a_clean_close():
    from reasoningbank.bus.connection import Connection
    from reasoningbank.bus.events import PeerClosed
    from reasoningbank.bus.ws import WebSocket

    async def go():
        server = await start_hub()
        try:
            port = int(server.ws_url.rsplit(":", 1)[1].split("/")[0])
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                b"GET /bus HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            await reader.readuntil(b"\r\n\r\n")
            ws = WebSocket(is_client=True, mask_source=os.urandom)
            writer.write(ws.send(b"\x00\x00\x00\x20" + b"\xee" * 32))  # not a bus frame
            rest = await asyncio.wait_for(reader.read(), 5)  # EOF: the hub hung up
            events, _ = ws.receive_data(rest)
            conn = Connection(
                signer=ALICE, verifier=VERIFIER, is_client=True, nonce_source=os.urandom
            )
            for ev in events:
                conn.receive_data(ev.data)
            seen = []
            while (e := conn.next_event(time.time())) is not None:
                seen.append(e)
            assert isinstance(seen[-1], PeerClosed) and seen[-1].error_code == 2  # MALFORMED_FRAME
            writer.close()
            # a clean close: the session is gone from the hub afterwards
            c = await connect(
                server.url,
                signer=ALICE,
                verifier=VERIFIER,
                trusted=TRUST,
                cert_hash=server.cert_sha256,
            )
            assert len(server.hub.sessions) == 1
            await c.close()
            for _ in range(50):
                if not server.hub.sessions:
                    break
                await asyncio.sleep(0.02)
            assert server.hub.sessions == {}
        finally:
            await server.close()

    run(go())


def test_in_memory_transport_has_the_same_semantics():
    from reasoningbank.bus.aio import connect_memory

    async def go():
        hub = Hub(signer=signer_for("hub"), verifier=VERIFIER, nonce_source=os.urandom)
        server = HubServer(hub)  # not started: no sockets at all
        a = await connect_memory(server, signer=ALICE, verifier=VERIFIER, trusted=TRUST)
        b = await connect_memory(server, signer=BOB, verifier=VERIFIER, trusted=TRUST)
        p = sign_pattern(make_pattern("alice", 7), ALICE, time.time())
        a.share(p)
        ev = await b.wait_for(lambda e: isinstance(e, PatternAccepted))
        assert ev.pattern_id == pattern_id(p)
        await b.sync()
        await a.close()
        await b.close()
        await asyncio.sleep(0.01)
        assert hub.sessions == {}

    run(go())


def test_hub_shutdown_tells_every_client():
    async def go():
        server = await start_hub()
        a = await connect(
            server.url, signer=ALICE, verifier=VERIFIER, trusted=TRUST, cert_hash=server.cert_sha256
        )
        b = await connect(server.ws_url, signer=BOB, verifier=VERIFIER, trusted=TRUST)
        await server.close()
        for c in (a, b):
            from reasoningbank.bus.events import PeerClosed

            ev = await c.wait_for(lambda e: isinstance(e, PeerClosed), timeout=5)
            assert ev.by_peer and ev.reason == "hub shutting down"
            await c.close()

    run(go())


def test_a_closing_hub_refuses_new_sessions():
    async def go():
        server = await start_hub()
        try:
            server.closing = True  # what close() sets before saying goodbye
            with pytest.raises(LocalBusError, match="503"):
                await connect(
                    server.url,
                    signer=ALICE,
                    verifier=VERIFIER,
                    trusted=TRUST,
                    cert_hash=server.cert_sha256,
                    timeout=5,
                )
            with pytest.raises(LocalBusError):
                await connect(
                    server.ws_url, signer=BOB, verifier=VERIFIER, trusted=TRUST, timeout=5
                )
            assert server.hub.sessions == {}
        finally:
            await server.close()

    run(go())


def test_announced_trust_spares_downloading_untrusted_patterns():
    async def go():
        server = await start_hub()
        try:
            mallory = signer_for("mallory")
            m = await connect(server.ws_url, signer=mallory, verifier=VERIFIER, trusted=None)
            for i in range(5):
                m.share(sign_pattern(make_pattern("mallory", i), mallory, time.time()))
            a = await connect(server.ws_url, signer=ALICE, verifier=VERIFIER, trusted=TRUST)
            a.share(sign_pattern(make_pattern("alice", 1), ALICE, time.time()))
            await m.sync()
            await a.sync()
            plain = await connect(
                server.url,
                signer=BOB,
                verifier=VERIFIER,
                trusted=TRUST,
                cert_hash=server.cert_sha256,
            )
            await plain.sync()
            announced = await connect(
                server.url,
                signer=BOB,
                verifier=VERIFIER,
                trusted=TRUST,
                cert_hash=server.cert_sha256,
                announce_trust=True,
            )
            await announced.sync()
            rejected = [e for e in plain.events if isinstance(e, PatternRejected)]
            assert len(rejected) == 5  # downloaded, then refused
            assert not [e for e in announced.events if isinstance(e, PatternRejected)]
            for c in (plain, announced):
                assert len([e for e in c.events if isinstance(e, PatternAccepted)]) == 1
            for c in (m, a, plain, announced):
                await c.close()
        finally:
            await server.close()

    run(go())
