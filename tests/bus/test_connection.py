"""The sans-IO session: HELLO, signed frames, errors become closes, timers, async twins."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from reasoningbank.bus.connection import Connection
from reasoningbank.bus.errors import ErrorCode, LocalBusError
from reasoningbank.bus.events import HelloReceived, IntentReceived, PeerClosed, PongReceived
from reasoningbank.bus.frames import Frame, FrameType, encode_frame, pull_frame
from reasoningbank.bus.intents import Policy, sign_frame
from reasoningbank.bus.state import SessionState

from .helpers import T0, TICK, VERIFIER, BusPair, drain, nonces, signer_for


def test_hello_exchange_opens_both_sides():
    pair = BusPair()
    pair.client.hello(T0)
    pair.server.hello(T0)
    cev, sev = pair.transfer(T0)
    assert cev == [HelloReceived(pair.server_signer.public_key, {"role": "server"})]
    assert sev == [HelloReceived(pair.client_signer.public_key, {"role": "client"})]
    assert pair.client.state == pair.server.state == SessionState.OPEN


def test_request_arrives_as_intent_event():
    pair = BusPair()
    pair.open()
    pair.client.send_json(T0, FrameType.REQUEST, "sync.ping", {"n": 1}, stream_id=0)
    _, sev = pair.transfer(T0)
    assert sev == [
        IntentReceived(FrameType.REQUEST, "sync.ping", b'{"n":1}', pair.client_signer.public_key)
    ]


def test_sending_before_hello_is_a_local_error():
    pair = BusPair()
    with pytest.raises(LocalBusError):
        pair.client.send_json(T0, FrameType.REQUEST, "sync.ping", {})


def test_data_before_peer_hello_closes_with_protocol_violation():
    pair = BusPair()
    pair.client.hello(T0)
    pair.client.send_json(T0, FrameType.REQUEST, "sync.ping", {})
    data = pair.client.data_to_send()
    # drop the HELLO, deliver only the request
    frame, used = pull_frame(data)
    pair.server.receive_data(data[used:])
    events = []
    drain(pair.server, T0, events)
    assert events == [PeerClosed(ErrorCode.PROTOCOL_VIOLATION, events[0].reason, by_peer=True)]
    assert pair.server.state == SessionState.ERROR


def test_garbage_closes_with_malformed_and_reports_it():
    pair = BusPair()
    pair.open()
    pair.server.receive_data(b"\x00\x00\x00\x20" + b"\xff" * 36)
    events = []
    drain(pair.server, T0, events)
    assert [type(e) for e in events] == [PeerClosed] and events[
        0
    ].error_code == ErrorCode.MALFORMED_FRAME
    cev, _ = pair.transfer(T0)
    assert cev[0].error_code == ErrorCode.MALFORMED_FRAME and cev[0].by_peer


def test_oversized_frame_closes_with_frame_too_large():
    pair = BusPair(max_frame_size=1024)
    pair.open()
    pair.server.receive_data((10_000).to_bytes(4, "big"))
    events = []
    drain(pair.server, T0, events)
    assert events[0].error_code == ErrorCode.FRAME_TOO_LARGE


def test_sending_an_oversized_frame_is_a_local_error():
    pair = BusPair(max_frame_size=1024)
    pair.open()
    with pytest.raises(LocalBusError):
        pair.client.send(T0, type=FrameType.TELEMETRY, op="bus.metrics", payload=b"x" * 2000)


def test_frame_signed_by_another_key_mid_session_is_refused():
    pair = BusPair()
    pair.open()
    mallory = signer_for("mallory")
    frame = sign_frame(
        mallory, nonces(9)(16), T0, type=FrameType.GOSSIP, payload=b"{}", op="gossip.push"
    )
    pair.server.receive_data(encode_frame(frame))
    events = []
    drain(pair.server, T0, events)
    assert events[0].error_code == ErrorCode.PROTOCOL_VIOLATION


def test_replayed_frame_closes_with_replayed_nonce():
    pair = BusPair()
    pair.open()
    pair.client.send_json(T0, FrameType.REQUEST, "sync.ping", {})
    data = pair.client.data_to_send()
    pair.server.receive_data(data + data)
    events = []
    drain(pair.server, T0, events)
    assert isinstance(events[0], IntentReceived)
    assert events[1].error_code == ErrorCode.REPLAYED_NONCE


def test_rejection_codes_reach_the_peer_for_each_intent_error():
    """Stale, future and untrusted frames each close the session with their own code."""
    for policy, now, code in [
        (Policy(max_age=5), T0 + 10, ErrorCode.EXPIRED),
        (Policy(max_skew=5), T0 - 10, ErrorCode.FUTURE),
        (Policy(trusted=set()), T0, ErrorCode.UNTRUSTED_KEY),
    ]:
        pair = BusPair(server_policy=policy)
        pair.client.hello(T0)
        pair.server.receive_data(pair.client.data_to_send())
        events = []
        drain(pair.server, now, events)
        assert events[0].error_code == code
        pair.client.receive_data(pair.server.data_to_send())
        cev = []
        drain(pair.client, T0, cev)
        assert cev[0].error_code == code and cev[0].by_peer


def test_expected_peer_key_is_enforced():
    pair = BusPair()
    pair.client.expected_peer_key = signer_for("someone else").public_key
    pair.server.hello(T0)
    pair.client.receive_data(pair.server.data_to_send())
    events = []
    drain(pair.client, T0, events)
    assert events[0].error_code == ErrorCode.UNTRUSTED_KEY


def test_close_handshake():
    pair = BusPair()
    pair.open()
    pair.client.send_json(T0, FrameType.REQUEST, "sync.ping", {"last": True})
    pair.client.close(reason="bye")
    cev, sev = pair.transfer(T0)
    assert cev == [PeerClosed(0, "bye", by_peer=False)]
    assert isinstance(sev[0], IntentReceived)  # queued data went out before the CLOSE
    assert sev[1] == PeerClosed(0, "bye", by_peer=True)
    assert pair.client.state == pair.server.state == SessionState.CLOSED


def test_ping_and_idle_deadlines_are_exact():
    pair = BusPair(ping_interval=10.0, idle_timeout=30.0)
    pair.open(T0)
    assert pair.client.get_timer() == T0 + 10.0
    now = T0 + 10.0
    pair.client.handle_timer(now)
    pair.server.receive_data(pair.client.data_to_send())
    drain(pair.server, now + TICK, [])
    pair.client.receive_data(pair.server.data_to_send())
    events = []
    drain(pair.client, now + 2 * TICK, events)
    assert events == [PongReceived(pytest.approx(2 * TICK))]
    assert pair.client.get_timer() == pytest.approx(now + 10.0)
    # nothing heard for idle_timeout → close
    later = now + 2 * TICK + 30.0
    pair.client.handle_timer(later)
    events = []
    drain(pair.client, later, events)
    assert events == [PeerClosed(0, "idle timeout", by_peer=False)]
    assert pair.client.get_timer() is None


def test_transport_eof_reports_peer_closed():
    pair = BusPair()
    pair.open()
    pair.server.receive_data(b"")
    events = []
    drain(pair.server, T0, events)
    assert events == [PeerClosed(0, "transport closed", by_peer=True)]


def test_async_twins_match_sync_behaviour():
    class AsyncSigner:
        def __init__(self, s):
            self.public_key, self._s = s.public_key, s

        async def sign(self, data):
            return self._s.sign_sync(data)

    class AsyncVerifier:
        async def verify(self, *a):
            return VERIFIER.verify_sync(*a)

    async def go():
        a = Connection(
            signer=AsyncSigner(signer_for("a")),
            verifier=AsyncVerifier(),
            is_client=True,
            nonce_source=nonces(1),
        )
        b = Connection(
            signer=AsyncSigner(signer_for("b")),
            verifier=AsyncVerifier(),
            is_client=False,
            nonce_source=nonces(2),
        )
        await a.ahello(T0)
        await b.ahello(T0)
        await a.asend(T0, type=FrameType.REQUEST, op="sync.ping", payload=b"{}")
        sid = await a.aopen_stream(T0, FrameType.TRACE, {"t": 1})
        await a.asend_stream(T0, sid, b"step", end=True)
        b.receive_data(a.data_to_send())
        events = []
        while (ev := await b.anext_event(T0)) is not None:
            events.append(ev)
        return [type(e).__name__ for e in events]

    assert asyncio.run(go()) == [
        "HelloReceived",
        "IntentReceived",
        "StreamOpened",
        "StreamDataReceived",
        "StreamEnded",
    ]


def test_unsigned_non_control_frame_is_refused():
    pair = BusPair()
    pair.open()
    pair.server.receive_data(encode_frame(Frame(type=FrameType.GOSSIP, payload=b"{}")))
    events = []
    drain(pair.server, T0, events)
    assert events[0].error_code == ErrorCode.PROTOCOL_VIOLATION


def test_unknown_control_op_is_refused():
    pair = BusPair()
    pair.open()
    pair.server.receive_data(
        encode_frame(Frame(type=FrameType.CONTROL, payload=b'{"op":"reboot"}'))
    )
    events = []
    drain(pair.server, T0, events)
    assert events[0].error_code == ErrorCode.PROTOCOL_VIOLATION
    assert dataclasses.is_dataclass(events[0])


def test_a_large_burst_of_complete_frames_is_processed_not_refused():
    pair = BusPair(max_frame_size=4096)
    pair.open()
    for i in range(3000):
        pair.client.send(
            T0, type=FrameType.TELEMETRY, op="bus.metrics", payload=b"%d" % i + b"x" * 600
        )
    burst = pair.client.data_to_send()
    assert len(burst) > 4 * pair.server.max_frame_size * 100
    pair.server.receive_data(burst)
    events = []
    drain(pair.server, T0, events)
    assert len(events) == 3000 and all(isinstance(e, IntentReceived) for e in events)


def test_transport_loss_after_our_close_reports_closed_once():
    pair = BusPair()
    pair.open()
    pair.client.close(reason="bye")
    pair.client.receive_data(b"")
    events = []
    drain(pair.client, T0, events)
    assert events == [PeerClosed(0, "bye", by_peer=False)]
    assert pair.client.state == SessionState.CLOSED


def test_max_frame_size_is_bounded():
    for bad in (10, 32 * 1024 * 1024):
        with pytest.raises(LocalBusError):
            Connection(
                signer=signer_for("a"),
                verifier=VERIFIER,
                is_client=True,
                nonce_source=nonces(1),
                max_frame_size=bad,
            )
