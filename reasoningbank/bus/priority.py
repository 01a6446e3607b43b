"""Weighted fair scheduling of outgoing frames: high / normal / low.

The Rust original drained queues in strict priority order, so a steady stream of high
priority frames starved low forever. Here each class has a weight (default 8/4/1) and a
deficit-round-robin scheduler (Shreedhar & Varghese, 1995) serves them: in every round each
non-empty class may send up to ``weight * quantum`` bytes. Low therefore always gets at least
``1 / (8 + 4 + 1)`` of the link while it has something queued, and a queued low frame waits
at most one round. Control frames (HELLO, CLOSE, PING) skip the queues entirely.
"""

from __future__ import annotations

from collections import deque

from .frames import Priority

__all__ = ["DEFAULT_WEIGHTS", "PriorityScheduler"]

DEFAULT_WEIGHTS = {Priority.HIGH: 8, Priority.NORMAL: 4, Priority.LOW: 1}


class PriorityScheduler:
    """Queues encoded frames per priority and releases them in weighted-fair order.

    ``quantum`` (bytes) is what a weight of 1 may send per round; a frame larger than the
    deficit waits for later rounds, so big frames cannot jump the queue either.
    """

    def __init__(self, weights: dict[Priority, int] | None = None, quantum: int = 4096) -> None:
        self.weights = dict(weights or DEFAULT_WEIGHTS)
        if any(w <= 0 for w in self.weights.values()):
            raise ValueError("weights must be positive: a zero weight would starve its class")
        self.quantum = quantum
        self._queues: dict[Priority, deque[bytes]] = {p: deque() for p in Priority}
        self._deficit: dict[Priority, int] = {p: 0 for p in Priority}
        self._order = list(Priority)
        self._turn = 0
        self._fresh = True
        self.queued_bytes = 0

    def push(self, frame: bytes, priority: Priority) -> None:
        self._queues[priority].append(frame)
        self.queued_bytes += len(frame)

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def pop(self) -> tuple[bytes, Priority] | None:
        """The next frame to send, or ``None`` when every queue is empty."""
        if not self.queued_bytes:
            return None
        while True:
            prio = self._order[self._turn]
            queue = self._queues[prio]
            if not queue:
                self._deficit[prio] = 0  # idle classes do not bank credit
                self._next()
                continue
            if self._fresh:
                # One top-up per visit: this is what bounds every class's share.
                self._deficit[prio] += self.weights[prio] * self.quantum
                self._fresh = False
            if len(queue[0]) <= self._deficit[prio]:
                frame = queue.popleft()
                self._deficit[prio] -= len(frame)
                self.queued_bytes -= len(frame)
                if not queue:
                    self._deficit[prio] = 0
                    self._next()
                return frame, prio
            self._next()

    def _next(self) -> None:
        self._turn = (self._turn + 1) % len(self._order)
        self._fresh = True

    def clear(self) -> None:
        """Drop everything queued (a session cut for not reading)."""
        for queue in self._queues.values():
            queue.clear()
        self._deficit = {p: 0 for p in Priority}
        self.queued_bytes = 0

    def drain(self, max_bytes: int | None = None) -> bytes:
        """Pop frames in scheduled order; stop once ``max_bytes`` is reached (at least one
        frame is always returned if any is queued, so a large frame cannot stall the link)."""
        out = bytearray()
        while self.queued_bytes and (max_bytes is None or len(out) < max_bytes):
            popped = self.pop()
            assert popped is not None
            out += popped[0]
        return bytes(out)
