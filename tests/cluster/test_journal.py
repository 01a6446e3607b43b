"""The cluster hub's sans-IO half (``bus/journal.py``), with the log as a plain list: real
hubs, real signatures and sessions (in-memory transport); no NATS needed."""

from __future__ import annotations

import asyncio
import os
import time

from reasoningbank.bus.aio import HubServer, connect_memory
from reasoningbank.bus.errors import ErrorCode
from reasoningbank.bus.events import InSync, PeerClosed
from reasoningbank.bus.hub import Hub
from reasoningbank.bus.journal import LOG_UNAVAILABLE

from ..bus.helpers import VERIFIER, signer_for
from .hubs import signed, wait_until


def cluster_hub(**kw) -> HubServer:
    hub = Hub(
        signer=signer_for("hub"), verifier=VERIFIER, nonce_source=os.urandom, journal=True, **kw
    )
    return HubServer(hub)


async def session(server: HubServer, name: str):
    return await connect_memory(server, signer=signer_for(name), verifier=VERIFIER, trusted=None)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_a_push_is_kept_and_acknowledged_only_once_the_log_has_it():
    async def go():
        server = cluster_hub()
        journal = server.hub.journal
        alice = await session(server, "alice")
        alice.share(signed("alice", 1))
        sync = asyncio.ensure_future(alice.sync(30))
        await wait_until(lambda: journal._outbox, what="the publish request")
        await asyncio.sleep(0.2)
        assert not server.hub.gossip.store  # not kept by the hub itself
        assert not sync.done()  # the digest waits: no "in sync" for what the log lacks
        ((_, _, data),) = journal.take_publish()
        import json

        assert journal.fold(json.loads(data), time.time())
        server.flush()
        await sync
        assert len(server.hub.gossip.store) == 1
        await alice.close()

    run(go())


def test_a_push_the_log_cannot_take_closes_the_session_with_a_reason_and_can_be_retried():
    async def go():
        server = cluster_hub()
        journal = server.hub.journal
        alice = await session(server, "alice")
        pattern = signed("alice", 1)
        alice.share(pattern)
        await wait_until(lambda: journal._outbox, what="the publish request")
        ((msg_id, _, _),) = journal.take_publish()
        journal.publish_failed(msg_id, time.time())
        server.flush()
        await wait_until(lambda: alice.closed, what="the refusal")
        closed = next(e for e in alice.events if isinstance(e, PeerClosed))
        assert (closed.error_code, closed.reason) == (ErrorCode.OVERLOADED, LOG_UNAVAILABLE)
        again = await session(server, "alice")  # offered again, it is tried again
        again.share(pattern)
        await wait_until(lambda: journal._outbox, what="the second publish request")
        await again.close()

    run(go())


def test_while_the_log_is_down_a_push_is_refused_at_once_and_reads_go_on():
    async def go():
        server = cluster_hub()
        journal = server.hub.journal
        journal.fold(signed("bob", 1), time.time())
        journal.set_up(False)
        reader = await session(server, "reader")
        await reader.sync(10)  # nothing new: a sync still works
        alice = await session(server, "alice")
        alice.share(signed("alice", 1))
        await wait_until(lambda: alice.closed, what="the refusal")
        assert not journal.take_publish()
        journal.set_up(True)
        alice = await session(server, "alice")
        alice.share(signed("alice", 1))
        await wait_until(lambda: journal._outbox, what="a publish once the log is back")
        await reader.close()
        await alice.close()

    run(go())


def test_patterns_on_their_way_to_the_log_count_against_the_quota():
    async def go():
        server = cluster_hub(max_patterns_per_author=5)
        journal = server.hub.journal
        mallory = await session(server, "mallory")
        for n in range(20):
            mallory.share(signed("mallory", n))
        await asyncio.sleep(0.3)
        assert len(journal.take_publish()) == 5
        await mallory.close()

    run(go())


def test_hubs_folding_the_same_log_agree_on_store_quota_and_digest():
    import json

    async def go():
        one, two = cluster_hub(max_patterns_per_author=3), cluster_hub(max_patterns_per_author=3)
        log = [json.loads(json.dumps(signed("mallory", n))) for n in range(6)]
        log.append(log[0])  # a replay later in the log
        for server in (one, two):
            for p in log:
                server.hub.journal.fold(p, time.time())
        assert one.hub.gossip.digest() == two.hub.gossip.digest()
        assert len(one.hub.gossip.store) == 3
        bob = await session(two, "bob")
        await bob.sync(10)
        assert any(isinstance(e, InSync) for e in bob.events)
        await bob.close()

    run(go())


def test_another_hubs_stream_that_goes_quiet_is_ended_here(monkeypatch):
    from reasoningbank.bus import journal as journal_module
    from reasoningbank.bus.events import StreamEnded, StreamOpened
    from reasoningbank.bus.frames import FrameType

    monkeypatch.setattr(journal_module, "REMOTE_STREAM_IDLE", 0.5)

    async def go():
        server = cluster_hub()
        journal = server.hub.journal
        bob = await session(server, "bob")
        await wait_until(lambda: server.hub._admitted, what="bob's HELLO at the hub")
        opened = {"open": {"kind": int(FrameType.TOKEN), "meta": {}}}
        journal.remote_stream("h:1:1", opened, time.time())
        journal.remote_stream("h:1:1", {"data": b"x".hex()}, time.time())
        server.flush()
        await wait_until(lambda: any(isinstance(e, StreamOpened) for e in bob.events))
        journal.expire_streams(time.time())
        server.flush()
        await asyncio.sleep(0.2)
        assert not any(isinstance(e, StreamEnded) for e in bob.events)
        await asyncio.sleep(0.5)
        journal.expire_streams(time.time())  # its hub died mid-stream: no end mark came
        server.flush()
        await wait_until(lambda: any(isinstance(e, StreamEnded) for e in bob.events))
        assert not journal._remote
        await bob.close()

    run(go())


def _signed_push(now: float):
    from reasoningbank.bus.frames import FrameType, encode_frame, pull_frame
    from reasoningbank.bus.intents import sign_frame

    frame = sign_frame(
        signer_for("alice"),
        os.urandom(16),
        now,
        type=FrameType.GOSSIP,
        payload=b"{}",
        op="gossip.push",
    )
    return pull_frame(encode_frame(frame))[0]


def _two_hub_checkers(**policy):
    from reasoningbank.bus.intents import Policy
    from reasoningbank.bus.journal import ClusterChecker

    return ClusterChecker(Policy(**policy)), ClusterChecker(Policy(**policy))


def _announce(source, target, now: float) -> None:
    """What the cluster driver does: one hub's accepted intents, remembered by another."""
    for key, nonce, ts, cost in source.take_accepted():
        target.remember(key, nonce, ts, cost, now)


def test_a_key_has_one_spend_budget_across_hubs():
    import pytest

    from reasoningbank.bus.errors import BudgetExceeded

    now = time.time()
    hub1, hub2 = _two_hub_checkers(budget=3, window=60)
    for _ in range(2):
        hub1.check_sync(_signed_push(now), now, VERIFIER)
    _announce(hub1, hub2, now)
    hub2.check_sync(_signed_push(now), now, VERIFIER)  # the third unit, spent on hub 2
    with pytest.raises(BudgetExceeded):
        hub2.check_sync(_signed_push(now), now, VERIFIER)
    _announce(hub2, hub1, now)
    with pytest.raises(BudgetExceeded):
        hub1.check_sync(_signed_push(now), now, VERIFIER)
    assert hub1.spent(signer_for("alice").public_key, now) == 3
    assert hub2.spent(signer_for("alice").public_key, now + 61) == 0  # the window moves on


def test_any_intent_accepted_on_one_hub_is_a_replay_on_another():
    import pytest

    from reasoningbank.bus.errors import ReplayedNonce

    now = time.time()
    hub1, hub2 = _two_hub_checkers()
    frame = _signed_push(now)
    hub1.check_sync(frame, now, VERIFIER)
    _announce(hub1, hub2, now)
    with pytest.raises(ReplayedNonce):
        hub2.check_sync(frame, now, VERIFIER)


def test_an_announcement_heard_twice_or_echoed_back_is_charged_once():
    now = time.time()
    hub1, hub2 = _two_hub_checkers(budget=10)
    hub1.check_sync(_signed_push(now), now, VERIFIER)
    accepted = hub1.take_accepted()
    for _ in range(2):
        for key, nonce, ts, cost in accepted:
            hub2.remember(key, nonce, ts, cost, now)
            hub1.remember(key, nonce, ts, cost, now)  # its own announcement, back from NATS
    alice = signer_for("alice").public_key
    assert hub1.spent(alice, now) == hub2.spent(alice, now) == 1
