"""The hub's logic, sans-IO: sessions, store-and-forward gossip, snapshots, stream relay.

A hub is a gossip node whose fanout is "every session": a pattern pushed by one session is
relayed to all others and *kept*, so a bank that connects later still catches up through the
digest exchange even if the author is offline by then. The hub checks every pattern's author
signature (it cannot forge or alter them; receivers re-check against their own trust lists).
By default it relays for any author with a valid signature; pass ``trusted`` to restrict it.

Who may hold a session at all is ``allowed`` (keys that may read and write; ``None``: any
key). A HELLO from another key is answered with a CLOSE (``UNTRUSTED_KEY``, "key not allowed
on this hub") and the session is sent nothing else. ``set_allowed`` changes the set and cuts
sessions whose keys left it.

No single key can exhaust the hub (docs/protocol.md §5): every session has an outbound byte
budget (``max_outbound_bytes``, counting what the session queued plus what the driver reports
still sitting in the transport); a session past it is a slow consumer and is cut with
``SLOW_CONSUMER``, its queue dropped, as NATS does. A live stream is not relayed further to
a session that lags (``STREAM_RELAY_LIMIT``): that session gets the stream's end mark early
and keeps its session. Patterns are capped per author (count and
bytes) and in size; catch-up work per peer is bounded by gossip; the snapshot is rebuilt at
most every ``snapshot_max_age`` seconds and only after the store changed; idle per-key replay
state expires on the timer.

Reasoning streams are relayed live to every other session (not stored): each receiver sees a
stream of its own id with ``origin`` (the sender's key) added to the metadata.

Transports (``aio/server.py``: WebTransport over HTTP/3 and WebSocket) call
``open_session`` / ``receive_data`` / ``data_to_send`` / ``close_session`` / ``handle_timer``; they
write ``data_to_send(sid, max_bytes, buffered=...)`` for every sid in ``take_dirty()`` after
each input, passing how many bytes their transport still holds for that session.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Hashable
from typing import Any

from .connection import Connection
from .errors import ErrorCode
from .events import (
    BusEvent,
    HelloReceived,
    IntentReceived,
    PatternAccepted,
    PeerClosed,
    StreamDataReceived,
    StreamEnded,
    StreamOpened,
)
from .frames import FrameType, Priority, encode_frame
from .gossip import GossipConfig, GossipNode, Out
from .intents import IntentChecker, Policy, sign_frame
from .journal import ClusterChecker, Journal
from .provenance import canonical_json
from .snapshots import build_snapshot

__all__ = ["Hub"]

#: Bytes one session may have waiting (queued + in its transport) before it is cut.
MAX_OUTBOUND_BYTES = 8 * 1024 * 1024
#: Patterns / bytes of canonical JSON the hub keeps per author key.
MAX_PATTERNS_PER_AUTHOR = 10_000
MAX_BYTES_PER_AUTHOR = 32 * 1024 * 1024
#: Largest pattern the hub keeps (the frame cap is 256 KiB).
MAX_PATTERN_BYTES = 64 * 1024
#: Seconds a snapshot is served before a changed store may rebuild it.
SNAPSHOT_MAX_AGE = 10.0
#: A live stream is no longer relayed to a session with more than this waiting for it
#: (or half its outbound budget, if smaller).
STREAM_RELAY_LIMIT = 1024 * 1024

SessionId = Hashable


class Hub:
    """All sessions of one hub process, and the patterns it keeps."""

    def __init__(
        self,
        *,
        signer: Any,
        verifier: Any,
        nonce_source: Callable[[int], bytes],
        trusted: set[bytes] | None = None,
        policy: Policy | None = None,
        rng: random.Random | None = None,
        info: dict[str, Any] | None = None,
        on_event: Callable[[SessionId, BusEvent], None] | None = None,
        chunk_size: int = 32 * 1024,
        max_patterns: int | None = 1_000_000,
        allowed: set[bytes] | None = None,
        max_outbound_bytes: int = MAX_OUTBOUND_BYTES,
        max_patterns_per_author: int | None = MAX_PATTERNS_PER_AUTHOR,
        max_bytes_per_author: int | None = MAX_BYTES_PER_AUTHOR,
        max_pattern_bytes: int = MAX_PATTERN_BYTES,
        snapshot_max_age: float = SNAPSHOT_MAX_AGE,
        journal: bool = False,
    ) -> None:
        self.signer = signer
        self.verifier = verifier
        self._nonce = nonce_source
        self.checker = (ClusterChecker if journal else IntentChecker)(policy)
        self.gossip = GossipNode(
            trusted=trusted,
            rng=rng or random.Random(0),
            config=GossipConfig(
                fanout=None,
                max_patterns=max_patterns,
                max_pattern_bytes=max_pattern_bytes,
                max_patterns_per_author=max_patterns_per_author,
                max_bytes_per_author=max_bytes_per_author,
            ),
        )
        self.allowed = None if allowed is None else set(allowed)
        self.max_outbound_bytes = max_outbound_bytes
        self.snapshot_max_age = snapshot_max_age
        self.info = {"role": "hub", **(info or {})}
        self.on_event = on_event
        self.chunk_size = chunk_size
        self.sessions: dict[SessionId, Connection] = {}
        self._dirty: set[SessionId] = set()
        self._ended: set[SessionId] = set()
        # (source sid, source stream id) -> {destination sid: destination stream id}
        self._relays: dict[tuple[SessionId, int], dict[SessionId, int]] = {}
        self._admitted: set[SessionId] = set()  # sessions whose HELLO key is allowed
        self._buffered: dict[SessionId, int] = {}  # last transport backlog each driver reported
        #: (store version, built at, (manifest, chunks))
        self._snapshot: tuple[int, float, Any] | None = None
        self.snapshot_builds = 0
        #: In a cluster, patterns are kept in a shared log, not here (``journal.py``).
        self.journal = Journal(self) if journal else None

    def preload(self, patterns: list[dict[str, Any]]) -> int:
        """Take patterns kept from an earlier run; each is verified again. Returns how many
        were accepted (invalid or untrusted ones are dropped)."""
        accepted = 0
        for pattern in patterns:
            out = self.gossip.publish(pattern, self.verifier)
            accepted += any(isinstance(e, PatternAccepted) for e in out.events)
        return accepted

    # -- sessions ------------------------------------------------------------------------
    def open_session(self, sid: SessionId, now: float) -> Connection:
        conn = Connection(
            signer=self.signer,
            verifier=self.verifier,
            is_client=False,
            nonce_source=self._nonce,
            checker=self.checker,
            info=self.info,
        )
        self.sessions[sid] = conn
        conn.hello(now)
        self._dirty.add(sid)
        return conn

    def close_session(self, sid: SessionId) -> None:
        """The transport under ``sid`` went away."""
        self.sessions.pop(sid, None)
        self.gossip.remove_peer(sid)
        self._dirty.discard(sid)
        self._admitted.discard(sid)
        self._buffered.pop(sid, None)
        if self.journal is not None:
            self.journal.forget_session(sid)
        for key in [k for k in self._relays if k[0] == sid]:
            del self._relays[key]

    def close_all(self, reason: str = "") -> None:
        """Queue a clean CLOSE on every session (hub shutdown)."""
        for sid, conn in self.sessions.items():
            conn.close(reason=reason)
            self._dirty.add(sid)

    def set_allowed(self, keys: set[bytes] | None) -> None:
        """Change who may hold a session (``None``: any key); sessions of keys no longer
        allowed are closed with ``UNTRUSTED_KEY``."""
        self.allowed = None if keys is None else set(keys)
        for sid in list(self._admitted):
            conn = self.sessions[sid]
            if not self._is_allowed(conn.peer_key):
                self._refuse(sid, conn)

    def _is_allowed(self, key: bytes | None) -> bool:
        return self.allowed is None or key in self.allowed

    def _refuse(self, sid: SessionId, conn: Connection) -> None:
        self._admitted.discard(sid)
        self.gossip.remove_peer(sid)
        conn.close(ErrorCode.UNTRUSTED_KEY, NOT_ALLOWED, discard=True)
        self._end(sid)

    def _end(self, sid: SessionId) -> None:
        """We closed session ``sid``: the transport sends the CLOSE, then hangs up."""
        self._ended.add(sid)
        self._dirty.add(sid)

    def take_dirty(self) -> set[SessionId]:
        dirty, self._dirty = self._dirty, set()
        return dirty

    def take_ended(self) -> set[SessionId]:
        """Sessions that closed (cleanly or on a protocol error) since the last call: the
        transport should send what is left (the CLOSE frame), then drop the connection."""
        ended, self._ended = self._ended, set()
        return ended

    def data_to_send(
        self, sid: SessionId, max_bytes: int | None = None, *, buffered: int = 0
    ) -> bytes:
        """Bytes for session ``sid`` (about ``max_bytes`` at most: what its transport can
        take now). ``buffered`` is what the transport still holds unsent for it; with what
        the session has queued it counts against ``max_outbound_bytes``, and a session over
        it is cut as a slow consumer (only its CLOSE is returned)."""
        conn = self.sessions.get(sid)
        if conn is None:
            return b""
        self._buffered[sid] = buffered
        if not conn.closed and conn.queued_bytes + buffered > self.max_outbound_bytes:
            self._admitted.discard(sid)
            self.gossip.remove_peer(sid)
            conn.close(ErrorCode.SLOW_CONSUMER, SLOW_CONSUMER_REASON, discard=True)
            self._end(sid)
        return conn.data_to_send(max_bytes)

    def queued_bytes(self, sid: SessionId) -> int:
        """Bytes session ``sid`` holds for its transport (the driver flushes them later)."""
        conn = self.sessions.get(sid)
        return conn.queued_bytes if conn else 0

    def receive_data(self, sid: SessionId, data: bytes, now: float) -> None:
        conn = self.sessions.get(sid)
        if conn is None:
            return
        conn.receive_data(data)
        self._dirty.add(sid)
        while (event := conn.next_event(now)) is not None:
            if self.on_event is not None:
                self.on_event(sid, event)
            self._handle(sid, conn, event, now)

    def handle_timer(self, now: float) -> None:
        self.checker.expire(now)  # idle keys' replay and spend state
        for sid, conn in list(self.sessions.items()):
            timer = conn.get_timer()
            if timer is not None and timer <= now:
                conn.handle_timer(now)
                self._dirty.add(sid)
                while (event := conn.next_event(now)) is not None:
                    self._handle(sid, conn, event, now)

    # -- events --------------------------------------------------------------------------
    def _handle(self, sid: SessionId, conn: Connection, event: BusEvent, now: float) -> None:
        if isinstance(event, HelloReceived):
            if not self._is_allowed(event.peer_key):
                self._refuse(sid, conn)
                return
            self._admitted.add(sid)
            self.gossip.add_peer(sid)
            self.gossip.set_interest(sid, _announced_authors(event.info))
        elif isinstance(event, PeerClosed):
            self._admitted.discard(sid)
            self.gossip.remove_peer(sid)
            self._ended.add(sid)
        elif sid not in self._admitted:
            return  # frames after a refused HELLO: nothing is read, nothing answered
        elif isinstance(event, IntentReceived):
            if event.type == FrameType.GOSSIP:
                self._on_gossip(sid, event, now)
            elif event.type == FrameType.SNAPSHOT:
                self._on_snapshot(sid, conn, event, now)
        elif isinstance(event, (StreamOpened, StreamDataReceived, StreamEnded)):
            self._relay_stream(sid, conn, event, now)
            if self.journal is not None:
                self.journal.share_stream(sid, conn.peer_key, event)

    def _on_gossip(self, sid: SessionId, event: IntentReceived, now: float) -> None:
        try:
            body = json.loads(event.payload)
        except ValueError:
            body = None
        if self.journal is not None and self.journal.on_gossip(sid, event.op, body, now):
            return
        out = self.gossip.handle_message(sid, event.op, body, now, self.verifier)
        self.emit(out, now)

    def emit(self, out: Out, now: float) -> None:
        """Send gossip output. A message body shared by many sessions (a relayed push) is
        signed and encoded once and the same bytes are queued on every session."""
        encoded: dict[tuple[int, str], bytes] = {}
        for peer, op, body in out.messages:
            conn = self.sessions.get(peer)
            if conn is None or peer not in self._admitted:
                continue
            # One class for all gossip: a ``have`` must not overtake the pushes answering
            # the ``want`` before it, or the peer asks again for patterns in flight.
            prio = Priority.NORMAL
            key = (id(body), op)
            data = encoded.get(key)
            if data is None:
                frame = sign_frame(
                    self.signer,
                    self._nonce(16),
                    now,
                    type=FrameType.GOSSIP,
                    op=op,
                    payload=canonical_json(body),
                    priority=prio,
                )
                data = encoded[key] = encode_frame(frame)
            conn.queue_signed(data, prio)
            self._dirty.add(peer)
        if self.on_event is not None:
            for ev in out.events:
                if isinstance(ev, PatternAccepted):
                    self.on_event(ev.peer, ev)

    def _on_snapshot(
        self, sid: SessionId, conn: Connection, ev: IntentReceived, now: float
    ) -> None:
        manifest, chunks = self._current_snapshot(now)
        if ev.op == "snapshot.get":
            conn.send(
                now,
                type=FrameType.SNAPSHOT,
                op="snapshot.manifest",
                payload=canonical_json(manifest.to_dict()),
                priority=Priority.LOW,
            )
        elif ev.op == "snapshot.chunks":
            try:
                wanted = json.loads(ev.payload).get("ids", [])
            except (ValueError, AttributeError):
                wanted = []
            have = [h for h in wanted if isinstance(h, str) and h in chunks]
            for i, h in enumerate(have):
                conn.send(
                    now,
                    type=FrameType.SNAPSHOT,
                    op="snapshot.chunk",
                    payload=chunks[h],
                    priority=Priority.LOW,
                    seq=i,
                    end=i == len(have) - 1,
                )

    def _current_snapshot(self, now: float) -> Any:
        """The cached snapshot, rebuilt only when the store changed *and* the cache is
        ``snapshot_max_age`` old: a stale snapshot is fine, the digest exchange after it
        fetches the rest, and rebuilding on every request would let anyone burn the CPU."""
        version = self.gossip.version
        cached = self._snapshot
        if cached is None or (cached[0] != version and now - cached[1] >= self.snapshot_max_age):
            patterns = [sp.data for sp in self.gossip.store.values()]
            snap = build_snapshot(patterns, self.signer, now, chunk_size=self.chunk_size)
            self.snapshot_builds += 1
            self._snapshot = cached = (version, now, snap)
        return cached[2]

    def _lagging(self, sid: SessionId, conn: Connection) -> bool:
        waiting = conn.queued_bytes + self._buffered.get(sid, 0)
        return waiting > min(STREAM_RELAY_LIMIT, self.max_outbound_bytes // 2)

    def _relay_stream(self, sid: SessionId, conn: Connection, ev: Any, now: float) -> None:
        key = (sid, ev.stream_id)
        if isinstance(ev, StreamOpened):
            meta = dict(ev.meta, origin=(conn.peer_key or b"").hex())
            routes = {}
            for other, oc in self.sessions.items():
                if other != sid and other in self._admitted and not oc.closed:
                    routes[other] = oc.open_stream(now, ev.kind, meta)
                    self._dirty.add(other)
            self._relays[key] = routes
            return
        routes = self._relays.get(key, {})
        for other, osid in list(routes.items()):
            dest = self.sessions.get(other)
            if dest is None or other not in self._admitted:
                continue
            if isinstance(ev, StreamDataReceived) and self._lagging(other, dest):
                # Backpressure: a receiver that cannot keep up loses this live stream
                # (ended early, so it knows) instead of its session or the hub's memory.
                dest.send_stream(now, osid, b"", end=True)
                del routes[other]
            elif isinstance(ev, StreamDataReceived):
                dest.send_stream(now, osid, ev.data)
            else:
                dest.send_stream(now, osid, b"", end=True)
            self._dirty.add(other)
        if isinstance(ev, StreamEnded):
            self._relays.pop(key, None)


MAX_ANNOUNCED_AUTHORS = 10_000
NOT_ALLOWED = "key not allowed on this hub"
SLOW_CONSUMER_REASON = "slow consumer: outbound budget exceeded"


def _announced_authors(info: dict[str, Any]) -> frozenset[bytes] | None:
    """Authors a session announced in its HELLO (``"authors": [hex, ...]``), if valid."""
    authors = info.get("authors")
    if not isinstance(authors, list) or len(authors) > MAX_ANNOUNCED_AUTHORS:
        return None
    keys = set()
    for item in authors:
        try:
            key = bytes.fromhex(item) if isinstance(item, str) else b""
        except ValueError:
            return None
        if len(key) != 32:
            return None
        keys.add(key)
    return frozenset(keys)
