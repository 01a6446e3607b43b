"""A hub whose patterns live in a shared, replicated log (a hub cluster), sans-IO.

Why: hubs in a cluster keep no state of their own. A pattern a session pushes is checked
(signature, trust, size, per-author quota) and then handed to the driver to append to the
log, not stored; every hub, the accepting one included, stores and relays a pattern only
when it comes back from the log (``fold``). So every hub folds the same sequence into the
same store: digests, quotas and the store cap agree cluster-wide, and a pattern is in a
hub's digest (a bank's sync reports it in sync) only once the log holds it.

A session's digest is answered only when the patterns it pushed have come back from the
log (or failed): its sync ends with "in sync" only for what is kept. While the log is
unreachable, a push is refused: the session is closed with ``OVERLOADED`` and a one-line
reason, rather than holding patterns the hub cannot keep.

Replay windows and spend budgets hold across hubs: every intent a hub accepts is announced
to the others (``ClusterChecker``), which then refuse its nonce as a replay and charge its
cost to the key's budget, so a HELLO recorded on the way to one hub cannot open a session on
another, and a key that talks to three hubs still has one budget.

Reasoning streams are live, not logged: ``take_streams`` hands the driver what local
sessions stream, and ``remote_stream`` relays another hub's streams to local sessions.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from .errors import BusError, ErrorCode
from .events import PatternRejected, StreamDataReceived, StreamEnded, StreamOpened
from .frames import FrameType, Intent
from .gossip import Out
from .intents import IntentChecker, run_sync
from .provenance import PatternRefusal, canonical_json, pattern_id, provenance_of
from .provenance import verify_pattern_flow as _verify

if TYPE_CHECKING:
    from .hub import Hub

__all__ = ["LOG_UNAVAILABLE", "Accepted", "ClusterChecker", "Journal"]

SessionId = Hashable
#: An intent another hub should know of: (key, nonce, timestamp in seconds, cost).
Accepted = tuple[bytes, bytes, float, int]
#: Sent (with ``OVERLOADED``) to a session whose pattern the log could not take.
LOG_UNAVAILABLE = "hub cannot keep patterns now: its NATS cluster is unreachable; retry later"
#: Most patterns one hub may have on their way to the log at once; past it pushes are
#: refused as ``busy`` (the session's next sync offers them again).
MAX_PENDING = 10_000


class ClusterChecker(IntentChecker):
    """An ``IntentChecker`` that shares its replay windows and spend ledgers with other hubs.

    Announcements travel after the fact, so a key spending on several hubs at the same
    instant can overshoot its budget by what the other hubs accepted in the meantime (one
    announcement round, about one event-loop turn plus a NATS hop); past that, one budget.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._accepted: list[Accepted] = []

    def _accept(self, it: Intent, ok: bool, ts: float, cost: int, now: float) -> Intent:
        intent = super()._accept(it, ok, ts, cost, now)
        if len(self._accepted) < MAX_PENDING:
            self._accepted.append((intent.key, intent.nonce, ts, cost))
        return intent

    def take_accepted(self) -> list[Accepted]:
        """Intents accepted here since the last call, for the other hubs."""
        out, self._accepted = self._accepted, []
        return out

    def remember(self, key: bytes, nonce: bytes, timestamp: float, cost: int, now: float) -> None:
        """Another hub accepted this intent: its nonce is a replay here and its cost counts
        against the key's budget here. Idempotent: a nonce already known is not charged."""
        p = self.policy
        if not (now - p.max_age <= timestamp <= now + p.max_skew):
            return  # outside the window it is refused as expired or future anyway
        state = self._keys.get(key)
        if state is not None and nonce in state.nonces:
            return
        self._commit(key, nonce, timestamp, max(0, min(cost, p.budget)), now)


class Journal:
    """The log-facing half of a cluster hub: pending publishes, parked digests, streams."""

    def __init__(self, hub: Hub, max_pending: int = MAX_PENDING) -> None:
        self.hub = hub
        self.max_pending = max_pending
        #: False while the driver cannot reach the log: pushes are refused.
        self.up = True
        self._outbox: list[tuple[str, bytes, bytes]] = []  # (id, author, canonical JSON)
        self._pending: dict[str, set[SessionId]] = {}  # id -> sessions waiting for it
        self._pending_author: dict[str, tuple[bytes, int]] = {}  # id -> (author, size)
        self._pending_usage: dict[bytes, tuple[int, int]] = {}  # author -> (count, bytes)
        self._waiting: dict[SessionId, int] = {}  # session -> its patterns still pending
        self._parked: dict[SessionId, tuple[Any, float]] = {}  # digest waiting for them
        self._streams_out: list[dict[str, Any]] = []
        # remote stream key -> {local session: local stream id}
        self._remote: dict[str, dict[SessionId, int]] = {}
        self._remote_seen: dict[str, float] = {}  # remote stream key -> last event

    # -- driver side ------------------------------------------------------------------
    def take_publish(self) -> list[tuple[str, bytes, bytes]]:
        """Patterns to append to the log: (id, author key, bytes). Append each with the id
        as its deduplication key, then report back through ``fold`` or ``publish_failed``."""
        out, self._outbox = self._outbox, []
        return out

    def take_streams(self) -> list[dict[str, Any]]:
        """Live stream events of local sessions, for the other hubs."""
        out, self._streams_out = self._streams_out, []
        return out

    def fold(self, pattern: Any, now: float) -> bool:
        """A pattern read from the log (in log order): store and relay it like a push,
        under the same checks. True if it was stored."""
        hub = self.hub
        try:
            msg_id = pattern_id(pattern)
        except Exception:
            return False
        waiters = self._resolve(msg_id)
        out = hub.gossip.publish(pattern, hub.verifier)
        out.messages = [m for m in out.messages if m[0] not in waiters]
        hub.emit(out, now)
        stored = msg_id in hub.gossip.store
        self._release(waiters, now)
        return stored

    def publish_failed(self, msg_id: str, now: float, reason: str | None = None) -> None:
        """The log did not take ``msg_id``: ``reason`` is the log's refusal (a limit:
        reported like a local refusal), ``None`` means the log was unreachable (the
        sessions that pushed it are closed with ``LOG_UNAVAILABLE``)."""
        waiters = self._resolve(msg_id)
        self.hub.gossip.seen.forget(msg_id)  # offered again later, it is tried again
        for sid in waiters:
            conn = self.hub.sessions.get(sid)
            if conn is None:
                continue
            if reason is None:
                self._refuse(sid)
            elif self.hub.on_event is not None:
                self.hub.on_event(sid, PatternRejected(reason, sid))
        self._release(waiters, now)

    def set_up(self, up: bool) -> None:
        self.up = up

    def forget_session(self, sid: SessionId) -> None:
        self._waiting.pop(sid, None)
        self._parked.pop(sid, None)
        for waiters in self._pending.values():
            waiters.discard(sid)

    # -- hub side ---------------------------------------------------------------------
    def on_gossip(self, sid: SessionId, op: str, body: Any, now: float) -> bool:
        """Handle a push or digest the cluster way; False: the hub handles ``op`` itself."""
        if op == "gossip.push" and isinstance(body, dict):
            self.hub.emit(self._push(sid, body, now), now)
            return True
        if op == "gossip.digest" and self._waiting.get(sid):
            self._parked[sid] = (body, now)  # answered when its pushes are in the log
            return True
        return False

    def _push(self, sid: SessionId, body: dict[str, Any], now: float) -> Out:
        out = Out()
        hub, gossip = self.hub, self.hub.gossip
        pattern, hops = body.get("pattern"), body.get("hops")
        try:
            if not isinstance(hops, int) or isinstance(hops, bool) or not 0 <= hops <= 255:
                raise ValueError
            claimed = bytes.fromhex(provenance_of(pattern)["author"])  # type: ignore[arg-type,index]
            msg_id = pattern_id(pattern)  # type: ignore[arg-type]
            size = len(canonical_json(pattern))
        except Exception:
            out.events.append(PatternRejected("malformed", sid))
            return out
        if msg_id in gossip.store:
            return out
        if msg_id in self._pending:  # pushed through this hub by another session too
            self._wait(sid, msg_id)
            return out
        if gossip.seen.seen(msg_id, now):
            return out
        if not self.up:
            self._refuse(sid)
            return out
        refusal = self._refusal(claimed, size)
        if refusal is not None:
            gossip.seen.add(msg_id, now)
            out.events.append(PatternRejected(refusal, sid))
            return out
        try:
            run_sync(_verify(pattern, gossip.trusted), verifier=hub.verifier)
        except PatternRefusal as exc:
            gossip.seen.add(msg_id, now)
            out.events.append(PatternRejected(exc.reason, sid))
            return out
        gossip.seen.add(msg_id, now)
        self._pending_author[msg_id] = (claimed, size)
        count, used = self._pending_usage.get(claimed, (0, 0))
        self._pending_usage[claimed] = (count + 1, used + size)
        self._wait(sid, msg_id)
        self._outbox.append((msg_id, claimed, canonical_json(pattern)))
        return out

    def _refusal(self, author: bytes, size: int) -> str | None:
        """The store's limits, counting what is still on its way to the log."""
        if len(self._pending) >= self.max_pending:
            return "busy"
        refusal = self.hub.gossip.refusal(author, size)
        if refusal is not None:
            return refusal
        c = self.hub.gossip.config
        count, used = self.hub.gossip.author_usage.get(author, (0, 0))
        pending_count, pending_bytes = self._pending_usage.get(author, (0, 0))
        count, used = count + pending_count, used + pending_bytes
        if c.max_patterns_per_author is not None and count >= c.max_patterns_per_author:
            return "quota"
        if c.max_bytes_per_author is not None and used + size > c.max_bytes_per_author:
            return "quota"
        return None

    def _wait(self, sid: SessionId, msg_id: str) -> None:
        self._pending.setdefault(msg_id, set()).add(sid)
        self._waiting[sid] = self._waiting.get(sid, 0) + 1

    def _resolve(self, msg_id: str) -> set[SessionId]:
        author_size = self._pending_author.pop(msg_id, None)
        if author_size is not None:
            author, size = author_size
            count, used = self._pending_usage.pop(author, (1, size))
            if count > 1:
                self._pending_usage[author] = (count - 1, used - size)
        return self._pending.pop(msg_id, set())

    def _release(self, waiters: set[SessionId], now: float) -> None:
        """Answer the parked digest of every session whose last pending pattern resolved."""
        for sid in waiters:
            left = self._waiting.get(sid, 0) - 1
            if left > 0:
                self._waiting[sid] = left
                continue
            self._waiting.pop(sid, None)
            parked = self._parked.pop(sid, None)
            if parked is not None and sid in self.hub.sessions:
                out = self.hub.gossip.handle_message(
                    sid, "gossip.digest", parked[0], now, self.hub.verifier
                )
                self.hub.emit(out, now)

    def _refuse(self, sid: SessionId) -> None:
        conn = self.hub.sessions.get(sid)
        if conn is None or conn.closed:
            return
        self.hub.gossip.remove_peer(sid)
        conn.close(ErrorCode.OVERLOADED, LOG_UNAVAILABLE)
        self.hub._admitted.discard(sid)
        self.hub._end(sid)

    # -- live reasoning streams ---------------------------------------------------------
    def share_stream(self, sid: SessionId, origin: bytes | None, ev: Any) -> None:
        """A local session's stream event, for the other hubs (``key`` names the stream)."""
        item: dict[str, Any] = {"sid": repr(sid), "stream": ev.stream_id}
        if isinstance(ev, StreamOpened):
            item["open"] = {
                "kind": int(ev.kind),
                "meta": dict(ev.meta, origin=(origin or b"").hex()),
            }
        elif isinstance(ev, StreamDataReceived):
            item["data"] = ev.data.hex()
        elif isinstance(ev, StreamEnded):
            item["end"] = True
        self._streams_out.append(item)

    def remote_stream(self, key: str, item: Any, now: float) -> None:
        """Relay another hub's stream event (``key``: that hub and its stream) to every
        local session, ending it early for a session that lags (as local streams do)."""
        if not isinstance(item, dict):
            return
        hub = self.hub
        opened = item.get("open")
        if isinstance(opened, dict):
            if len(self._remote) >= MAX_REMOTE_STREAMS:
                return
            raw_kind, meta = opened.get("kind"), opened.get("meta")
            if not isinstance(raw_kind, int) or not isinstance(meta, dict):
                return
            try:
                kind = FrameType(raw_kind)
            except ValueError:
                return
            routes = {}
            for sid, conn in hub.sessions.items():
                if sid in hub._admitted and not conn.closed:
                    try:
                        routes[sid] = conn.open_stream(now, kind, meta)
                    except BusError:  # not a stream kind: nothing to relay
                        return
                    hub._dirty.add(sid)
            self._remote[key] = routes
            self._remote_seen[key] = now
            return
        routes = self._remote.get(key, {})
        if key in self._remote_seen:
            self._remote_seen[key] = now
        data = item.get("data")
        end = item.get("end") is True
        chunk = b""
        if isinstance(data, str):
            try:
                chunk = bytes.fromhex(data)
            except ValueError:
                return
        for sid, stream_id in list(routes.items()):
            dest = hub.sessions.get(sid)
            if dest is None or sid not in hub._admitted:
                continue
            if not end and hub._lagging(sid, dest):
                dest.send_stream(now, stream_id, b"", end=True)
                del routes[sid]
            else:
                dest.send_stream(now, stream_id, chunk, end=end)
            hub._dirty.add(sid)
        if end:
            self._remote.pop(key, None)
            self._remote_seen.pop(key, None)

    def expire_streams(self, now: float) -> None:
        """End other hubs' streams idle for ``REMOTE_STREAM_IDLE`` seconds: live frames
        are not stored, so a stream whose hub died (or whose end mark was lost while NATS
        was away) would otherwise stay open here for good."""
        for key, seen in list(self._remote_seen.items()):
            if now - seen >= REMOTE_STREAM_IDLE:
                self.remote_stream(key, {"end": True}, now)


#: Other hubs' live streams relayed at once; a stream opened past it is not relayed.
MAX_REMOTE_STREAMS = 1024
#: Seconds without an event after which another hub's stream is ended here.
REMOTE_STREAM_IDLE = 60.0
