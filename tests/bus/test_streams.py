"""Reasoning streams: ids, sequence numbers, end marks, reordering, misuse."""

from __future__ import annotations

import random

import pytest

from reasoningbank.bus.errors import ErrorCode, LocalBusError, ProtocolViolation
from reasoningbank.bus.events import StreamDataReceived, StreamEnded, StreamOpened
from reasoningbank.bus.frames import FrameType
from reasoningbank.bus.streams import StreamIds, StreamReceiver, StreamSender, StreamTable

from .helpers import T0, BusPair

KINDS = [FrameType.TOKEN, FrameType.TRACE, FrameType.RUBRIC, FrameType.VERIFY]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name.lower())
def test_each_stream_kind_flows_end_to_end(kind):
    pair = BusPair()
    pair.open()
    sid = pair.client.open_stream(T0, kind, {"title": "t"})
    for word in (b"think", b"step", b"answer"):
        pair.client.send_stream(T0, sid, word)
    pair.client.send_stream(T0, sid, b"", end=True)
    _, sev = pair.transfer(T0)
    assert sev == [
        StreamOpened(sid, kind, {"title": "t"}),
        StreamDataReceived(sid, kind, 1, b"think"),
        StreamDataReceived(sid, kind, 2, b"step"),
        StreamDataReceived(sid, kind, 3, b"answer"),
        StreamEnded(sid, kind, 3),
    ]


def test_stream_ids_have_initiator_parity():
    client, server = StreamIds(True), StreamIds(False)
    assert [client.allocate() for _ in range(3)] == [1, 3, 5]
    assert [server.allocate() for _ in range(3)] == [2, 4, 6]
    assert StreamIds.opened_by_initiator(5) and not StreamIds.opened_by_initiator(4)


def test_interleaved_streams_stay_separate():
    pair = BusPair()
    pair.open()
    a = pair.client.open_stream(T0, FrameType.TOKEN)
    b = pair.server.open_stream(T0, FrameType.VERIFY)
    pair.client.send_stream(T0, a, b"a1")
    pair.server.send_stream(T0, b, b"b1", end=True)
    pair.client.send_stream(T0, a, b"a2", end=True)
    cev, sev = pair.transfer(T0)
    assert [e for e in sev if isinstance(e, StreamDataReceived)] == [
        StreamDataReceived(a, FrameType.TOKEN, 1, b"a1"),
        StreamDataReceived(a, FrameType.TOKEN, 2, b"a2"),
    ]
    assert cev[-1] == StreamEnded(b, FrameType.VERIFY, 1)


def test_reordered_and_duplicated_frames_are_delivered_once_in_order():
    rng = random.Random(3)
    frames = (
        [(0, b"{}", False)]
        + [(i, f"c{i}".encode(), False) for i in range(1, 50)]
        + [(50, b"", True)]
    )
    shuffled = frames + rng.sample(frames, 10)
    rng.shuffle(shuffled)
    rx = StreamReceiver(1, FrameType.TOKEN)
    events = []
    for seq, data, end in shuffled:
        if rx.finished:
            break
        events += rx.handle_chunk(seq, data, end)
    data = [e.data for e in events if isinstance(e, StreamDataReceived)]
    assert data == [f"c{i}".encode() for i in range(1, 50)]
    assert events[-1] == StreamEnded(1, FrameType.TOKEN, 49)


def test_frame_after_end_mark_is_a_protocol_violation():
    table = StreamTable()
    table.handle_chunk(FrameType.TOKEN, 1, 0, b"{}", False)
    table.handle_chunk(FrameType.TOKEN, 1, 1, b"x", True)
    with pytest.raises(ProtocolViolation):
        table.handle_chunk(FrameType.TOKEN, 1, 2, b"late", False)


def test_seq_beyond_window_and_changed_kind_are_refused():
    rx = StreamReceiver(1, FrameType.TOKEN, window=8)
    with pytest.raises(ProtocolViolation):
        rx.handle_chunk(8, b"far", False)
    table = StreamTable()
    table.handle_chunk(FrameType.TOKEN, 3, 0, b"{}", False)
    with pytest.raises(ProtocolViolation):
        table.handle_chunk(FrameType.TRACE, 3, 1, b"x", False)
    with pytest.raises(ProtocolViolation):
        table.handle_chunk(FrameType.TOKEN, 0, 0, b"{}", False)


def test_too_many_open_streams_are_refused():
    table = StreamTable(max_streams=2)
    table.handle_chunk(FrameType.TOKEN, 1, 0, b"{}", False)
    table.handle_chunk(FrameType.TOKEN, 3, 0, b"{}", False)
    with pytest.raises(ProtocolViolation):
        table.handle_chunk(FrameType.TOKEN, 5, 0, b"{}", False)


def test_sending_after_end_is_a_local_error():
    tx = StreamSender(1, FrameType.RUBRIC)
    assert tx.next_frame() == (0, False)
    assert tx.next_frame(end=True) == (1, True)
    with pytest.raises(LocalBusError):
        tx.next_frame()
    with pytest.raises(LocalBusError):
        StreamSender(1, FrameType.GOSSIP)


def test_stream_violation_closes_the_session():
    pair = BusPair()
    pair.open()
    sid = pair.client.open_stream(T0, FrameType.TOKEN)
    pair.client.send_stream(T0, sid, b"", end=True)
    pair.transfer(T0)
    # a hostile client keeps writing on the finished stream
    pair.client._out_streams[sid] = StreamSender(sid, FrameType.TOKEN, seq=2)
    pair.client.send_stream(T0, sid, b"late")
    _, sev = pair.transfer(T0)
    assert sev[-1].error_code == ErrorCode.PROTOCOL_VIOLATION
