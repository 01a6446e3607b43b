"""A bank's side of a hub session, sans-IO: connection + gossip (+ snapshot download).

``BusPeer`` is what ``aio.BusClient`` drives over WebTransport or WebSocket, and what tests
drive over an in-memory link. Sync is anti-entropy against the hub: ``request_sync`` sends a
digest; while the hub answers with ``have`` lists that lead to pushes or wants, the peer
sends another digest (the byte stream is ordered, so the next digest is compared only after
the previous exchange landed); it ends with an ``InSync`` event.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from .connection import Connection
from .errors import RemoteBusError
from .events import BusEvent, InSync, IntentReceived, PeerClosed
from .frames import FrameType, Priority
from .gossip import GossipConfig, GossipNode, Out
from .provenance import canonical_json
from .snapshots import SnapshotReceiver

__all__ = ["HUB", "BusPeer"]

HUB = "hub"
MAX_SYNC_ROUNDS = 32


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
            trusted=trusted, rng=random.Random(0), config=GossipConfig(fanout=None)
        )
        self.gossip.add_peer(HUB)
        self.snapshot: SnapshotReceiver | None = None
        self._rounds = 0

    def start(self, now: float) -> None:
        self.conn.hello(now)

    def _emit(self, out: Out, now: float) -> list[BusEvent]:
        for _peer, op, body in out.messages:
            prio = Priority.NORMAL if op == "gossip.push" else Priority.LOW
            self.conn.send(
                now, type=FrameType.GOSSIP, op=op, payload=canonical_json(body), priority=prio
            )
        return out.events

    def share(self, pattern: dict[str, Any], now: float) -> list[BusEvent]:
        """Offer one signed pattern (ours or re-shared) to the hub."""
        return self._emit(self.gossip.publish(pattern, self.verifier), now)

    def request_sync(self, now: float) -> None:
        self._rounds = 0
        self._emit(self.gossip.anti_entropy(now, HUB), now)

    def request_snapshot(self, now: float, resume: SnapshotReceiver | None = None) -> None:
        """Ask for the hub's snapshot; pass a cut ``SnapshotReceiver`` to resume it."""
        self.snapshot = resume or SnapshotReceiver()
        self.conn.send(
            now, type=FrameType.SNAPSHOT, op="snapshot.get", payload=b"{}", priority=Priority.LOW
        )

    def data_to_send(self) -> bytes:
        return self.conn.data_to_send()

    def receive(self, data: bytes, now: float) -> list[BusEvent]:
        self.conn.receive_data(data)
        events: list[BusEvent] = []
        while (ev := self.conn.next_event(now)) is not None:
            if isinstance(ev, IntentReceived) and ev.type == FrameType.GOSSIP:
                events.extend(self._on_gossip(ev, now))
            elif isinstance(ev, IntentReceived) and ev.type == FrameType.SNAPSHOT:
                try:
                    events.extend(self._on_snapshot(ev, now))
                except RemoteBusError as exc:
                    self.conn.close(exc.error_code, str(exc))
            else:
                if isinstance(ev, PeerClosed) and self.snapshot is not None:
                    self.snapshot.cut()
                events.append(ev)
        return events

    def _on_gossip(self, ev: IntentReceived, now: float) -> list[BusEvent]:
        try:
            body = json.loads(ev.payload)
        except ValueError:
            body = None
        out = self.gossip.receive(HUB, ev.op, body, now, self.verifier)  # type: ignore[arg-type]
        events = self._emit(out, now)
        if ev.op == "gossip.have" and not any(isinstance(e, InSync) for e in events):
            self._rounds += 1
            if self._rounds < MAX_SYNC_ROUNDS:
                self._emit(self.gossip.anti_entropy(now, HUB), now)
        return events

    def _on_snapshot(self, ev: IntentReceived, now: float) -> list[BusEvent]:
        rx = self.snapshot
        if rx is None:
            return []
        if ev.op == "snapshot.manifest":
            rx.accept_manifest(json.loads(ev.payload), self.verifier)
            wanted = rx.resume()
            if wanted:
                self.conn.send(
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
