"""Test helpers: deterministic keys and nonces, ``BusPair`` (two connections over a fake link)."""

from __future__ import annotations

import random
from typing import Any

from reasoningbank.bus.connection import Connection
from reasoningbank.bus.events import BusEvent
from reasoningbank.bus.intents import Policy
from reasoningbank.bus.signers import NaclSigner, NaclVerifier

T0 = 1_700_000_000.0  # a fixed "now" (seconds) for every scripted test
TICK = 0.05  # seconds


def seed_for(name: str) -> bytes:
    return random.Random(name).randbytes(32)


def signer_for(name: str) -> NaclSigner:
    return NaclSigner(seed_for(name))


VERIFIER = NaclVerifier()


def nonces(seed: int = 0) -> Any:
    rng = random.Random(seed)
    return rng.randbytes


class BusPair:
    """A client and a server connection joined by a perfect in-memory link."""

    def __init__(
        self,
        client_policy: Policy | None = None,
        server_policy: Policy | None = None,
        **kw: Any,
    ) -> None:
        self.client_signer = signer_for("client")
        self.server_signer = signer_for("server")
        self.client = Connection(
            signer=self.client_signer,
            verifier=VERIFIER,
            is_client=True,
            nonce_source=nonces(1),
            policy=client_policy,
            info={"role": "client"},
            **kw,
        )
        self.server = Connection(
            signer=self.server_signer,
            verifier=VERIFIER,
            is_client=False,
            nonce_source=nonces(2),
            policy=server_policy,
            info={"role": "server"},
            **kw,
        )

    def transfer(self, now: float) -> tuple[list[BusEvent], list[BusEvent]]:
        """Move bytes both ways until quiet; return (client events, server events)."""
        cev: list[BusEvent] = []
        sev: list[BusEvent] = []
        for _ in range(100):
            a = self.client.data_to_send()
            b = self.server.data_to_send()
            if a:
                self.server.receive_data(a)
            if b:
                self.client.receive_data(b)
            got = drain(self.server, now, sev) + drain(self.client, now, cev)
            if not a and not b and not got:
                break
        return cev, sev

    def open(self, now: float = T0) -> None:
        self.client.hello(now)
        self.server.hello(now)
        self.transfer(now)


def drain(conn: Connection, now: float, into: list[BusEvent]) -> int:
    n = 0
    while (ev := conn.next_event(now)) is not None:
        into.append(ev)
        n += 1
    return n


# -- deterministic network simulator ---------------------------------------------------------
import heapq  # noqa: E402
import json  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

from reasoningbank.bus.errors import RemoteBusError  # noqa: E402
from reasoningbank.bus.frames import FrameType, encode_frame, pull_frame  # noqa: E402
from reasoningbank.bus.gossip import GossipConfig, GossipNode, Out  # noqa: E402
from reasoningbank.bus.intents import IntentChecker, sign_frame  # noqa: E402
from reasoningbank.bus.provenance import canonical_json  # noqa: E402


@dataclass
class NetConfig:
    loss: float = 0.05
    dup: float = 0.03
    min_delay: float = 0.005
    mean_jitter: float = 0.05  # exponential extra delay → reordering
    partitions: list[tuple[float, float, set[int]]] = field(default_factory=list)
    # (start, end, group): while active, nothing crosses between group and the rest


class SimNode:
    """One simulated bus node: keys, a frame checker and a gossip node."""

    def __init__(self, index: int, trusted: set[bytes] | None, seed: int, config: GossipConfig):
        self.index = index
        self.signer = signer_for(f"sim-{seed}-{index}")
        self.rng = random.Random(seed * 1_000_003 + index)
        self.checker = IntentChecker(Policy())
        self.gossip = GossipNode(trusted=trusted, rng=self.rng, config=config)
        self.rejections: Counter[str] = Counter()


class BusMesh:
    """Many gossip nodes over a seeded lossy, reordering, duplicating, partitionable network.

    Every message is a real signed frame: encoded, decoded and checked by the receiver's
    ``IntentChecker`` before gossip sees it. Time is simulated (``now`` in seconds).
    """

    def __init__(
        self,
        n: int,
        *,
        seed: int,
        degree: int = 8,
        net: NetConfig | None = None,
        config: GossipConfig | None = None,
        trusted: set[bytes] | None = None,
    ):
        self.rng = random.Random(seed)
        self.net = net or NetConfig()
        self.now = T0
        self.config = config or GossipConfig()
        self.nodes = [SimNode(i, trusted, seed, self.config) for i in range(n)]
        self._queue: list[tuple[float, int, int, int, bytes]] = []
        self._counter = 0
        self.sent = 0
        self.delivered = 0
        self.frame_rejections: Counter[str] = Counter()
        for node in self.nodes:
            for peer in self.rng.sample(range(n), min(degree, n - 1) + 1):
                if peer != node.index:
                    self.link(node.index, peer)

    def link(self, a: int, b: int) -> None:
        self.nodes[a].gossip.add_peer(b)
        self.nodes[b].gossip.add_peer(a)

    def partitioned(self, a: int, b: int, t: float) -> bool:
        for start, end, group in self.net.partitions:
            if T0 + start <= t < T0 + end and ((a in group) != (b in group)):
                return True
        return False

    def send_raw(self, src: int, dst: int, data: bytes) -> None:
        self.sent += 1
        if self.partitioned(src, dst, self.now) or self.rng.random() < self.net.loss:
            return
        copies = 2 if self.rng.random() < self.net.dup else 1
        for _ in range(copies):
            delay = self.net.min_delay + self.rng.expovariate(1 / self.net.mean_jitter)
            self._counter += 1
            heapq.heappush(self._queue, (self.now + delay, self._counter, src, dst, data))

    def send(self, src: int, dst: int, op: str, body: dict) -> None:
        node = self.nodes[src]
        frame = sign_frame(
            node.signer,
            node.rng.randbytes(16),
            self.now,
            type=FrameType.GOSSIP,
            payload=canonical_json(body),
            op=op,
        )
        self.send_raw(src, dst, encode_frame(frame))

    def emit(self, src: int, out: Out) -> None:
        for peer, op, body in out.messages:
            self.send(src, peer, op, body)

    def deliver(self, src: int, dst: int, data: bytes) -> None:
        node = self.nodes[dst]
        try:
            got = pull_frame(data)
            assert got is not None
            frame = got[0]
            intent = node.checker.check_sync(frame, self.now, VERIFIER)
            body = json.loads(frame.payload)
        except RemoteBusError as exc:
            self.frame_rejections[type(exc).__name__] += 1
            return
        self.delivered += 1
        out = node.gossip.handle_message(src, intent.op, body, self.now, VERIFIER)
        for ev in out.events:
            if type(ev).__name__ == "PatternRejected":
                node.rejections[ev.reason] += 1
        self.emit(dst, out)

    def publish(self, index: int, pattern: dict) -> Out:
        out = self.nodes[index].gossip.publish(pattern, VERIFIER)
        self.emit(index, out)
        return out

    def run_until(
        self,
        t: float,
        *,
        anti_entropy: float | None = 1.0,
        actions: list[tuple[float, Any]] | None = None,
    ) -> None:
        """Advance simulated time to ``T0 + t``, running scheduled ``actions`` (t, fn) and a
        jittered anti-entropy round per node every ``anti_entropy`` seconds."""
        timers: list[tuple[float, int, Any]] = []
        k = 0
        for when, fn in actions or []:
            k += 1
            heapq.heappush(timers, (T0 + when, k, fn))
        if anti_entropy:
            for node in self.nodes:
                k += 1
                first = self.now + self.rng.uniform(0, anti_entropy)
                heapq.heappush(timers, (first, k, ("ae", node.index)))
        end = T0 + t
        while True:
            next_msg = self._queue[0][0] if self._queue else float("inf")
            next_timer = timers[0][0] if timers else float("inf")
            when = min(next_msg, next_timer)
            if when > end:
                break
            self.now = when
            if next_msg <= next_timer:
                _, _, src, dst, data = heapq.heappop(self._queue)
                self.deliver(src, dst, data)
                continue
            _, _, fn = heapq.heappop(timers)
            if isinstance(fn, tuple):
                idx = fn[1]
                self.emit(idx, self.nodes[idx].gossip.anti_entropy(self.now))
                k += 1
                jitter = self.rng.uniform(0.8, 1.2) * (anti_entropy or 1.0)
                heapq.heappush(timers, (self.now + jitter, k, fn))
            else:
                fn()
        self.now = end


def make_pattern(author: str, n: int, **extra: Any) -> dict:
    return {
        "id": f"{author}-{n}",
        "task_description": f"task {n} by {author}: refresh oauth tokens",
        "task_category": "backend",
        "strategy": "test-driven" if n % 2 else "spike-then-refactor",
        "context": {"n": n},
        "outcome": {"success": n % 3 != 0, "success_score": (n % 10) / 10},
        **extra,
    }
