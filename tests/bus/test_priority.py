"""Weighted fair priority: shares follow the weights and low priority never starves."""

from __future__ import annotations

from collections import Counter

import pytest

from reasoningbank.bus.events import IntentReceived
from reasoningbank.bus.frames import FrameType, Priority
from reasoningbank.bus.priority import PriorityScheduler

from .helpers import T0, BusPair


def test_backlogged_classes_share_by_weight():
    s = PriorityScheduler(quantum=1000)
    for _ in range(10_000):
        for p in Priority:
            s.push(b"x" * 100, p)
    served = Counter(s.pop()[1] for _ in range(2600))
    assert served == {Priority.HIGH: 1600, Priority.NORMAL: 800, Priority.LOW: 200}


def test_low_never_starves_under_a_flood_of_high():
    """A low frame queued behind 100,000 high frames goes out within one round."""
    s = PriorityScheduler(quantum=1000)
    for _ in range(100_000):
        s.push(b"h" * 100, Priority.HIGH)
    s.push(b"low", Priority.LOW)
    served = [s.pop()[1] for _ in range(1000)]
    assert served.index(Priority.LOW) <= 8 * 1000 // 100  # after one round of high at most


def test_strict_priority_would_have_starved_low_but_weighted_does_not():
    s = PriorityScheduler(quantum=512)
    low_served = 0
    for round_ in range(2000):
        s.push(b"h" * 200, Priority.HIGH)  # high arrives faster than it drains
        s.push(b"h" * 200, Priority.HIGH)
        if round_ % 10 == 0:
            s.push(b"l" * 200, Priority.LOW)
        got = s.pop()
        low_served += got[1] == Priority.LOW
    assert low_served >= 150  # nearly every low frame was served despite the backlog of high


def test_idle_classes_do_not_bank_credit():
    s = PriorityScheduler(quantum=100)
    s.push(b"l" * 100, Priority.LOW)
    assert s.pop()[1] == Priority.LOW
    for _ in range(20):
        s.push(b"h" * 100, Priority.HIGH)
        s.push(b"l" * 100, Priority.LOW)
    first = [s.pop()[1] for _ in range(9)]
    assert first.count(Priority.LOW) <= 1


def test_large_frames_wait_for_credit_but_are_sent():
    s = PriorityScheduler(quantum=100)
    s.push(b"L" * 5000, Priority.LOW)
    s.push(b"h" * 50, Priority.HIGH)
    out = [s.pop() for _ in range(2)]
    assert {p for _, p in out} == {Priority.LOW, Priority.HIGH}
    assert s.pop() is None and len(s) == 0


def test_zero_weight_is_refused():
    with pytest.raises(ValueError):
        PriorityScheduler({Priority.HIGH: 1, Priority.NORMAL: 1, Priority.LOW: 0})


def test_connection_sends_low_priority_frames_despite_high_backlog():
    pair = BusPair()
    pair.open()
    for _ in range(200):
        pair.client.send(
            T0,
            type=FrameType.TELEMETRY,
            op="bus.metrics",
            payload=b"x" * 400,
            priority=Priority.HIGH,
        )
    pair.client.send(
        T0, type=FrameType.TELEMETRY, op="bus.low", payload=b"y", priority=Priority.LOW
    )
    data = pair.client.data_to_send(max_bytes=40_000)  # one bounded write
    pair.server.receive_data(data)
    ops = []
    while (ev := pair.server.next_event(T0)) is not None:
        if isinstance(ev, IntentReceived):
            ops.append(ev.op)
    assert "bus.low" in ops and len(ops) < 201
