"""Snapshots: signed manifest, content-addressed chunks, resumable after a cut."""

from __future__ import annotations

import copy
import json

import pytest

from reasoningbank.bus.errors import (
    ForgedSignature,
    MalformedFrame,
    ProtocolViolation,
    UntrustedKey,
)
from reasoningbank.bus.events import SnapshotComplete
from reasoningbank.bus.hub import Hub
from reasoningbank.bus.peer import BusPeer
from reasoningbank.bus.provenance import pattern_id, sign_pattern
from reasoningbank.bus.snapshots import SnapshotReceiver, build_snapshot
from reasoningbank.bus.state import TransferState

from .helpers import T0, VERIFIER, make_pattern, nonces, signer_for

MAKER = signer_for("hub")
AUTHOR = signer_for("author")
PATTERNS = [sign_pattern(make_pattern("s", i), AUTHOR, T0) for i in range(60)]


def snapshot(chunk_size=1024):
    return build_snapshot(PATTERNS, MAKER, T0, chunk_size=chunk_size)


def test_snapshot_round_trip():
    manifest, chunks = snapshot()
    assert len(chunks) > 5 and manifest.body["count"] == 60
    rx = SnapshotReceiver({MAKER.public_key})
    rx.accept_manifest(manifest.to_dict(), VERIFIER)
    events = []
    for h in manifest.chunks:
        events += rx.add_chunk(chunks[h])
    done = events[-1]
    assert isinstance(done, SnapshotComplete) and rx.state == TransferState.COMPLETE
    assert {pattern_id(p) for p in done.patterns} == {pattern_id(p) for p in PATTERNS}


def test_snapshot_is_deterministic():
    assert snapshot()[0].id == snapshot()[0].id


def test_snapshot_resumes_after_a_cut():
    """Half the chunks arrive, the link drops, progress is persisted as JSON; a new receiver
    built from it asks only for the missing chunks and completes."""
    manifest, chunks = snapshot()
    rx = SnapshotReceiver()
    rx.accept_manifest(manifest.to_dict(), VERIFIER)
    half = manifest.chunks[: len(manifest.chunks) // 2]
    for h in half:
        rx.add_chunk(chunks[h])
    rx.cut()
    assert rx.state == TransferState.INTERRUPTED
    saved = json.loads(json.dumps(rx.resume_state()))
    rx2 = SnapshotReceiver.from_resume_state(saved, VERIFIER)
    assert rx2.state == TransferState.INTERRUPTED
    wanted = rx2.resume()
    assert wanted == manifest.chunks[len(half) :] and rx2.state == TransferState.RECEIVING
    events = []
    for h in wanted:
        events += rx2.add_chunk(chunks[h])
    assert isinstance(events[-1], SnapshotComplete) and len(events[-1].patterns) == 60


def test_forged_manifest_is_rejected():
    manifest, _ = snapshot()
    data = manifest.to_dict()
    data["body"] = dict(data["body"], count=61)
    with pytest.raises(ForgedSignature):
        SnapshotReceiver().accept_manifest(data, VERIFIER)


def test_untrusted_maker_and_malformed_manifest_are_rejected():
    manifest, _ = snapshot()
    with pytest.raises(UntrustedKey):
        SnapshotReceiver({AUTHOR.public_key}).accept_manifest(manifest.to_dict(), VERIFIER)
    with pytest.raises(MalformedFrame):
        SnapshotReceiver().accept_manifest({"body": {"v": 1}}, VERIFIER)


def test_chunk_not_in_manifest_is_rejected():
    manifest, chunks = snapshot()
    rx = SnapshotReceiver()
    with pytest.raises(ProtocolViolation):
        rx.add_chunk(b"before manifest")
    rx.accept_manifest(manifest.to_dict(), VERIFIER)
    with pytest.raises(ProtocolViolation):
        rx.add_chunk(b"not a chunk of this snapshot")
    first = chunks[manifest.chunks[0]]
    assert rx.add_chunk(first) and rx.add_chunk(first) == []  # duplicates are ignored


def test_snapshot_from_a_hub_resumes_over_a_new_session():
    """A bank downloads the hub's snapshot, the session is cut mid-transfer, and a new
    session resumes from the chunks already received."""
    hub = Hub(signer=MAKER, verifier=VERIFIER, nonce_source=nonces(1), chunk_size=512)
    for p in PATTERNS:
        hub.gossip.publish(p, VERIFIER)

    def session(name, seed, resume=None):
        hub.open_session(name, T0)
        peer = BusPeer(
            signer=AUTHOR, verifier=VERIFIER, nonce_source=nonces(seed), trusted={AUTHOR.public_key}
        )
        peer.start(T0)
        peer.request_snapshot(T0, resume)
        return peer

    peer = session("s1", 2)
    hub.receive_data("s1", peer.data_to_send(), T0)
    peer.receive_data(hub.data_to_send("s1"), T0)  # hello + manifest
    hub.receive_data("s1", peer.data_to_send(), T0)  # chunk request
    data = hub.data_to_send("s1")
    received = peer.receive_data(data[: len(data) // 2], T0)  # the link dies halfway
    got = sum(type(e).__name__ == "SnapshotChunkReceived" for e in received)
    assert 0 < got < len(peer.snapshot.manifest.chunks)
    peer.receive_data(b"", T0)
    hub.close_session("s1")
    assert peer.snapshot.state == TransferState.INTERRUPTED
    saved = json.loads(json.dumps(peer.snapshot.resume_state()))

    resumed = SnapshotReceiver.from_resume_state(saved, VERIFIER)
    peer2 = session("s2", 3, resumed)
    hub.receive_data("s2", peer2.data_to_send(), T0)
    peer2.receive_data(hub.data_to_send("s2"), T0)
    request = peer2.data_to_send()
    hub.receive_data("s2", request, T0)
    events = peer2.receive_data(hub.data_to_send("s2"), T0)
    chunks = [e for e in events if type(e).__name__ == "SnapshotChunkReceived"]
    assert len(chunks) == len(resumed.manifest.chunks) - got  # only the missing ones moved
    assert isinstance(events[-1], SnapshotComplete) and len(events[-1].patterns) == 60
    assert copy.deepcopy(events[-1].patterns[0])["metadata"]["provenance"]
