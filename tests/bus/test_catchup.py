"""A new bank catches up a big hub in one session, within its spend budget.

Catch-up is paced by the hub's per-peer allowance (256 KiB/s after a 2 MiB burst). The
bank must wait for it rather than ask again for what the hub has not sent yet: asking
costs spend units (about one per id in a ``want``), so a bank that re-asks every round
burns its key's budget long before it has everything.
"""

from __future__ import annotations

import asyncio
import os
import time

from reasoningbank.bus.aio import HubServer, connect
from reasoningbank.bus.events import InSync, PatternAccepted, PeerClosed
from reasoningbank.bus.hub import Hub
from reasoningbank.bus.intents import Policy
from reasoningbank.bus.peer import BusPeer
from reasoningbank.bus.provenance import sign_pattern

from .helpers import T0, VERIFIER, make_pattern, nonces, signer_for

AUTHORS = [signer_for(f"author-{i}") for i in range(20)]
BANK = signer_for("new-bank")


def stored_patterns(n: int) -> list[dict]:
    per = n // len(AUTHORS)
    return [
        sign_pattern(make_pattern(f"a{a}", i), signer, T0 - 3600)
        for a, signer in enumerate(AUTHORS)
        for i in range(per)
    ]


def catch_up(hub: Hub, peer: BusPeer, max_seconds: float) -> tuple[list, float]:
    """Drive one session on a virtual clock: move bytes until quiet, then jump to the
    bank's next timer. Returns (bank events, seconds taken)."""
    now, events = T0, []
    hub.open_session("bank", now)
    peer.start(now)
    synced = False
    while now - T0 < max_seconds:
        for _ in range(100_000):
            up = peer.data_to_send()
            if up:
                hub.receive_data("bank", up, now)
            down = hub.data_to_send("bank")
            if down:
                events.extend(peer.receive_data(down, now))
            if not up and not down:
                break
        assert not any(isinstance(e, PeerClosed) for e in events), events[-1]
        if not synced:
            peer.request_sync(now)
            synced = True
            continue
        if any(isinstance(e, InSync) for e in events):
            return events, now - T0
        timer = peer.get_timer()
        assert timer is not None, "sync stalled with nothing scheduled"
        now = max(now, timer)
        peer.handle_timer(now)
    raise AssertionError(f"not in sync after {max_seconds} s")


def test_new_bank_catches_up_20k_patterns_in_one_session_within_budget():
    n = 20_000
    # a long window, so the checker's ledger holds every unit the session spent
    hub = Hub(
        signer=signer_for("hub"),
        verifier=VERIFIER,
        nonce_source=nonces(9),
        policy=Policy(window=10_000.0),
    )
    assert hub.preload(stored_patterns(n)) == n
    peer = BusPeer(signer=BANK, verifier=VERIFIER, nonce_source=nonces(3), trusted=None)
    events, seconds = catch_up(hub, peer, max_seconds=600)
    assert len(peer.gossip.store) == n
    spent = hub.checker.spent(BANK.public_key, T0 + seconds)
    assert spent < n // 10 + 100, spent
    # paced by the allowance, not faster, and not stalled far beyond it
    total = sum(hub.gossip._sizes.values())
    burst, rate = hub.gossip.config.catchup_burst, hub.gossip.config.catchup_rate
    assert (total - burst) / rate * 0.9 <= seconds <= (total - burst) / rate + 30, seconds


def test_paced_catch_up_over_a_websocket_resumes_on_the_clients_timer():
    """Past the burst the hub says how long to wait and the bank goes quiet: only the
    client driver's timer brings the next round, so a driver that does not drive the
    peer's timer never finishes."""
    n = 2000
    now = time.time()
    patterns = [
        sign_pattern(make_pattern("a0", i, strategy="s" * 300), AUTHORS[0], now) for i in range(n)
    ]

    async def go():
        hub = Hub(signer=signer_for("hub"), verifier=VERIFIER, nonce_source=os.urandom)
        hub.gossip.config.catchup_burst = 512 * 1024  # so this small store must be paced
        assert hub.preload(patterns) == n
        server = HubServer(hub)
        await server.start("127.0.0.1", 0, quic=False)
        try:
            bank = await connect(server.ws_url, signer=BANK, verifier=VERIFIER, trusted=None)
            waits = []
            on_gossip = bank.peer._on_gossip

            def spy(ev, now):
                events = yield from on_gossip(ev, now)
                if bank.peer._resume_at is not None:
                    waits.append(bank.peer._resume_at - now)
                return events

            bank.peer._on_gossip = spy
            t0 = time.monotonic()
            await bank.sync(timeout=30)
            took = time.monotonic() - t0
            got = {e.pattern_id for e in bank.events if isinstance(e, PatternAccepted)}
            assert len(got) == n
            assert waits, "the hub never asked the bank to wait: the test paces nothing"
            total = sum(hub.gossip._sizes.values())
            assert took >= (total - 512 * 1024) / hub.gossip.config.catchup_rate * 0.8
            assert hub.checker.spent(BANK.public_key, time.time()) < n // 10 + 100
            await bank.close()
        finally:
            await server.close()

    asyncio.run(asyncio.wait_for(go(), 120))
