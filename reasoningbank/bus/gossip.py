"""Epidemic gossip of signed patterns, with anti-entropy catch-up. Sans-IO.

What the Rust original lacked, and what this adds: every message has an id (the content
address of the signed pattern, computed by the *receiver*, so a lying sender cannot make us
drop the real pattern), a seen-cache with a TTL, a fanout instead of flooding every peer, and a
hop limit. Peers that were offline or partitioned catch up through anti-entropy: a digest of
hashed id buckets, then the ids of differing buckets (``have``), then the missing patterns
(``want`` / ``push``).

Trust is end-to-end: a pattern is stored (and forwarded) only if its author's signature
verifies and, unless ``trusted`` is ``None`` (a hub relays for everyone), its author is
trusted. Rejected patterns are never forwarded, so forged traffic dies at the first honest hop.

A node never does I/O: ``publish``/``receive_flow``/``anti_entropy`` return ``Out`` (events
plus ``(peer, op, body)`` messages to send) and the caller moves them.

Messages (JSON bodies; frame type GOSSIP)::

    gossip.push    {"hops": n, "pattern": {...}}
    gossip.digest  {"buckets": {"<b>": "<hex>", ...}, "count": n}
    gossip.have    {"buckets": {"<b>": ["<id>", ...], ...}}
    gossip.want    {"ids": ["<id>", ...]}
    gossip.insync  {}
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections.abc import Generator, Hashable
from dataclasses import dataclass, field
from typing import Any

from .events import BusEvent, InSync, PatternAccepted, PatternRejected
from .intents import VerifyRequest, run_sync
from .provenance import PatternRejected as _Rejected
from .provenance import SignedPattern, verify_pattern_flow

__all__ = ["GossipConfig", "GossipNode", "Out", "SeenCache"]

Peer = Hashable
Message = tuple[Peer, str, dict[str, Any]]


@dataclass(slots=True)
class Out:
    """What a gossip step produced: events for the app, messages for the transport."""

    events: list[BusEvent] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)

    def extend(self, other: Out) -> None:
        self.events.extend(other.events)
        self.messages.extend(other.messages)


@dataclass(slots=True)
class GossipConfig:
    #: Peers each new pattern is forwarded to; ``None`` = every peer (a hub).
    fanout: int | None = 3
    #: Forward a pattern at most this many hops from its origin.
    max_hops: int = 6
    #: Seconds a processed-but-not-stored id (rejected, or a duplicate) is remembered.
    seen_ttl: float = 600.0
    seen_capacity: int = 100_000
    #: Digest bucket count (ids are bucketed by their first hex bytes).
    buckets: int = 256
    #: Most ids in one ``have`` or ``want`` message; the rest go in the next round.
    max_ids_per_message: int = 2000
    #: Most patterns kept; past it new ones are refused (``full``), never evicted, so a
    #: flood of fresh keys cannot push out what honest authors shared. ``None``: no cap.
    max_patterns: int | None = None


class SeenCache:
    """Ids seen recently, forgotten ``ttl`` seconds later (expiry order, bounded size)."""

    def __init__(self, ttl: float, capacity: int) -> None:
        self.ttl = ttl
        self.capacity = capacity
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    def _evict(self, now: float) -> None:
        while self._heap and (self._heap[0][0] <= now or len(self._expiry) > self.capacity):
            when, key = heapq.heappop(self._heap)
            if self._expiry.get(key) == when:
                del self._expiry[key]

    def add(self, key: str, now: float) -> None:
        self._evict(now)
        when = now + self.ttl
        self._expiry[key] = when
        heapq.heappush(self._heap, (when, key))

    def seen(self, key: str, now: float) -> bool:
        self._evict(now)
        return key in self._expiry

    def __len__(self) -> int:
        return len(self._expiry)


class GossipNode:
    """Gossip state of one node: its stored signed patterns, peers, and caches."""

    def __init__(
        self,
        *,
        trusted: set[bytes] | None,
        rng: random.Random,
        config: GossipConfig | None = None,
    ) -> None:
        self.trusted = trusted
        self.rng = rng
        self.config = config or GossipConfig()
        self.store: dict[str, SignedPattern] = {}
        self.peers: list[Peer] = []
        self.seen = SeenCache(self.config.seen_ttl, self.config.seen_capacity)
        self._buckets: dict[int, set[str]] = {}
        self._bucket_hash: dict[int, str] = {}
        #: Authors a peer asked for (it announced its trust list); absent = everything.
        self.interests: dict[Peer, frozenset[bytes]] = {}

    # -- membership ----------------------------------------------------------------------
    def add_peer(self, peer: Peer) -> None:
        if peer not in self.peers:
            self.peers.append(peer)

    def remove_peer(self, peer: Peer) -> None:
        if peer in self.peers:
            self.peers.remove(peer)
        self.interests.pop(peer, None)

    def set_interest(self, peer: Peer, authors: frozenset[bytes] | None) -> None:
        """Send ``peer`` only patterns by ``authors`` (``None``: everything). A peer that
        would reject other authors anyway saves itself the download."""
        if authors is None:
            self.interests.pop(peer, None)
        else:
            self.interests[peer] = authors

    def _wants(self, peer: Peer, msg_id: str) -> bool:
        authors = self.interests.get(peer)
        return authors is None or self.store[msg_id].author in authors

    # -- store ---------------------------------------------------------------------------
    def _bucket(self, msg_id: str) -> int:
        return int(msg_id[:4], 16) % self.config.buckets

    def _add(self, sp: SignedPattern) -> None:
        self.store[sp.id] = sp
        b = self._bucket(sp.id)
        self._buckets.setdefault(b, set()).add(sp.id)
        self._bucket_hash.pop(b, None)

    def _full(self) -> bool:
        cap = self.config.max_patterns
        return cap is not None and len(self.store) >= cap

    def digest(self) -> dict[str, str]:
        """Bucket → hash of its sorted ids, for non-empty buckets."""
        out = {}
        for b, ids in self._buckets.items():
            h = self._bucket_hash.get(b)
            if h is None:
                h = hashlib.sha256(",".join(sorted(ids)).encode()).hexdigest()[:32]
                self._bucket_hash[b] = h
            out[str(b)] = h
        return out

    def ids(self) -> set[str]:
        return set(self.store)

    # -- sending helpers -----------------------------------------------------------------
    def _targets(self, exclude: Peer | None, msg_id: str) -> list[Peer]:
        peers = [p for p in self.peers if p != exclude and self._wants(p, msg_id)]
        k = self.config.fanout
        if k is None or len(peers) <= k:
            return peers
        return self.rng.sample(peers, k)

    def _push(self, sp: SignedPattern, hops: int, exclude: Peer | None) -> list[Message]:
        if hops >= self.config.max_hops:
            return []
        body = {"hops": hops + 1, "pattern": sp.data}
        return [(p, "gossip.push", body) for p in self._targets(exclude, sp.id)]

    # -- API -----------------------------------------------------------------------------
    def publish_flow(self, pattern: dict[str, Any]) -> Generator[VerifyRequest, bool, Out]:
        """Share a locally signed pattern (it is verified like any other: our own key must
        be trusted, or ``trusted`` must be ``None``)."""
        out = Out()
        try:
            sp = yield from verify_pattern_flow(pattern, self.trusted)
        except _Rejected as exc:
            out.events.append(PatternRejected(exc.reason, None))
            return out
        if sp.id not in self.store and self._full():
            out.events.append(PatternRejected("full", None))
        elif sp.id not in self.store:
            self._add(sp)
            out.events.append(PatternAccepted(sp.id, sp.author, sp.data, None))
            out.messages.extend(self._push(sp, 0, None))
        return out

    def receive_flow(
        self, peer: Peer, op: str, body: Any, now: float
    ) -> Generator[VerifyRequest, bool, Out]:
        """Handle one gossip message from ``peer`` (``body`` is untrusted decoded JSON)."""
        handler = _HANDLERS.get(op)
        if handler is None or not isinstance(body, dict):
            return Out(events=[PatternRejected("malformed", peer)])
        return (yield from handler(self, peer, body, now))

    def anti_entropy(self, now: float, peer: Peer | None = None) -> Out:
        """Start a digest exchange with ``peer`` (a random peer by default)."""
        if peer is None:
            if not self.peers:
                return Out()
            peer = self.rng.choice(self.peers)
        body = {"buckets": self.digest(), "count": len(self.store)}
        return Out(messages=[(peer, "gossip.digest", body)])

    # convenience for sync verifiers (PyNaCl) -----------------------------------------------
    def publish(self, pattern: dict[str, Any], verifier: Any) -> Out:
        return run_sync(self.publish_flow(pattern), verifier=verifier)

    def receive(self, peer: Peer, op: str, body: Any, now: float, verifier: Any) -> Out:
        return run_sync(self.receive_flow(peer, op, body, now), verifier=verifier)

    # -- handlers ------------------------------------------------------------------------
    def _on_push(
        self, peer: Peer, body: dict[str, Any], now: float
    ) -> Generator[VerifyRequest, bool, Out]:
        out = Out()
        pattern, hops = body.get("pattern"), body.get("hops")
        if not isinstance(hops, int) or isinstance(hops, bool) or not 0 <= hops <= 255:
            out.events.append(PatternRejected("malformed", peer))
            return out
        try:
            from .provenance import pattern_id

            msg_id = pattern_id(pattern)  # type: ignore[arg-type]
        except Exception:
            out.events.append(PatternRejected("malformed", peer))
            return out
        if msg_id in self.store or self.seen.seen(msg_id, now):
            return out  # duplicate: dedup before any signature work
        self.seen.add(msg_id, now)
        if self._full():
            out.events.append(PatternRejected("full", peer))
            return out
        try:
            sp = yield from verify_pattern_flow(pattern, self.trusted)
        except _Rejected as exc:
            out.events.append(PatternRejected(exc.reason, peer))
            return out
        self._add(sp)
        out.events.append(PatternAccepted(sp.id, sp.author, sp.data, peer))
        out.messages.extend(self._push(sp, hops, peer))
        return out

    def _on_digest(
        self, peer: Peer, body: dict[str, Any], now: float
    ) -> Generator[VerifyRequest, bool, Out]:
        theirs = body.get("buckets")
        if not isinstance(theirs, dict):
            return Out(events=[PatternRejected("malformed", peer)])
        mine = self.digest()
        differing = {b for b in set(mine) | set(theirs) if mine.get(b) != theirs.get(b)}
        if not differing:
            return Out(events=[InSync(peer)], messages=[(peer, "gossip.insync", {})])
        have: dict[str, list[str]] = {}
        budget = self.config.max_ids_per_message
        for b in sorted(differing, key=lambda x: int(x) if str(x).isdigit() else -1):
            try:
                ids = sorted(i for i in self._buckets.get(int(b), ()) if self._wants(peer, i))
            except ValueError:
                continue
            if budget - len(ids) < 0 and have:
                break
            have[str(b)] = ids
            budget -= len(ids)
        return Out(messages=[(peer, "gossip.have", {"buckets": have})])
        yield  # pragma: no cover - makes this a generator like the other handlers

    def _on_have(
        self, peer: Peer, body: dict[str, Any], now: float
    ) -> Generator[VerifyRequest, bool, Out]:
        buckets = body.get("buckets")
        if not isinstance(buckets, dict):
            return Out(events=[PatternRejected("malformed", peer)])
        out = Out()
        want: list[str] = []
        for b, ids in buckets.items():
            if not isinstance(ids, list):
                continue
            theirs = {i for i in ids if isinstance(i, str) and len(i) == 64}
            try:
                mine = self._buckets.get(int(b), set())
            except ValueError:
                continue
            for msg_id in sorted(i for i in mine - theirs if self._wants(peer, i)):
                # Catch-up pushes carry max hops: the receiver stores them but does not
                # re-flood; its own anti-entropy spreads them further.
                body_out = {"hops": self.config.max_hops, "pattern": self.store[msg_id].data}
                out.messages.append((peer, "gossip.push", body_out))
            for msg_id in sorted(theirs - mine):
                if not self.seen.seen(msg_id, now):
                    want.append(msg_id)
        want = want[: self.config.max_ids_per_message]
        if want:
            out.messages.append((peer, "gossip.want", {"ids": want}))
        if not want and not out.messages:
            out.events.append(InSync(peer))
        return out
        yield  # pragma: no cover

    def _on_want(
        self, peer: Peer, body: dict[str, Any], now: float
    ) -> Generator[VerifyRequest, bool, Out]:
        ids = body.get("ids")
        out = Out()
        if not isinstance(ids, list):
            out.events.append(PatternRejected("malformed", peer))
            return out
        for msg_id in ids[: self.config.max_ids_per_message]:
            sp = self.store.get(msg_id) if isinstance(msg_id, str) else None
            if sp is not None and self._wants(peer, msg_id):
                body_out = {"hops": self.config.max_hops, "pattern": sp.data}
                out.messages.append((peer, "gossip.push", body_out))
        return out
        yield  # pragma: no cover

    def _on_insync(
        self, peer: Peer, body: dict[str, Any], now: float
    ) -> Generator[VerifyRequest, bool, Out]:
        return Out(events=[InSync(peer)])
        yield  # pragma: no cover


_HANDLERS = {
    "gossip.push": GossipNode._on_push,
    "gossip.digest": GossipNode._on_digest,
    "gossip.have": GossipNode._on_have,
    "gossip.want": GossipNode._on_want,
    "gossip.insync": GossipNode._on_insync,
}
