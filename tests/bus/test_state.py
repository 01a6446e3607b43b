"""The session and transfer transition tables."""

from __future__ import annotations

import pytest

from reasoningbank.bus.errors import LocalBusError, ProtocolViolation
from reasoningbank.bus.state import (
    SESSION_TRANSITIONS,
    SessionEvent,
    SessionMachine,
    SessionState,
    TransferEvent,
    TransferMachine,
    TransferState,
)

E, S = SessionEvent, SessionState


@pytest.mark.parametrize(
    "events,final",
    [
        ([E.SEND_HELLO, E.RECV_HELLO], S.OPEN),
        ([E.RECV_HELLO, E.SEND_HELLO], S.OPEN),
        ([E.SEND_HELLO, E.RECV_HELLO, E.SEND_CLOSE, E.RECV_CLOSE], S.CLOSED),
        ([E.SEND_HELLO, E.RECV_HELLO, E.RECV_CLOSE], S.CLOSED),
        ([E.SEND_HELLO, E.FAIL], S.ERROR),
        ([E.SEND_HELLO, E.RECV_HELLO, E.LOST], S.CLOSED),
    ],
)
def test_session_paths(events, final):
    m = SessionMachine()
    for ev in events:
        m.process(ev, remote=True)
    assert m.state == final


def test_missing_transition_says_whose_fault_it_is():
    m = SessionMachine()
    m.process(E.SEND_HELLO, remote=False)
    with pytest.raises(LocalBusError):
        m.process(E.SEND_HELLO, remote=False)
    with pytest.raises(ProtocolViolation):
        m2 = SessionMachine()
        m2.process(E.RECV_HELLO, remote=True)
        m2.process(E.RECV_HELLO, remote=True)


def test_final_states_accept_nothing():
    assert SESSION_TRANSITIONS[S.CLOSED] == {} and SESSION_TRANSITIONS[S.ERROR] == {}


def test_transfer_paths():
    t = TransferMachine()
    for ev in (
        TransferEvent.MANIFEST,
        TransferEvent.CHUNK,
        TransferEvent.CUT,
        TransferEvent.RESUME,
        TransferEvent.CHUNK,
        TransferEvent.DONE,
    ):
        t.process(ev)
    assert t.state == TransferState.COMPLETE
    with pytest.raises(ProtocolViolation):
        TransferMachine().process(TransferEvent.CHUNK)
