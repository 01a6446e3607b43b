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

A node never does I/O: ``publish``/``handle_message``/``anti_entropy`` return ``Out`` (events
plus ``(peer, op, body)`` messages to send) and the caller moves them.

Bounded work (docs/protocol.md §5): bucket keys must be canonical (``"0"`` to ``"255"``,
no aliases such as ``"05"``, ``" 5"`` or ``"+5"``), or the whole message is refused; one
``have`` or ``want`` is answered with at most ``max_ids_per_message`` patterns and
``max_reply_bytes``; and each peer draws its catch-up replies from a byte allowance that
refills at ``catchup_rate`` (a token bucket), so one peer cannot make a node serve its store
over and over. A node may also cap what it keeps per author (``max_patterns_per_author``,
``max_bytes_per_author``) and the size of one pattern (``max_pattern_bytes``).

Messages (JSON bodies; frame type GOSSIP)::

    gossip.push    {"hops": n, "pattern": {...}}
    gossip.digest  {"buckets": {"<b>": "<hex>", ...}, "count": n}
    gossip.have    {"buckets": {"<b>": ["<id>", ...], ...}, "more": true?}
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
from .provenance import (
    PatternRefusal,
    SignedPattern,
    canonical_json,
    pattern_id,
    provenance_of,
    verify_pattern_flow,
)

__all__ = ["GossipConfig", "GossipNode", "Out", "SeenCache", "wait_hint"]

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
    #: Most ids this node asks for in one ``want``: about what one reply carries, so the
    #: request costs (spend budget) what it returns and is not asked again.
    max_want_ids: int = 500
    #: Most patterns kept; past it new ones are refused (``full``), never evicted, so a
    #: flood of fresh keys cannot push out what honest authors shared. ``None``: no cap.
    max_patterns: int | None = None
    #: Largest pattern kept, in bytes of canonical JSON (``too-large`` past it).
    max_pattern_bytes: int = 64 * 1024
    #: Most patterns / bytes kept per author key (``quota`` past it). ``None``: no cap.
    max_patterns_per_author: int | None = None
    max_bytes_per_author: int | None = None
    #: Most bytes of patterns pushed in answer to one ``have`` or ``want``.
    max_reply_bytes: int = 512 * 1024
    #: Catch-up bytes a peer may draw per second, and at most at once (token bucket).
    catchup_rate: float = 256 * 1024
    catchup_burst: int = 2 * 1024 * 1024
    #: Answer a ``have`` with a pull (a ``have`` naming the ids we already hold or refused
    #: in its buckets) instead of a ``want`` naming the ids we lack. A new bank lacks
    #: nearly everything: a want costs it about one spend unit per id, a pull about one
    #: per 60 ids it holds, and the sender paces the answer by its catch-up allowance.
    pull: bool = False


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

    def forget(self, key: str) -> None:
        self._expiry.pop(key, None)  # its heap entry no longer matches: skipped on eviction

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
        # ids refused only because their author was not trusted, with that author: when
        # trust changes they may be taken when offered again (bounded like the seen-cache)
        self._untrusted: dict[str, bytes] = {}
        self._buckets: dict[int, set[str]] = {}
        self._bucket_hash: dict[int, str] = {}
        self._sizes: dict[str, int] = {}
        #: author -> (patterns kept, bytes kept)
        self.author_usage: dict[bytes, tuple[int, int]] = {}
        #: peer -> (catch-up bytes available, when last refilled)
        self._allowance: dict[Peer, tuple[float, float]] = {}
        #: peer -> bucket its next ``have`` starts from (after a truncated one)
        self._cursor: dict[Peer, int] = {}
        #: Bumped on every change to the store (a cache key for snapshots).
        self.version = 0
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
        self._allowance.pop(peer, None)
        self._cursor.pop(peer, None)

    def trust_changed(self) -> None:
        """Call after changing ``trusted``: patterns refused only because their author was
        not trusted are forgotten by the seen-cache once it is, so the next offer (a push
        or the next anti-entropy round) brings them in."""
        for msg_id, author in list(self._untrusted.items()):
            if self.trusted is None or author in self.trusted:
                self.seen.forget(msg_id)
                del self._untrusted[msg_id]

    def _remember_untrusted(self, msg_id: str, author: bytes) -> None:
        if len(self._untrusted) >= self.config.seen_capacity:
            del self._untrusted[next(iter(self._untrusted))]  # the oldest refusal goes
        self._untrusted[msg_id] = author

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

    def _add(self, sp: SignedPattern, size: int) -> None:
        self.store[sp.id] = sp
        self._sizes[sp.id] = size
        count, used = self.author_usage.get(sp.author, (0, 0))
        self.author_usage[sp.author] = (count + 1, used + size)
        b = self._bucket(sp.id)
        self._buckets.setdefault(b, set()).add(sp.id)
        self._bucket_hash.pop(b, None)
        self.version += 1

    def _full(self) -> bool:
        cap = self.config.max_patterns
        return cap is not None and len(self.store) >= cap

    def refusal(self, author: bytes | None, size: int) -> str | None:
        """Why a pattern of ``size`` bytes by ``author`` may not be kept, if it may not."""
        c = self.config
        if size > c.max_pattern_bytes:
            return "too-large"
        if self._full():
            return "full"
        count, used = self.author_usage.get(author, (0, 0)) if author else (0, 0)
        if c.max_patterns_per_author is not None and count >= c.max_patterns_per_author:
            return "quota"
        if c.max_bytes_per_author is not None and used + size > c.max_bytes_per_author:
            return "quota"
        return None

    def _take_allowance(self, peer: Peer, now: float) -> int:
        """Catch-up bytes ``peer`` may be sent now (at most ``max_reply_bytes``)."""
        c = self.config
        tokens, stamp = self._allowance.get(peer, (float(c.catchup_burst), now))
        tokens = min(float(c.catchup_burst), tokens + max(0.0, now - stamp) * c.catchup_rate)
        self._allowance[peer] = (tokens, now)
        return int(min(tokens, c.max_reply_bytes))

    def allowance_wait(self, peer: Peer, now: float) -> float:
        """Seconds until ``peer``'s allowance holds one full catch-up reply: a peer that
        asks sooner gets part of an answer and has to ask again."""
        c = self.config
        full = min(c.max_reply_bytes, c.catchup_burst)
        tokens, stamp = self._allowance.get(peer, (float(c.catchup_burst), now))
        tokens += max(0.0, now - stamp) * c.catchup_rate
        return max(0.0, (full - tokens) / c.catchup_rate)

    def _spend_allowance(self, peer: Peer, used: int) -> None:
        tokens, stamp = self._allowance[peer]
        self._allowance[peer] = (tokens - used, stamp)

    def _canonical_buckets(self, buckets: dict[Any, Any]) -> dict[int, Any] | None:
        """Bucket keys as ints, or ``None`` if any key is not the canonical decimal of a
        bucket (aliases like ``"05"`` would make one bucket count many times)."""
        out: dict[int, Any] = {}
        for key, value in buckets.items():
            if not (isinstance(key, str) and key.isascii() and key.isdigit()):
                return None
            b = int(key)
            if str(b) != key or b >= self.config.buckets:
                return None
            out[b] = value
        return out

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
            size = len(canonical_json(pattern))
        except PatternRefusal as exc:
            out.events.append(PatternRejected(exc.reason, None))
            return out
        refusal = None if sp.id in self.store else self.refusal(sp.author, size)
        if refusal is not None:
            out.events.append(PatternRejected(refusal, None))
        elif sp.id not in self.store:
            self._add(sp, size)
            out.events.append(PatternAccepted(sp.id, sp.author, sp.data, None))
            out.messages.extend(self._push(sp, 0, None))
        return out

    def handle_message_flow(
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

    def handle_message(self, peer: Peer, op: str, body: Any, now: float, verifier: Any) -> Out:
        return run_sync(self.handle_message_flow(peer, op, body, now), verifier=verifier)

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
            claimed = bytes.fromhex(provenance_of(pattern)["author"])  # type: ignore[arg-type,index]
        except Exception:
            out.events.append(PatternRejected("malformed", peer))
            return out
        if self.refusal(claimed, _MIN_PATTERN_BYTES) == "quota":  # before any parsing:
            out.events.append(PatternRejected("quota", peer))  # an author at quota is cheap
            return out
        try:
            msg_id = pattern_id(pattern)  # type: ignore[arg-type]
            size = len(canonical_json(pattern))
        except Exception:
            out.events.append(PatternRejected("malformed", peer))
            return out
        if msg_id in self.store or self.seen.seen(msg_id, now):
            return out  # duplicate: dedup before any signature work
        self.seen.add(msg_id, now)
        # Limits are checked on the claimed author before any signature work; a forger
        # naming someone else's key only gets its own pattern refused.
        refusal = self.refusal(claimed, size)
        if refusal is not None:
            out.events.append(PatternRejected(refusal, peer))
            return out
        try:
            sp = yield from verify_pattern_flow(pattern, self.trusted)
        except PatternRefusal as exc:
            if exc.reason == "untrusted":
                self._remember_untrusted(msg_id, claimed)
            out.events.append(PatternRejected(exc.reason, peer))
            return out
        self._add(sp, size)
        out.events.append(PatternAccepted(sp.id, sp.author, sp.data, peer))
        out.messages.extend(self._push(sp, hops, peer))
        return out

    def _on_digest(
        self, peer: Peer, body: dict[str, Any], now: float
    ) -> Generator[VerifyRequest, bool, Out]:
        theirs = body.get("buckets")
        theirs = self._canonical_buckets(theirs) if isinstance(theirs, dict) else None
        if theirs is None:
            return Out(events=[PatternRejected("malformed", peer)])
        mine = {int(b): h for b, h in self.digest().items()}
        differing = {b for b in set(mine) | set(theirs) if mine.get(b) != theirs.get(b)}
        if not differing:
            return Out(events=[InSync(peer)], messages=[(peer, "gossip.insync", {})])
        have: dict[str, list[str]] = {}
        budget = self.config.max_ids_per_message
        # Start where the last truncated ``have`` to this peer stopped, so successive
        # rounds sweep every bucket even when the first ones never settle (patterns the
        # peer refuses stay different forever).
        start, n = self._cursor.get(peer, 0), self.config.buckets
        order = sorted(differing, key=lambda b: (b - start) % n)
        for b in order:
            ids = sorted(i for i in self._buckets.get(b, ()) if self._wants(peer, i))
            if budget - len(ids) < 0 and have:
                self._cursor[peer] = b
                break
            have[str(b)] = ids
            budget -= len(ids)
        else:
            self._cursor.pop(peer, None)
        body_out: dict[str, Any] = {"buckets": have}
        if len(have) < len(order):
            body_out["more"] = True  # truncated: an idle answer does not mean in sync
        wait = self.allowance_wait(peer, now)
        if wait > 0:
            body_out["after"] = round(wait, 3)  # when a pull would be answered in full
        return Out(messages=[(peer, "gossip.have", body_out)])
        yield  # pragma: no cover - makes this a generator like the other handlers

    def _on_have(
        self, peer: Peer, body: dict[str, Any], now: float
    ) -> Generator[VerifyRequest, bool, Out]:
        buckets = body.get("buckets")
        buckets = self._canonical_buckets(buckets) if isinstance(buckets, dict) else None
        if buckets is None:
            return Out(events=[PatternRejected("malformed", peer)])
        out = Out()
        want: list[str] = []
        missing: list[str] = []
        # Work stays proportional to the request and the reply: buckets are only searched
        # for what the peer lacks while the reply still has room.
        room = self._take_allowance(peer, now) // _MIN_PATTERN_BYTES
        room = min(room, self.config.max_ids_per_message)
        for b, ids in sorted(buckets.items()):
            if not isinstance(ids, list):
                continue
            theirs = {i for i in ids if isinstance(i, str) and len(i) == 64}
            mine = self._buckets.get(b, set())
            if len(missing) < room:
                missing.extend(sorted(i for i in mine - theirs if self._wants(peer, i)))
            for msg_id in sorted(theirs - mine):
                if not self.seen.seen(msg_id, now):
                    want.append(msg_id)
        out.messages.extend(self._catch_up(peer, missing, now))
        if self.config.pull:
            pull = self._pull(buckets, want, now)
            if pull is not None and not wait_hint(body):
                out.messages.append((peer, "gossip.have", {"buckets": pull}))
            if pull is not None:
                return out  # pulled, or the sender asked us to wait: not in sync yet
            want = []
        want = want[: self.config.max_want_ids]
        if want:
            out.messages.append((peer, "gossip.want", {"ids": want}))
        if not want and not out.messages:
            out.events.append(InSync(peer))
        return out
        yield  # pragma: no cover

    def _pull(
        self, buckets: dict[int, Any], want: list[str], now: float
    ) -> dict[str, list[str]] | None:
        """For each bucket where we lack something, the ids in it we need not be sent
        (held or refused): its sender pushes the rest. ``None``: we lack nothing."""
        if not want:
            return None
        lacking = {self._bucket(i) for i in want}
        pull: dict[str, list[str]] = {}
        for b in sorted(lacking):
            ids = buckets[b]
            pull[str(b)] = sorted(
                i for i in ids if isinstance(i, str) and (i in self.store or self.seen.seen(i, now))
            )
        return pull

    def _on_want(
        self, peer: Peer, body: dict[str, Any], now: float
    ) -> Generator[VerifyRequest, bool, Out]:
        ids = body.get("ids")
        out = Out()
        if not isinstance(ids, list):
            out.events.append(PatternRejected("malformed", peer))
            return out
        found = [i for i in ids if isinstance(i, str) and i in self.store and self._wants(peer, i)]
        out.messages.extend(self._catch_up(peer, found, now))
        return out
        yield  # pragma: no cover

    def _catch_up(self, peer: Peer, ids: list[str], now: float) -> list[Message]:
        """Pushes of ``ids`` (in order) that fit one reply and the peer's allowance. The
        rest is left out: the peer's next digest round asks again."""
        allowance = self._take_allowance(peer, now)
        used = 0
        out: list[Message] = []
        for msg_id in ids[: self.config.max_ids_per_message]:
            size = self._sizes[msg_id]
            if used + size > allowance:  # max_pattern_bytes < max_reply_bytes: no stall
                break
            used += size
            # Catch-up pushes carry max hops: the receiver stores them but does not
            # re-flood; its own anti-entropy spreads them further.
            body = {"hops": self.config.max_hops, "pattern": self.store[msg_id].data}
            out.append((peer, "gossip.push", body))
        self._spend_allowance(peer, used)
        return out

    def _on_insync(
        self, peer: Peer, body: dict[str, Any], now: float
    ) -> Generator[VerifyRequest, bool, Out]:
        return Out(events=[InSync(peer)])
        yield  # pragma: no cover


def wait_hint(body: dict[str, Any]) -> float:
    """The ``after`` of a ``have`` (seconds until a pull is answered in full), else 0."""
    after = body.get("after")
    if isinstance(after, bool) or not isinstance(after, int | float):
        return 0.0
    return min(max(float(after), 0.0), MAX_WAIT_HINT)


#: Longest wait a ``have`` may ask for: a lying sender cannot park a sync for longer.
MAX_WAIT_HINT = 60.0

#: A lower bound on a signed pattern's size, to size a reply before building it.
_MIN_PATTERN_BYTES = 256

_HANDLERS = {
    "gossip.push": GossipNode._on_push,
    "gossip.digest": GossipNode._on_digest,
    "gossip.have": GossipNode._on_have,
    "gossip.want": GossipNode._on_want,
    "gossip.insync": GossipNode._on_insync,
}
