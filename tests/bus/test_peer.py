"""A bank's side of a session with async-only crypto backends (the WebCrypto shape under
Pyodide), against the in-memory hub: the same flows as the PyNaCl path."""

from __future__ import annotations

import asyncio

from reasoningbank.bus.events import InSync, PatternAccepted, SnapshotComplete
from reasoningbank.bus.hub import Hub
from reasoningbank.bus.peer import BusPeer
from reasoningbank.bus.provenance import asign_pattern, pattern_id, sign_pattern

from .helpers import T0, VERIFIER, make_pattern, nonces, signer_for


class AsyncOnlySigner:
    """Has no ``sign_sync``: any synchronous use would fail loudly."""

    def __init__(self, name: str) -> None:
        self._s = signer_for(name)
        self.public_key = self._s.public_key

    async def sign(self, data: bytes) -> bytes:
        await asyncio.sleep(0)
        return self._s.sign_sync(data)


class AsyncOnlyVerifier:
    async def verify(self, key: bytes, sig: bytes, data: bytes) -> bool:
        await asyncio.sleep(0)
        return VERIFIER.verify_sync(key, sig, data)


def test_async_peer_shares_syncs_and_downloads_a_snapshot():
    hub = Hub(signer=signer_for("hub"), verifier=VERIFIER, nonce_source=nonces(1))
    alice = signer_for("alice")
    for i in range(5):  # patterns already on the hub from an author who is offline now
        hub.gossip.publish(sign_pattern(make_pattern("alice", i), alice, T0), VERIFIER)
    me = AsyncOnlySigner("browser")
    trusted = {alice.public_key, me.public_key}

    async def go():
        peer = BusPeer(
            signer=me, verifier=AsyncOnlyVerifier(), nonce_source=nonces(2), trusted=trusted
        )
        hub.open_session("web", T0)
        events = []

        async def pump():
            for _ in range(20):
                data = peer.data_to_send()
                if not data:
                    break
                hub.receive_data("web", data, T0)
                events.extend(await peer.areceive_data(hub.data_to_send("web"), T0))

        await peer.astart(T0)
        mine = await asign_pattern(make_pattern("browser", 1), me, T0)
        await peer.ashare(mine, T0)
        await peer.arequest_sync(T0)
        await pump()
        assert any(isinstance(e, InSync) for e in events)
        got = {e.pattern_id for e in events if isinstance(e, PatternAccepted)}
        assert len(got) == 5 and pattern_id(mine) in hub.gossip.store
        await peer.arequest_snapshot(T0)
        await pump()
        snap = [e for e in events if isinstance(e, SnapshotComplete)]
        assert len(snap) == 1 and len(snap[0].patterns) == 6

    asyncio.run(go())
