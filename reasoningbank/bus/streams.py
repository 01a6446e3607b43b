"""Reasoning streams: token, trace, rubric and verify streams with ids, seqs and end marks.

A stream is a run of frames of one kind (``FrameType.TOKEN`` ... ``VERIFY``) on one stream id.
Seq 0 opens it and carries JSON metadata (origin key, title); seqs 1.. carry data; the frame
with ``END_STREAM`` set is the last (it may carry data). The sender numbers frames; the
receiver delivers them strictly in order, drops duplicates, holds a bounded number of early
frames (``window``) so reordering transports (datagrams, the simulator) work, and refuses
anything after the end mark or beyond the window with ``ProtocolViolation``.

Stream ids follow QUIC's rule so both ends can open streams without coordination: the
session initiator (client) uses odd ids, the responder even ids; 0 is the connection itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .errors import LocalBusError, ProtocolViolation
from .events import BusEvent, StreamDataReceived, StreamEnded, StreamOpened
from .frames import FrameType

__all__ = ["STREAM_KINDS", "StreamIds", "StreamReceiver", "StreamSender", "StreamTable"]

STREAM_KINDS = frozenset({FrameType.TOKEN, FrameType.TRACE, FrameType.RUBRIC, FrameType.VERIFY})


class StreamIds:
    """Allocates stream ids for one side: odd for the initiator, even for the responder."""

    def __init__(self, is_initiator: bool) -> None:
        self._next = 1 if is_initiator else 2

    def allocate(self) -> int:
        sid = self._next
        if sid >= 1 << 32:
            raise LocalBusError("stream ids exhausted; open a new session")
        self._next += 2
        return sid

    @staticmethod
    def opened_by_initiator(stream_id: int) -> bool:
        return stream_id % 2 == 1


@dataclass(slots=True)
class StreamSender:
    """Numbers the frames of one outgoing stream. ``next_frame`` → (seq, end_stream)."""

    stream_id: int
    kind: FrameType
    seq: int = 0
    ended: bool = False

    def __post_init__(self) -> None:
        if self.kind not in STREAM_KINDS:
            raise LocalBusError(f"{self.kind!r} is not a reasoning-stream kind")

    def next_frame(self, *, end: bool = False) -> tuple[int, bool]:
        if self.ended:
            raise LocalBusError(f"stream {self.stream_id} already ended")
        seq = self.seq
        self.seq += 1
        self.ended = end
        return seq, end


@dataclass(slots=True)
class StreamReceiver:
    """In-order delivery for one incoming stream."""

    stream_id: int
    kind: FrameType
    window: int = 1024
    expected: int = 0
    end_seq: int | None = None
    delivered: int = 0
    _early: dict[int, tuple[bytes, bool]] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.end_seq is not None and self.expected > self.end_seq

    def handle_chunk(self, seq: int, data: bytes, end: bool) -> list[BusEvent]:
        """Take one frame; return the events it releases (possibly none, possibly many)."""
        if self.finished or (self.end_seq is not None and seq > self.end_seq):
            raise ProtocolViolation(f"stream {self.stream_id}: frame after the end mark")
        if seq < self.expected or seq in self._early:
            return []  # duplicate
        if seq >= self.expected + self.window:
            raise ProtocolViolation(f"stream {self.stream_id}: seq {seq} beyond the window")
        if end:
            if self.end_seq is not None and self.end_seq != seq:
                raise ProtocolViolation(f"stream {self.stream_id}: two end marks")
            if self._early and max(self._early) > seq:
                raise ProtocolViolation(f"stream {self.stream_id}: end mark before data")
            self.end_seq = seq
        self._early[seq] = (data, end)
        events: list[BusEvent] = []
        while self.expected in self._early:
            payload, _ = self._early.pop(self.expected)
            if self.expected == 0:
                events.append(StreamOpened(self.stream_id, self.kind, _meta(payload)))
            elif payload or self.expected != self.end_seq:
                events.append(StreamDataReceived(self.stream_id, self.kind, self.expected, payload))
                self.delivered += 1
            self.expected += 1
        if self.finished:
            events.append(StreamEnded(self.stream_id, self.kind, self.delivered))
        return events


def _meta(payload: bytes) -> dict[str, Any]:
    if not payload:
        return {}
    try:
        meta = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolViolation("stream opening frame must carry JSON metadata") from None
    if not isinstance(meta, dict):
        raise ProtocolViolation("stream metadata must be a JSON object")
    return meta


class StreamTable:
    """All incoming streams of a session, bounded by ``max_streams`` open at once."""

    def __init__(self, max_streams: int = 256, window: int = 1024) -> None:
        self.max_streams = max_streams
        self.window = window
        self._open: dict[int, StreamReceiver] = {}
        self._closed: set[int] = set()

    def handle_chunk(
        self, kind: FrameType, stream_id: int, seq: int, data: bytes, end: bool
    ) -> list[BusEvent]:
        if stream_id == 0:
            raise ProtocolViolation("reasoning streams cannot use stream id 0")
        if stream_id in self._closed:
            raise ProtocolViolation(f"stream {stream_id}: frame after the end mark")
        rx = self._open.get(stream_id)
        if rx is None:
            if len(self._open) >= self.max_streams:
                raise ProtocolViolation("too many open streams")
            rx = self._open[stream_id] = StreamReceiver(stream_id, kind, window=self.window)
        elif rx.kind != kind:
            raise ProtocolViolation(f"stream {stream_id} changed kind")
        events = rx.handle_chunk(seq, data, end)
        if rx.finished:
            del self._open[stream_id]
            self._closed.add(stream_id)
        return events
