"""``BusSync``: keep a browser bank in sync with a hub, across drops and offline periods.

What it guarantees:

* **Both ways.** On every (re)connection it shares every local pattern (its own, signed with
  the browser's WebCrypto key at ``signed_at = created_at``, so the signature and gossip id
  are the same every time; others' re-verified and re-shared unchanged), then runs
  anti-entropy with the hub until ``InSync``. Patterns the hub relays live are imported as
  they arrive. Only trusted authors' correctly signed patterns are imported.
* **Offline queue.** The bank itself is the queue: what the page learns while offline is in
  IndexedDB and counted in ``pending``; it is shared on the next connection.
* **Reconnect with backoff.** After a failed attempt or a dropped session it waits
  ``min(backoff_max, backoff_base · 2^n)`` seconds with ±50 % jitter (so many tabs do not
  reconnect in lockstep), or less if the browser reports it is back online. While the
  browser says it is offline it does not try at all.
* **Admission.** A hub that does not admit this browser's key (yet) closes the session with
  ``UNTRUSTED_KEY``: the state is then ``refused`` and the link asks again every
  ``trust_poll`` seconds, so the page is let in soon after its owner trusts the key. What a
  refused session learned is forgotten, so the first admitted session offers every local
  pattern again, including those stored before the key was trusted.
* **Resume.** The gossip state survives the session, so the anti-entropy after a drop
  exchanges only what changed while the link was down; anti-entropy also runs every
  ``sync_every`` seconds (catch-up pushes are not relayed live by the hub).

Peers: banks announce themselves with a tiny ``TRACE`` stream (``{"presence": "hello"}``),
which the hub relays to every session with the sender's key as ``origin``; others answer
``"here"``, re-announce every ``PRESENCE_EVERY`` seconds and say ``"bye"`` when they stop.
A peer not heard from for ``PRESENCE_TTL`` seconds is dropped from ``peers``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from reasoningbank.bus.errors import LocalBusError
from reasoningbank.bus.events import (
    BusEvent,
    PatternAccepted,
    PatternRejected,
    StreamDataReceived,
    StreamEnded,
    StreamOpened,
)
from reasoningbank.bus.frames import FrameType
from reasoningbank.bus.gossip import GossipNode
from reasoningbank.bus.peer import HUB
from reasoningbank.bus.provenance import (
    PatternRefusal,
    asign_pattern,
    averify_pattern,
    canonical_json,
    pattern_id,
    provenance_of,
    shareable,
)
from reasoningbank.model import parse_time

from .client import BrowserBusClient, HubRefusedKey, connect
from .transport import glue
from .verify import BatchVerifier

__all__ = ["PRESENCE_EVERY", "PRESENCE_TTL", "TRUST_POLL", "BusSync"]

PRESENCE_EVERY = 20.0
PRESENCE_TTL = 50.0
#: Seconds between attempts while the hub refuses this key (waiting for its owner to trust it).
TRUST_POLL = 3.0

OFFLINE, CONNECTING, ONLINE, REFUSED, STOPPED = (
    "offline",
    "connecting",
    "online",
    "refused",
    "stopped",
)


def _as_dict(pattern: Any) -> dict[str, Any]:
    if hasattr(pattern, "to_dict"):
        return pattern.to_dict(with_embedding=False)  # type: ignore[no-any-return]
    return dict(pattern)


class BusSync:
    """A bank linked to a hub. ``await start()``; then it runs until ``await stop()``."""

    def __init__(
        self,
        bank: Any,
        url: str,
        *,
        signer: Any,
        trusted: set[bytes],
        cert_hash: str | None = None,
        ws_url: str | None = None,
        prefer: str = "auto",
        label: str = "",
        verifier: Any = None,
        on_change: Callable[[dict[str, Any]], Any] | None = None,
        backoff_base: float = 0.5,
        backoff_max: float = 15.0,
        sync_every: float = 15.0,
        timeout: float = 10.0,
        trust_poll: float = TRUST_POLL,
        rng: random.Random | None = None,
    ) -> None:
        self.bank = bank
        self.url = url
        self.cert_hash = cert_hash
        self.ws_url = ws_url
        self.prefer = prefer
        self.label = label
        self.signer = signer
        self.verifier = verifier or BatchVerifier()
        self.trusted = trusted  # live: additions apply to the running session
        self.on_change = on_change
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.sync_every = sync_every
        self.timeout = timeout
        self.trust_poll = trust_poll
        self.rng = rng or random.Random()
        self.state = STOPPED
        self.client: BrowserBusClient | None = None
        self.gossip: GossipNode | None = None
        self.hub_key: bytes | None = None
        self.transport: str | None = None
        self.peers: dict[str, dict[str, Any]] = {}
        self.shared_ids: set[str] = set()  # bank ids handed to a live session
        self.pending_count = 0  # local patterns not yet handed to a live session
        self.imported = 0
        self.sent = 0  # patterns this browser offered that the session had not seen
        # ... of which this session's: a hub may refuse our key just after its HELLO
        # crossed ours, and what that session was offered never counted as sent.
        self._session_sent = 0
        self.rejected: Counter[str] = Counter()
        self.connects = 0
        self.attempts = 0
        self.last_error: str | None = None
        self.last_sync: float | None = None
        self.stream_listeners: list[Callable[[BusEvent], Any]] = []
        self._signed: dict[tuple[str, bytes], dict[str, Any]] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._synced = asyncio.Event()
        self._share_lock = asyncio.Lock()
        self._stopping = False
        self._unlisten: Any = None
        self._last_hello_reply = 0.0
        self._presence_streams: set[int] = set()

    # -- life cycle ------------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is not None:
            return
        self._stopping = False
        try:
            from pyodide.ffi import create_proxy  # type: ignore[import-not-found]

            self._net_proxy = create_proxy(self._on_network)
            self._unlisten = glue().onNetwork(self._net_proxy)
        except ImportError:  # pragma: no cover - only in the browser
            self._unlisten = None
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        client = self.client
        if client is not None:
            try:
                await self._announce("bye")
            except Exception:
                pass
            await client.close()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
            self._net_proxy.destroy()
        self._set_state(STOPPED)

    def _on_network(self, online: bool) -> None:
        if not online and self.client is not None:
            # Do not wait for the idle timeout: the page knows the network is gone.
            asyncio.get_running_loop().create_task(self.client.close())
        self._wake.set()

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            try:
                self.on_change(self.status())
            except Exception:  # a broken UI callback must not break the link
                pass

    async def _sleep(self, seconds: float | None) -> None:
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            if not glue().isOnline():
                self._set_state(OFFLINE)
                await self._sleep(30.0)
                continue
            self._set_state(CONNECTING)
            self.attempts += 1
            try:
                client = await connect(
                    self.url,
                    signer=self.signer,
                    verifier=self.verifier,
                    trusted=self.trusted,
                    cert_hash=self.cert_hash,
                    ws_url=self.ws_url,
                    prefer=self.prefer,
                    info={"label": self.label} if self.label else None,
                    gossip=self.gossip,
                    timeout=self.timeout,
                )
            except HubRefusedKey as exc:
                self.last_error = str(exc)
                failures = 0
                await self._wait_for_trust()
                continue
            except Exception as exc:
                self.last_error = str(exc)
                failures += 1
                delay = min(self.backoff_max, self.backoff_base * 2 ** (failures - 1))
                self._set_state(OFFLINE if not glue().isOnline() else CONNECTING)
                self._changed()
                await self._sleep(delay * (0.5 + self.rng.random()))
                continue
            failures = 0
            await self._session(client)
        self._set_state(STOPPED)

    async def _session(self, client: BrowserBusClient) -> None:
        self.client = client
        self.gossip = client.peer.gossip
        self.hub_key = client.hub_key
        self.transport = client.kind
        self.connects += 1
        self._session_sent = 0
        client.listeners.append(self._on_events)
        self._set_state(ONLINE)
        loop = asyncio.get_running_loop()
        presence = loop.create_task(self._presence_loop(client))
        periodic: asyncio.Task[None] | None = None
        try:
            await self._catch_up(client)
            periodic = loop.create_task(self._sync_loop(client))
            await client.done
        except Exception as exc:
            self.last_error = str(exc)
        finally:
            presence.cancel()
            if periodic is not None:
                periodic.cancel()
            self.client = None
            self._synced.clear()
            self.peers.clear()
            self._presence_streams.clear()
            await client.close()
            if client.close_reason and client.close_reason != "closed by us":
                self.last_error = client.close_reason
            if not self._stopping and not client.refused:
                self._set_state(CONNECTING if glue().isOnline() else OFFLINE)
        if client.refused and not self._stopping:
            await self._wait_for_trust()
        elif not self._stopping:
            # A short pause even after a clean session end: a hub that accepts and then
            # drops at once must not make us spin.
            await self._sleep(self.backoff_base * (0.5 + self.rng.random()))

    async def _wait_for_trust(self) -> None:
        """The hub refused our key: forget what the refused session learned (so the first
        admitted session offers every local pattern again) and ask again soon."""
        self.gossip = None
        self.shared_ids.clear()
        self.sent -= self._session_sent
        self._session_sent = 0
        self.pending_count = await self.pending()
        self._set_state(REFUSED)
        self._changed()
        await self._sleep(self.trust_poll)

    async def _catch_up(self, client: BrowserBusClient) -> None:
        await self._share_local(client)
        await client.sync(self.timeout * 3)
        self.last_sync = time.time()
        self._synced.set()
        self._changed()

    async def _sync_loop(self, client: BrowserBusClient) -> None:
        """Anti-entropy every ``sync_every`` seconds. Live relays cover patterns published
        while everyone is connected; this covers the rest: a catch-up push reaches the hub
        with the hop limit spent (so the hub stores it without relaying it), and only a
        digest exchange brings it to the banks that were online all along."""
        while not client.closed:
            await asyncio.sleep(self.sync_every * (0.75 + 0.5 * self.rng.random()))
            try:
                await client.sync(self.timeout * 3)
            except Exception as exc:  # a slow hub: try again next round
                self.last_error = f"periodic sync: {exc}"
                continue
            self.last_sync = time.time()
            self._changed()

    # -- sharing ---------------------------------------------------------------------------
    async def _outgoing(self, pattern: Any, known: dict[str, Any]) -> dict[str, Any] | None:
        """What to share for one local pattern (``None``: nothing). ``known`` is the
        session's gossip store: a pattern already in it was verified when it got there."""
        data = _as_dict(pattern)
        if provenance_of(data) is None:
            body = shareable(data)
            key = (str(data["id"]), canonical_json(body))
            signed = self._signed.get(key)
            if signed is None:
                created = (data.get("metadata") or {}).get("created_at")
                signed_at = parse_time(created, "created_at") if created is not None else 0.0
                signed = await asign_pattern(body, self.signer, round(signed_at, 6))
                self._signed[key] = signed
            return signed
        data = shareable(data)
        try:
            if pattern_id(data) in known:
                return data
            await averify_pattern(data, self.trusted, self.verifier)
        except (PatternRefusal, LocalBusError):
            return None  # no longer trusted, or altered here: do not re-share
        return data

    async def _share_local(self, client: BrowserBusClient, ids: list[str] | None = None) -> int:
        """Offer local patterns the session does not know yet (all of them, or ``ids``);
        returns how many the hub was offered."""
        async with self._share_lock:
            n = 0
            store = client.peer.gossip.store
            if ids is None:
                patterns = await self.bank.all_patterns()
            else:
                got = [await self.bank.get_pattern(i) for i in dict.fromkeys(ids)]
                patterns = [p for p in got if p is not None]
            for pattern in patterns:
                data = await self._outgoing(pattern, store)
                if data is None:
                    continue
                if pattern_id(data) not in store:
                    events = await client.share(data)
                    n += sum(isinstance(e, PatternAccepted) for e in events)
                self.shared_ids.add(str(data["id"]))
            self.sent += n
            self._session_sent += n
            if ids is None:
                self.pending_count = sum(1 for p in patterns if p.id not in self.shared_ids)
            elif self.pending_count:
                self.pending_count = await self.pending()
            self._changed()
            return n

    async def share(self, ids: list[str] | None = None) -> int:
        """Share what the bank learned: the patterns ``ids`` (what the page just stored or
        updated), or everything not shared yet. Offline, they stay queued in the bank and
        go out on the next connection."""
        client = self.client
        if client is None or client.closed or not self._synced.is_set():
            self.pending_count = await self.pending()
            self._changed()
            return 0
        return await self._share_local(client, ids)

    async def sync_now(self, timeout: float = 30.0) -> dict[str, Any]:
        """Share, then anti-entropy; waits for a connection first (up to ``timeout``)."""
        deadline = time.time() + timeout
        while self.client is None or not self._synced.is_set():
            if time.time() > deadline:
                raise TimeoutError(f"not connected to {self.url}: {self.last_error}")
            self._wake.set()
            await asyncio.sleep(0.05)
        client = self.client
        await self._share_local(client)
        await client.sync(max(1.0, deadline - time.time()))
        self.last_sync = time.time()
        self._changed()
        return self.status()

    async def pending(self) -> int:
        """Local patterns not yet handed to a live session (the offline queue)."""
        return sum(1 for p in await self.bank.all_patterns() if p.id not in self.shared_ids)

    # -- incoming --------------------------------------------------------------------------
    async def _on_events(self, events: list[BusEvent]) -> None:
        changed = False
        for ev in events:
            if isinstance(ev, PatternAccepted) and ev.peer == HUB:
                pattern = shareable(ev.pattern)
                if await self.bank.get_pattern(pattern["id"]) is None:
                    await self.bank.store_pattern(pattern)
                    self.imported += 1
                self.shared_ids.add(str(pattern["id"]))
                changed = True
            elif isinstance(ev, PatternRejected):
                self.rejected[ev.reason] += 1
                changed = True
            elif isinstance(ev, StreamOpened) and "presence" in ev.meta:
                self._presence_streams.add(ev.stream_id)
                changed |= await self._on_presence(ev.meta)
            elif isinstance(ev, (StreamDataReceived, StreamEnded)) and (
                ev.stream_id in self._presence_streams
            ):
                if isinstance(ev, StreamEnded):
                    self._presence_streams.discard(ev.stream_id)
            elif isinstance(ev, (StreamOpened, StreamDataReceived, StreamEnded)):
                for listener in list(self.stream_listeners):
                    result = listener(ev)
                    if asyncio.iscoroutine(result):
                        await result
        if changed:
            self._changed()

    async def _on_presence(self, meta: dict[str, Any]) -> bool:
        origin = str(meta.get("origin", ""))
        kind = meta.get("presence")
        if not origin or origin == self.signer.public_key.hex():
            return False
        if kind == "bye":
            return self.peers.pop(origin, None) is not None
        label = meta.get("label")
        self.peers[origin] = {
            "key": origin,
            "label": label if isinstance(label, str) else "",
            "transport": meta.get("transport") if isinstance(meta.get("transport"), str) else "",
            "seen": time.time(),
        }
        now = time.time()
        if kind == "hello" and now - self._last_hello_reply > 0.2:
            self._last_hello_reply = now
            await self._announce("here")
        return True

    async def _announce(self, kind: str) -> None:
        client = self.client
        if client is None or client.closed:
            return
        meta = {"presence": kind, "label": self.label, "transport": client.kind}
        sid = await client.open_stream(FrameType.TRACE, meta)
        await client.send_stream(sid, b"", end=True)

    async def _presence_loop(self, client: BrowserBusClient) -> None:
        await self._announce("hello")
        while not client.closed:
            await asyncio.sleep(PRESENCE_EVERY)
            horizon = time.time() - PRESENCE_TTL
            for key in [k for k, v in self.peers.items() if v["seen"] < horizon]:
                del self.peers[key]
            await self._announce("here")
            self._changed()

    # -- status ----------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """A JSON-ready summary for the page."""
        store = self.gossip.store if self.gossip is not None else {}
        return {
            "state": self.state,
            "transport": self.transport if self.state == ONLINE else None,
            "hub": self.url,
            "hubKey": self.hub_key.hex() if self.hub_key else None,
            "identity": self.signer.public_key.hex(),
            "peers": sorted(
                ({k: v for k, v in p.items() if k != "seen"} for p in self.peers.values()),
                key=lambda p: p["key"],
            ),
            "known": len(store),
            "authors": sorted({sp.author.hex() for sp in store.values()}),
            "shared": len(self.shared_ids),
            "pending": self.pending_count,
            "sent": self.sent,
            "imported": self.imported,
            "rejected": dict(self.rejected),
            "connects": self.connects,
            "attempts": self.attempts,
            "lastError": self.last_error,
            "lastSync": self.last_sync,
            "synced": self._synced.is_set(),
        }
