"""Session and snapshot-transfer states, as transition tables (the h11 ``_state.py`` rule).

Rule 1: everything that changes a session or transfer state lives here. Other modules ask
``SessionMachine.process(event)``; a (state, event) pair missing from the table is a protocol
error: ``ProtocolViolation`` when the peer caused it, ``LocalBusError`` when we did.

Theory of operation. A session opens with one signed HELLO in each direction. We may send
data once we have sent our HELLO (pipelining), and accept data once we have received theirs
(we then know the key every later frame must be signed with). CLOSE from either side ends
it; any ``RemoteBusError`` moves the session to ERROR after a CLOSE carrying its code.
"""

from __future__ import annotations

from enum import Enum

from .errors import LocalBusError, ProtocolViolation

__all__ = [
    "CAN_RECEIVE_DATA",
    "CAN_SEND_DATA",
    "SessionEvent",
    "SessionMachine",
    "SessionState",
    "TransferEvent",
    "TransferMachine",
    "TransferState",
]


class SessionState(Enum):
    IDLE = "idle"
    HELLO_SENT = "hello-sent"
    HELLO_RECEIVED = "hello-received"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"
    ERROR = "error"


class SessionEvent(Enum):
    SEND_HELLO = "send-hello"
    RECV_HELLO = "recv-hello"
    SEND_CLOSE = "send-close"
    RECV_CLOSE = "recv-close"
    FAIL = "fail"
    #: The transport is gone (EOF, reset) or the idle timeout fired: nothing more can move.
    LOST = "lost"


S, E = SessionState, SessionEvent
SESSION_TRANSITIONS: dict[SessionState, dict[SessionEvent, SessionState]] = {
    S.IDLE: {E.SEND_HELLO: S.HELLO_SENT, E.RECV_HELLO: S.HELLO_RECEIVED,
             E.SEND_CLOSE: S.CLOSED, E.RECV_CLOSE: S.CLOSED},
    S.HELLO_SENT: {E.RECV_HELLO: S.OPEN, E.SEND_CLOSE: S.CLOSING, E.RECV_CLOSE: S.CLOSED},
    S.HELLO_RECEIVED: {E.SEND_HELLO: S.OPEN, E.SEND_CLOSE: S.CLOSING, E.RECV_CLOSE: S.CLOSED},
    S.OPEN: {E.SEND_CLOSE: S.CLOSING, E.RECV_CLOSE: S.CLOSED},
    S.CLOSING: {E.RECV_CLOSE: S.CLOSED, E.SEND_CLOSE: S.CLOSING},
    S.CLOSED: {},
    S.ERROR: {},
}  # fmt: skip
for _state in (S.IDLE, S.HELLO_SENT, S.HELLO_RECEIVED, S.OPEN, S.CLOSING):
    SESSION_TRANSITIONS[_state][E.FAIL] = S.ERROR
    SESSION_TRANSITIONS[_state][E.LOST] = S.CLOSED

#: States in which we may send application frames / accept the peer's.
CAN_SEND_DATA = frozenset({S.HELLO_SENT, S.OPEN})
CAN_RECEIVE_DATA = frozenset({S.HELLO_RECEIVED, S.OPEN, S.CLOSING})


class SessionMachine:
    """Current session state; ``process`` applies one event through the table."""

    def __init__(self) -> None:
        self.state = SessionState.IDLE

    def process(self, event: SessionEvent, *, remote: bool) -> SessionState:
        try:
            self.state = SESSION_TRANSITIONS[self.state][event]
        except KeyError:
            msg = f"cannot {event.value} in state {self.state.value}"
            raise (ProtocolViolation(msg) if remote else LocalBusError(msg)) from None
        return self.state


class TransferState(Enum):
    IDLE = "idle"
    RECEIVING = "receiving"
    INTERRUPTED = "interrupted"
    COMPLETE = "complete"
    FAILED = "failed"


class TransferEvent(Enum):
    MANIFEST = "manifest"
    CHUNK = "chunk"
    CUT = "cut"
    RESUME = "resume"
    DONE = "done"
    FAIL = "fail"


T, X = TransferState, TransferEvent
TRANSFER_TRANSITIONS: dict[TransferState, dict[TransferEvent, TransferState]] = {
    T.IDLE: {X.MANIFEST: T.RECEIVING, X.FAIL: T.FAILED},
    T.RECEIVING: {X.CHUNK: T.RECEIVING, X.CUT: T.INTERRUPTED, X.DONE: T.COMPLETE,
                  X.FAIL: T.FAILED},
    T.INTERRUPTED: {X.RESUME: T.RECEIVING, X.CUT: T.INTERRUPTED, X.FAIL: T.FAILED},
    T.COMPLETE: {X.CHUNK: T.COMPLETE, X.CUT: T.COMPLETE},
    T.FAILED: {},
}  # fmt: skip


class TransferMachine:
    """State of one snapshot download."""

    def __init__(self) -> None:
        self.state = TransferState.IDLE

    def process(self, event: TransferEvent, *, remote: bool = True) -> TransferState:
        try:
            self.state = TRANSFER_TRANSITIONS[self.state][event]
        except KeyError:
            msg = f"snapshot transfer cannot {event.value} in state {self.state.value}"
            raise (ProtocolViolation(msg) if remote else LocalBusError(msg)) from None
        return self.state
