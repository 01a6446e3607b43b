"""Bus events: what the sans-IO layers report to the application.

Each event is a frozen dataclass under ``BusEvent`` (the aioquic ``QuicEvent`` idea). The
connection fires the frame-level ones; ``gossip`` and ``snapshots`` map those to their own.
Don't subclass these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .frames import FrameType

__all__ = [
    "BusEvent",
    "HelloReceived",
    "InSync",
    "IntentReceived",
    "PatternAccepted",
    "PatternRejected",
    "PeerClosed",
    "PongReceived",
    "SnapshotChunkReceived",
    "SnapshotComplete",
    "StreamDataReceived",
    "StreamEnded",
    "StreamOpened",
]


class BusEvent:
    """Base class of every bus event."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class HelloReceived(BusEvent):
    """Fired when the peer's signed HELLO arrived; every later frame must carry its key."""

    peer_key: bytes
    "The peer's raw Ed25519 public key."
    info: dict[str, Any]
    "What the peer said about itself (name, role, capabilities)."


@dataclass(frozen=True, slots=True)
class IntentReceived(BusEvent):
    """Fired for each accepted request, response, gossip, snapshot or telemetry frame."""

    type: FrameType
    "Frame type."
    op: str
    "Operation, e.g. ``gossip.push`` or ``snapshot.chunk``."
    payload: bytes
    "Raw payload (JSON for most ops, raw bytes for snapshot chunks)."
    sender: bytes
    "Key that signed the frame (hop-by-hop: the peer, not necessarily the author)."
    stream_id: int = 0
    "Stream the frame belongs to (0 = the connection itself)."
    seq: int = 0
    "Sequence number within the stream."
    end_stream: bool = False
    "True on the last frame of a stream or transfer."


@dataclass(frozen=True, slots=True)
class PongReceived(BusEvent):
    """Fired when the peer answered a ping; ``rtt`` is in seconds."""

    rtt: float


@dataclass(frozen=True, slots=True)
class StreamOpened(BusEvent):
    """Fired when a reasoning stream starts (its seq 0 frame arrived)."""

    stream_id: int
    kind: FrameType
    "TOKEN, TRACE, RUBRIC or VERIFY."
    meta: dict[str, Any]
    "Stream metadata from the opening frame (origin key, title, ...)."


@dataclass(frozen=True, slots=True)
class StreamDataReceived(BusEvent):
    """Fired for each in-order chunk of a reasoning stream (after reordering)."""

    stream_id: int
    kind: FrameType
    seq: int
    data: bytes


@dataclass(frozen=True, slots=True)
class StreamEnded(BusEvent):
    """Fired once, after every chunk up to the end mark was delivered in order."""

    stream_id: int
    kind: FrameType
    chunks: int
    "Number of data chunks delivered (the opening frame not counted)."


@dataclass(frozen=True, slots=True)
class PeerClosed(BusEvent):
    """Fired when the session ends, by either side. Nothing more is sent or received."""

    error_code: int
    "0 for a clean close; otherwise an ``ErrorCode``."
    reason: str = ""
    by_peer: bool = False
    "True if the peer closed (or broke the protocol); False if we did."


@dataclass(frozen=True, slots=True)
class PatternAccepted(BusEvent):
    """Fired by gossip when a trusted, correctly signed pattern is stored for the first time."""

    pattern_id: str
    "Content address (gossip message id)."
    author: bytes
    pattern: dict[str, Any] = field(repr=False)
    "The pattern dict, provenance included, ready for ``bank.store_pattern``."
    peer: Any = None
    "Where it came from (``None`` when published locally)."


@dataclass(frozen=True, slots=True)
class PatternRejected(BusEvent):
    """Fired by gossip when a received pattern is refused: ``malformed``, ``untrusted``,
    ``forged`` or ``full`` (store cap reached). Rejected patterns are neither stored nor
    forwarded."""

    reason: str
    peer: Any = None


@dataclass(frozen=True, slots=True)
class InSync(BusEvent):
    """Fired by gossip when a digest exchange with ``peer`` found nothing left to exchange."""

    peer: Any


@dataclass(frozen=True, slots=True)
class SnapshotChunkReceived(BusEvent):
    """Fired when a chunk matching the manifest arrived; ``have``/``total`` track progress."""

    chunk_hash: str
    have: int
    total: int


@dataclass(frozen=True, slots=True)
class SnapshotComplete(BusEvent):
    """Fired when every chunk is present and the reassembled content matches the manifest."""

    snapshot_id: str
    patterns: list[dict[str, Any]] = field(repr=False)
