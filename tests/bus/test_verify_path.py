"""The receive path a hub session runs per frame: bytes in, checked intent (or a close) out.

The decoder reads the signed header from the frame's own bytes at offsets and hands the
checker the signed span as received; names are memoised; the checker skips the lookups that
cannot matter. These tests hold that path to the same answers as before: any byte changed
after signing is refused, names and header lengths are still checked, spend and replay state
still bind.
"""

from __future__ import annotations

import struct

import pytest

from reasoningbank.bus import frames
from reasoningbank.bus.aio.loadgen import verify_rate
from reasoningbank.bus.errors import BudgetExceeded, ErrorCode, MalformedFrame
from reasoningbank.bus.events import IntentReceived, PeerClosed
from reasoningbank.bus.frames import (
    NAME_MEMO_SIZE,
    SIGNING_TAG,
    FrameType,
    encode_frame,
    pull_frame,
    signing_bytes,
)
from reasoningbank.bus.intents import IntentChecker, Policy, run_sync, sign_frame

from .helpers import T0, VERIFIER, BusPair, drain, nonces, signer_for

PAYLOAD = b'{"pattern":"x"}'
NONCE = nonces(17)


def _open_pair() -> tuple[BusPair, bytes]:
    """An open session pair and the wire bytes of one data frame from client to server."""
    pair = BusPair()
    pair.open()
    pair.client.send(T0, type=FrameType.GOSSIP, op="gossip.push", payload=PAYLOAD)
    return pair, pair.client.data_to_send()


def _offsets(wire: bytes) -> dict[str, int]:
    """Where the fields a signature or hash covers sit in one encoded signed frame."""
    hlen, plen = struct.unpack_from(">HI", wire, 8)
    head = 14
    return {
        "type": 5,
        "stream_id": head + 3,
        "seq": head + 11,
        "key": head + 13 + 5,
        "timestamp": head + 13 + 32 + 7,
        "nonce": head + 13 + 40 + 3,
        "cap": head + 13 + 57 + len("gossip") + 7,
        "payload_hash": head + hlen - 1,
        "payload": head + hlen + plen // 2,
        "signature": len(wire) - 1,
    }


def _drain_flow(conn, now, into) -> None:
    """``drain`` through ``next_event_flow`` (the path async verifiers take)."""
    while (ev := run_sync(conn.next_event_flow(now), verifier=VERIFIER)) is not None:
        into.append(ev)


@pytest.mark.parametrize("driver", [drain, _drain_flow], ids=["next_event", "flow"])
@pytest.mark.parametrize(
    "field,code",
    [
        ("type", ErrorCode.FORGED_SIGNATURE),
        ("stream_id", ErrorCode.FORGED_SIGNATURE),
        ("seq", ErrorCode.FORGED_SIGNATURE),
        ("key", ErrorCode.FORGED_SIGNATURE),
        ("timestamp", ErrorCode.FORGED_SIGNATURE),
        ("nonce", ErrorCode.FORGED_SIGNATURE),
        ("cap", ErrorCode.FORGED_SIGNATURE),
        ("payload_hash", ErrorCode.TAMPERED_PAYLOAD),
        ("payload", ErrorCode.TAMPERED_PAYLOAD),
        ("signature", ErrorCode.FORGED_SIGNATURE),
    ],
)
def test_a_byte_changed_after_signing_is_refused_on_the_session_path(field, code, driver):
    """The session hands the checker the signed span exactly as received: flipping one bit
    of any covered byte on the wire closes the session and delivers nothing, whether the
    session is driven directly (``next_event``) or as a flow."""
    pair, wire = _open_pair()
    at = _offsets(wire)[field]
    bad = bytearray(wire)
    bad[at] ^= 0x02  # still well-formed: GOSSIP (3) -> RESPONSE (1), a cap of 1 -> 3, ...
    pair.server.receive_data(bytes(bad))
    events: list = []
    driver(pair.server, T0, events)
    assert not any(isinstance(e, IntentReceived) for e in events)
    assert [type(e) for e in events] == [PeerClosed] and events[0].error_code == code


@pytest.mark.parametrize("driver", [drain, _drain_flow], ids=["next_event", "flow"])
def test_the_unchanged_frame_is_delivered_and_its_replay_refused(driver):
    pair, wire = _open_pair()
    pair.server.receive_data(wire)
    events: list = []
    driver(pair.server, T0, events)
    assert events == [
        IntentReceived(FrameType.GOSSIP, "gossip.push", PAYLOAD, pair.client_signer.public_key)
    ]
    pair.server.receive_data(wire)  # the same bytes again: a replay
    driver(pair.server, T0, events)
    assert events[1] == PeerClosed(ErrorCode.REPLAYED_NONCE, events[1].reason, by_peer=True)


def test_the_signed_span_as_received_is_what_re_encoding_gives():
    frame = sign_frame(
        signer_for("span"), NONCE(16), T0, type=FrameType.GOSSIP, payload=PAYLOAD, op="gossip.push"
    )
    decoded = pull_frame(encode_frame(frame))[0]
    assert decoded == frame
    assert signing_bytes(decoded) == signing_bytes(frame)
    assert signing_bytes(decoded).startswith(SIGNING_TAG)


def test_a_header_shorter_than_its_fields_is_refused_even_when_the_frame_is_long_enough():
    """Fields are read from the whole frame at offsets: a header length that ends before the
    intent does (the payload length grown to keep the total) must not let the payload be read
    as header."""
    frame = sign_frame(
        signer_for("short"), NONCE(16), T0, type=FrameType.GOSSIP, payload=PAYLOAD, op="gossip.push"
    )
    wire = bytearray(encode_frame(frame))
    hlen, plen = struct.unpack_from(">HI", wire, 8)
    bad = bytearray(wire)
    for cut in (1, 8, 32, 40):
        struct.pack_into(">HI", bad, 8, hlen - cut, plen + cut)
        with pytest.raises(MalformedFrame):
            pull_frame(bytes(bad))
    for cut in (1, 8, plen):  # and headers that end past their fields
        struct.pack_into(">HI", bad, 8, hlen + cut, plen - cut)
        with pytest.raises(MalformedFrame):
            pull_frame(bytes(bad))


def test_name_memo_is_bounded_and_names_past_it_are_still_checked():
    signer = signer_for("names")
    for i in range(NAME_MEMO_SIZE + 50):
        frame = sign_frame(
            signer, NONCE(16), T0, type=FrameType.REQUEST, payload=b"{}", op=f"sync.op{i}"
        )
        assert pull_frame(encode_frame(frame))[0].intent.op == f"sync.op{i}"
    assert len(frames._NAMES) <= NAME_MEMO_SIZE
    wire = bytearray(encode_frame(frame))
    at = bytes(wire).index(f"sync.op{NAME_MEMO_SIZE + 49}".encode())
    wire[at] = ord("S")  # upper case: not a canonical name
    with pytest.raises(MalformedFrame):
        pull_frame(bytes(wire))


def test_a_key_whose_spend_window_emptied_is_still_charged():
    """A refusal after the spend window was emptied leaves the key with no ledger entries;
    its next frame is checked and charged from zero."""
    signer = signer_for("spender")
    checker = IntentChecker(Policy(budget=2, window=10.0))

    def frame(now: float, size: int):
        f = sign_frame(
            signer, NONCE(16), now, type=FrameType.GOSSIP, payload=bytes(size), op="gossip.push"
        )
        return pull_frame(encode_frame(f))[0]

    checker.check_sync(frame(T0, 10), T0, VERIFIER)
    with pytest.raises(BudgetExceeded):  # costs 3 alone, after the window emptied
        checker.check_sync(frame(T0 + 20, 8192), T0 + 20, VERIFIER)
    assert checker.spent(signer.public_key, T0 + 20) == 0
    checker.check_sync(frame(T0 + 21, 10), T0 + 21, VERIFIER)
    checker.check_sync(frame(T0 + 22, 10), T0 + 22, VERIFIER)
    assert checker.spent(signer.public_key, T0 + 22) == 2
    with pytest.raises(BudgetExceeded):
        checker.check_sync(frame(T0 + 23, 10), T0 + 23, VERIFIER)


def test_verify_rate_runs_every_frame_through_a_session():
    """The benchmark measures the hub's own path: each frame comes out of a server session as
    an IntentReceived (it raises otherwise), with raw PyNaCl timed beside it."""
    out = verify_rate(frames=300, blocks=3)
    assert out["frames"] == 300
    assert out["verified_per_s"] > 0 and out["raw_pynacl_verify_per_s"] > 0
    assert 0 < out["verified_vs_raw"]
