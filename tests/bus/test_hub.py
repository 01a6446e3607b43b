"""The hub's own rules, sans-IO: who may hold a session, slow consumers, snapshot cost."""

from __future__ import annotations

from reasoningbank.bus.connection import Connection
from reasoningbank.bus.errors import ErrorCode
from reasoningbank.bus.events import (
    HelloReceived,
    IntentReceived,
    PeerClosed,
    StreamDataReceived,
    StreamEnded,
)
from reasoningbank.bus.frames import FrameType
from reasoningbank.bus.hub import Hub
from reasoningbank.bus.provenance import sign_pattern

from .helpers import T0, VERIFIER, drain, make_pattern, nonces, signer_for

ALICE, BOB, EVE = signer_for("alice"), signer_for("bob"), signer_for("eve")


def new_hub(**kw) -> Hub:
    return Hub(signer=signer_for("hub"), verifier=VERIFIER, nonce_source=nonces(9), **kw)


class Client:
    """One client connection wired to ``hub`` under ``sid`` by hand."""

    def __init__(self, hub: Hub, sid: str, signer, seed: int) -> None:
        self.hub, self.sid = hub, sid
        self.conn = Connection(
            signer=signer, verifier=VERIFIER, is_client=True, nonce_source=nonces(seed)
        )
        self.events: list = []
        hub.open_session(sid, T0)
        self.conn.hello(T0)

    def pump(self, now: float = T0, read: bool = True) -> None:
        for _ in range(50):
            up = self.conn.data_to_send()
            if up:
                self.hub.receive_data(self.sid, up, now)
            down = self.hub.data_to_send(self.sid) if read else b""
            if down:
                self.conn.receive_data(down)
            drain(self.conn, now, self.events)
            if not up and not down:
                return


def test_hello_from_a_key_not_allowed_is_closed_and_sent_nothing():
    hub = new_hub(allowed={ALICE.public_key})
    hub.preload([sign_pattern(make_pattern("alice", 1), ALICE, T0)])
    eve = Client(hub, "eve", EVE, 1)
    eve.conn.send_json(T0, FrameType.GOSSIP, "gossip.digest", {"buckets": {}, "count": 0})
    eve.pump()
    closed = [e for e in eve.events if isinstance(e, PeerClosed)]
    assert closed and closed[0].error_code == ErrorCode.UNTRUSTED_KEY
    assert closed[0].reason == "key not allowed on this hub"
    assert [type(e) for e in eve.events] == [HelloReceived, PeerClosed]  # no gossip reply
    assert "eve" in hub.take_ended() and "eve" not in hub.gossip.peers
    alice = Client(hub, "alice", ALICE, 2)
    alice.pump()
    assert "alice" in hub.gossip.peers and not any(isinstance(e, PeerClosed) for e in alice.events)


def test_set_allowed_closes_sessions_of_keys_no_longer_allowed():
    hub = new_hub()  # open: any key
    alice, bob = Client(hub, "a", ALICE, 1), Client(hub, "b", BOB, 2)
    alice.pump()
    bob.pump()
    hub.set_allowed({ALICE.public_key})
    alice.pump()
    bob.pump()
    assert hub.take_ended() == {"b"}
    closed = [e for e in bob.events if isinstance(e, PeerClosed)]
    assert closed[0].error_code == ErrorCode.UNTRUSTED_KEY
    assert not any(isinstance(e, PeerClosed) for e in alice.events)


def three_clients(hub: Hub) -> tuple[Client, Client, Client]:
    clients = Client(hub, "s", ALICE, 1), Client(hub, "x", BOB, 2), Client(hub, "f", EVE, 3)
    for c in clients:
        c.pump()
    return clients


def test_a_stream_is_no_longer_relayed_to_a_session_that_lags():
    """Regression: a stream relayed to a session that never reads queued without bound.
    Now the lagging session gets the stream's end mark early and keeps its session; a
    reading session gets the whole stream."""
    hub = new_hub(max_outbound_bytes=400_000)
    sender, slow, fast = three_clients(hub)
    stream = sender.conn.open_stream(T0, FrameType.TOKEN, {"title": "t"})
    wire = b""
    for _ in range(100):
        sender.conn.send_stream(T0, stream, b"t" * 10_000)
        sender.pump()
        fast.pump()
        wire += hub.data_to_send("x", 0, buffered=0)  # the slow transport takes nothing
        assert hub.queued_bytes("x") <= 200_000 + 20_000
    sender.conn.send_stream(T0, stream, b"", end=True)
    sender.pump()
    fast.pump()
    assert len([e for e in fast.events if isinstance(e, StreamDataReceived)]) == 100
    assert not hub.sessions["x"].closed
    slow.conn.receive_data(wire + hub.data_to_send("x"))
    drain(slow.conn, T0, slow.events)
    got = [e for e in slow.events if isinstance(e, StreamDataReceived)]
    assert 0 < len(got) < 100 and isinstance(slow.events[-1], StreamEnded)


def test_a_reader_that_stops_is_cut_as_a_slow_consumer_and_its_queue_dropped():
    """Patterns relayed to a session that stops reading: past its outbound budget it is
    cut with SLOW_CONSUMER and only the CLOSE is sent; the others go on."""
    hub = new_hub(max_outbound_bytes=100_000)
    sender, slow, fast = three_clients(hub)
    wire = b""
    for i in range(200):
        sender.conn.send_json(
            T0, FrameType.GOSSIP, "gossip.push",
            {"hops": 0, "pattern": sign_pattern(make_pattern("alice", i), ALICE, T0)},
        )  # fmt: skip
        sender.pump()
        fast.pump()
        wire += hub.data_to_send("x", 0, buffered=0)
        assert hub.queued_bytes("x") <= 100_000 + 5_000
    assert "x" in hub.take_ended()
    assert hub.sessions["x"].close_code == ErrorCode.SLOW_CONSUMER
    assert hub.queued_bytes("x") == 0 and len(wire) < 1_000  # the CLOSE alone
    slow.conn.receive_data(wire)
    drain(slow.conn, T0, slow.events)
    closed = [e for e in slow.events if isinstance(e, PeerClosed)]
    assert closed and closed[0].error_code == ErrorCode.SLOW_CONSUMER
    relayed = [e for e in fast.events if isinstance(e, IntentReceived) and e.op == "gossip.push"]
    assert len(relayed) == 200


def test_snapshot_is_rebuilt_only_after_a_change_and_its_max_age():
    """Regression: the cache key was the pattern count, and any change rebuilt at once."""
    hub = new_hub(snapshot_max_age=10.0)
    hub.preload([sign_pattern(make_pattern("alice", i), ALICE, T0) for i in range(3)])
    c = Client(hub, "c", ALICE, 1)
    c.pump()
    for _ in range(5):
        c.conn.send(T0, type=FrameType.SNAPSHOT, op="snapshot.get", payload=b"{}")
        c.pump()
    assert hub.snapshot_builds == 1
    hub.preload([sign_pattern(make_pattern("alice", 9), ALICE, T0)])
    c.conn.send(T0 + 1, type=FrameType.SNAPSHOT, op="snapshot.get", payload=b"{}")
    c.pump(T0 + 1)
    assert hub.snapshot_builds == 1  # changed, but the cache is younger than max_age
    c.conn.send(T0 + 11, type=FrameType.SNAPSHOT, op="snapshot.get", payload=b"{}")
    c.pump(T0 + 11)
    assert hub.snapshot_builds == 2
    c.conn.send(T0 + 30, type=FrameType.SNAPSHOT, op="snapshot.get", payload=b"{}")
    c.pump(T0 + 30)
    assert hub.snapshot_builds == 2  # old, but nothing changed


def test_idle_key_state_is_freed_on_the_timer():
    hub = new_hub()
    c = Client(hub, "c", ALICE, 1)
    c.pump()
    assert hub.checker.key_count == 1
    hub.close_session("c")
    hub.handle_timer(T0 + 3600)
    assert hub.checker.key_count == 0 and len(hub.checker) == 0
