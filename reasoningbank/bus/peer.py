"""A bank's side of a hub session, sans-IO: connection + gossip (+ snapshot download).

``BusPeer`` is what ``aio.client.BusClient`` drives over WebTransport or WebSocket, and what tests
drive over an in-memory link. Sync is anti-entropy against the hub: ``request_sync`` sends a
digest; while the hub answers with ``have`` lists that lead to pushes or wants, the peer
sends another digest (the byte stream is ordered, so the next digest is compared only after
the previous exchange landed); it ends with an ``InSync`` event.

The peer pulls (``GossipConfig.pull``): it answers a ``have`` with the ids it already holds,
and the hub pushes the rest, as much as the peer's catch-up allowance lets it. When the
allowance is short the hub's ``have`` says ``after`` how many seconds a full answer fits;
the peer then sends nothing until ``get_timer()``, so it never pays to ask for patterns the
hub will not send yet. Drivers call ``handle_timer`` at ``get_timer()``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Generator
from typing import Any

from .connection import Connection
from .errors import RemoteBusError
from .events import BusEvent, InSync, IntentReceived, PeerClosed
from .frames import FrameType, Priority
from .gossip import GossipConfig, GossipNode, Out, wait_hint
from .intents import run_async, run_sync
from .provenance import canonical_json
from .snapshots import SnapshotReceiver

__all__ = ["HUB", "BusPeer"]

HUB = "hub"
#: Digest rounds one ``request_sync`` may take (each round is one bounded catch-up reply).
MAX_SYNC_ROUNDS = 256
#: Consecutive truncated ``have`` answers with nothing to exchange that count as in sync.
MAX_IDLE_ROUNDS = 16


class BusPeer:
    def __init__(
        self,
        *,
        signer: Any,
        verifier: Any,
        nonce_source: Callable[[int], bytes],
        trusted: set[bytes] | None,
        info: dict[str, Any] | None = None,
        expected_hub_key: bytes | None = None,
    ) -> None:
        self.verifier = verifier
        self.conn = Connection(
            signer=signer,
            verifier=verifier,
            is_client=True,
            nonce_source=nonce_source,
            info={"role": "bank", **(info or {})},
            expected_peer_key=expected_hub_key,
        )
        self.gossip = GossipNode(
            trusted=trusted, rng=random.Random(0), config=GossipConfig(fanout=None, pull=True)
        )
        self.gossip.add_peer(HUB)
        self.snapshot: SnapshotReceiver | None = None
        self._rounds = 0
        self._idle = 0  # consecutive ``have`` answers with nothing to exchange
        self._resume_at: float | None = None  # when a paced sync sends its next digest

    # Every operation is a flow (yielding sign/verify requests) driven either synchronously
    # (PyNaCl) or asynchronously (WebCrypto under Pyodide): ``x`` and ``ax`` are twins.
    def _run(self, flow: Generator[Any, Any, Any]) -> Any:
        return run_sync(flow, signer=self.conn._signer, verifier=self.verifier)

    async def _arun(self, flow: Generator[Any, Any, Any]) -> Any:
        return await run_async(flow, signer=self.conn._signer, verifier=self.verifier)

    def _start_flow(self, now: float) -> Generator[Any, Any, None]:
        yield from self.conn._hello_flow(now)

    def start(self, now: float) -> None:
        self._run(self._start_flow(now))

    async def astart(self, now: float) -> None:
        await self._arun(self._start_flow(now))

    def _emit_flow(self, out: Out, now: float) -> Generator[Any, Any, list[BusEvent]]:
        for _peer, op, body in out.messages:
            prio = Priority.NORMAL if op == "gossip.push" else Priority.LOW
            yield from self.conn.send_flow(
                now, type=FrameType.GOSSIP, op=op, payload=canonical_json(body), priority=prio
            )
        return out.events

    def _share_flow(
        self, pattern: dict[str, Any], now: float
    ) -> Generator[Any, Any, list[BusEvent]]:
        out = yield from self.gossip.publish_flow(pattern)
        return (yield from self._emit_flow(out, now))

    def share(self, pattern: dict[str, Any], now: float) -> list[BusEvent]:
        """Offer one signed pattern (ours or re-shared) to the hub."""
        return self._run(self._share_flow(pattern, now))  # type: ignore[no-any-return]

    async def ashare(self, pattern: dict[str, Any], now: float) -> list[BusEvent]:
        return await self._arun(self._share_flow(pattern, now))  # type: ignore[no-any-return]

    def _sync_flow(self, now: float) -> Generator[Any, Any, None]:
        self._rounds = 0
        self._idle = 0
        self._resume_at = None
        yield from self._emit_flow(self.gossip.anti_entropy(now, HUB), now)

    def get_timer(self) -> float | None:
        """Next deadline: the connection's (keep-alive, idle) or a paced sync's next round."""
        timers = [t for t in (self.conn.get_timer(), self._resume_at) if t is not None]
        return min(timers, default=None)

    def _timer_flow(self, now: float) -> Generator[Any, Any, None]:
        self.conn.handle_timer(now)
        if self._resume_at is not None and now >= self._resume_at and not self.conn.closed:
            self._resume_at = None
            yield from self._emit_flow(self.gossip.anti_entropy(now, HUB), now)

    def handle_timer(self, now: float) -> None:
        self._run(self._timer_flow(now))

    async def ahandle_timer(self, now: float) -> None:
        await self._arun(self._timer_flow(now))

    def request_sync(self, now: float) -> None:
        """Start anti-entropy with the hub; an ``InSync`` event reports completion."""
        self._run(self._sync_flow(now))

    async def arequest_sync(self, now: float) -> None:
        await self._arun(self._sync_flow(now))

    def _snapshot_flow(
        self, now: float, resume: SnapshotReceiver | None
    ) -> Generator[Any, Any, None]:
        self.snapshot = resume or SnapshotReceiver()
        yield from self.conn.send_flow(
            now, type=FrameType.SNAPSHOT, op="snapshot.get", payload=b"{}", priority=Priority.LOW
        )

    def request_snapshot(self, now: float, resume: SnapshotReceiver | None = None) -> None:
        """Ask for the hub's snapshot; pass a cut ``SnapshotReceiver`` to resume it."""
        self._run(self._snapshot_flow(now, resume))

    async def arequest_snapshot(self, now: float, resume: SnapshotReceiver | None = None) -> None:
        await self._arun(self._snapshot_flow(now, resume))

    def data_to_send(self) -> bytes:
        return self.conn.data_to_send()

    def _receive_data_flow(self, data: bytes, now: float) -> Generator[Any, Any, list[BusEvent]]:
        self.conn.receive_data(data)
        events: list[BusEvent] = []
        while (ev := (yield from self.conn.next_event_flow(now))) is not None:
            if isinstance(ev, IntentReceived) and ev.type == FrameType.GOSSIP:
                events.extend((yield from self._on_gossip(ev, now)))
            elif isinstance(ev, IntentReceived) and ev.type == FrameType.SNAPSHOT:
                try:
                    events.extend((yield from self._on_snapshot(ev, now)))
                except RemoteBusError as exc:
                    self.conn.close(exc.error_code, str(exc))
            else:
                if isinstance(ev, PeerClosed) and self.snapshot is not None:
                    self.snapshot.cut()
                events.append(ev)
        return events

    def receive_data(self, data: bytes, now: float) -> list[BusEvent]:
        """Feed bytes from the transport; returns the events they produced."""
        return self._run(self._receive_data_flow(data, now))  # type: ignore[no-any-return]

    async def areceive_data(self, data: bytes, now: float) -> list[BusEvent]:
        return await self._arun(self._receive_data_flow(data, now))  # type: ignore[no-any-return]

    def _on_gossip(self, ev: IntentReceived, now: float) -> Generator[Any, Any, list[BusEvent]]:
        try:
            body = json.loads(ev.payload)
        except ValueError:
            body = None
        out = yield from self.gossip.handle_message_flow(HUB, ev.op, body, now)
        events: list[BusEvent] = yield from self._emit_flow(out, now)
        if ev.op != "gossip.have":
            return events
        idle = any(isinstance(e, InSync) for e in events)
        after = wait_hint(body) if isinstance(body, dict) else 0.0
        if not idle and after > 0:
            self._resume_at = now + after  # the hub's allowance is short: ask when it is not
            return events
        if idle:
            # A ``have`` answers the digest we sent *before* the last pushes landed, so one
            # empty answer may be stale: a fresh digest confirms it. A truncated one
            # (``more``) covers only some buckets; the hub rotates through the rest.
            self._idle += 1
            more = isinstance(body, dict) and body.get("more") is True
            if self._idle >= (MAX_IDLE_ROUNDS if more else 2):
                return events
            events = [e for e in events if not isinstance(e, InSync)]
        else:
            self._idle = 0
        self._rounds += 1
        if self._rounds < MAX_SYNC_ROUNDS:
            yield from self._emit_flow(self.gossip.anti_entropy(now, HUB), now)
        return events

    def _on_snapshot(self, ev: IntentReceived, now: float) -> Generator[Any, Any, list[BusEvent]]:
        rx = self.snapshot
        if rx is None:
            return []
        if ev.op == "snapshot.manifest":
            try:
                manifest = json.loads(ev.payload)
            except ValueError:
                manifest = None
            yield from rx.manifest_flow(manifest)
            wanted = rx.resume()
            if wanted:
                yield from self.conn.send_flow(
                    now,
                    type=FrameType.SNAPSHOT,
                    op="snapshot.chunks",
                    payload=canonical_json({"ids": wanted}),
                    priority=Priority.LOW,
                )
            return []
        if ev.op == "snapshot.chunk":
            return rx.add_chunk(ev.payload)
        return []
