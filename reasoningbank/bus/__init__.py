"""The neural bus: banks share signed patterns and reasoning streams (docs/protocol.md).

Sans-IO core (stdlib only, runs under Pyodide): ``frames`` (codec), ``intents`` (signed
intents and their checks), ``provenance`` (pattern signatures), ``connection`` (one session),
``gossip``, ``snapshots``, ``priority``, ``streams``, ``state``, ``events``, ``hub`` and
``peer``. Edges: ``signers`` (PyNaCl | WebCrypto, imported lazily), ``keys`` (identity and
trust files), ``sync`` (bank integration) and ``aio/``, the asyncio drivers (client, hub
server, WebSocket and QUIC endpoints, load generator), apart from the logic.

One bytes-in verb per layer, as in aioquic. Byte machines take ``receive_data``:
``Connection.receive_data(data)`` only buffers (events come out of ``next_event(now)``) and
the WebSocket codec's ``receive_data(data)`` returns ``(events, reply)``; ``BusPeer`` and
``Hub`` do their work as bytes arrive, so theirs take the clock:
``receive_data(data, now)`` and ``receive_data(sid, data, now)``. Message layers above the
frames take ``handle_*`` and return what happened: ``GossipNode.handle_message(...) -> Out``,
``StreamReceiver.handle_chunk(...) -> list[BusEvent]``. Timers are ``handle_timer(now)``.
"""

from __future__ import annotations

from .connection import Connection
from .errors import (
    BudgetExceeded,
    BusError,
    ErrorCode,
    ExpiredIntent,
    ForgedSignature,
    FrameError,
    FrameTooLarge,
    FutureIntent,
    LocalBusError,
    MalformedFrame,
    OutOfScope,
    OverCap,
    Overloaded,
    ProtocolViolation,
    RemoteBusError,
    ReplayedNonce,
    SignatureError,
    TamperedPayload,
    UntrustedKey,
)
from .events import (
    BusEvent,
    HelloReceived,
    InSync,
    IntentReceived,
    PatternAccepted,
    PatternRejected,
    PeerClosed,
    PongReceived,
    SnapshotChunkReceived,
    SnapshotComplete,
    StreamDataReceived,
    StreamEnded,
    StreamOpened,
)
from .frames import Flags, Frame, FrameType, Intent, Priority, pull_frame, push_frame
from .gossip import GossipConfig, GossipNode
from .intents import IntentChecker, Policy
from .provenance import sign_pattern, verify_pattern

__all__ = [
    "BudgetExceeded",
    "BusError",
    "BusEvent",
    "Connection",
    "ErrorCode",
    "ExpiredIntent",
    "Flags",
    "ForgedSignature",
    "Frame",
    "FrameError",
    "FrameTooLarge",
    "FrameType",
    "FutureIntent",
    "GossipConfig",
    "GossipNode",
    "HelloReceived",
    "InSync",
    "Intent",
    "IntentChecker",
    "IntentReceived",
    "LocalBusError",
    "MalformedFrame",
    "OutOfScope",
    "OverCap",
    "Overloaded",
    "PatternAccepted",
    "PatternRejected",
    "PeerClosed",
    "Policy",
    "PongReceived",
    "Priority",
    "ProtocolViolation",
    "RemoteBusError",
    "ReplayedNonce",
    "SignatureError",
    "SnapshotChunkReceived",
    "SnapshotComplete",
    "StreamDataReceived",
    "StreamEnded",
    "StreamOpened",
    "TamperedPayload",
    "UntrustedKey",
    "pull_frame",
    "push_frame",
    "sign_pattern",
    "verify_pattern",
]
