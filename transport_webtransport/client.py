"""A browser bank's live session with a hub: ``BusPeer`` (sans-IO) over a ``JsTransport``.

The same loop as ``reasoningbank/bus/aio/client.py`` (feed bytes → drain events → flush bytes →
re-arm the timer), with two differences that the browser forces:

* Signing and verifying go through WebCrypto, which answers with promises, so every peer
  operation runs its *async* twin (``areceive_data``, ``ashare``, ...). One ``asyncio.Lock``
  serialises them: a frame being verified must not interleave with another one changing the
  same session state.
* Bytes arrive from ``glue.js`` in batches (everything since the last read), so one FFI
  crossing covers many frames.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from typing import Any

from reasoningbank.bus.errors import ErrorCode, LocalBusError
from reasoningbank.bus.events import BusEvent, HelloReceived, InSync, PeerClosed
from reasoningbank.bus.frames import FrameType, Priority
from reasoningbank.bus.gossip import GossipNode
from reasoningbank.bus.peer import BusPeer
from reasoningbank.bus.waiting import EventHistory

from .transport import JsTransport, open_transport
from .verify import FrameScanner

__all__ = ["BrowserBusClient", "HubRefusedKey", "connect"]


class HubRefusedKey(LocalBusError):
    """The hub closed the session because it does not admit this browser's key (yet).

    Why a class of its own: the link then waits for the hub's owner to trust the key (and
    says so on the page) instead of backing off as from a network failure."""


class BrowserBusClient(EventHistory):
    """One session. Create with ``await connect(url, ...)``; ``events`` is its history."""

    def __init__(self, peer: BusPeer, transport: JsTransport) -> None:
        self.peer = peer
        self.transport = transport
        self._scanner = FrameScanner(peer.conn.max_frame_size)
        prefetch = getattr(peer.verifier, "prefetch", None)
        self._prefetch = prefetch
        self.events: list[BusEvent] = []
        self.listeners: list[Callable[[list[BusEvent]], Any]] = []
        self.closed = False
        self.close_reason = ""
        self._lock = asyncio.Lock()
        self._cond = asyncio.Condition()
        self._tasks: list[asyncio.Task[None]] = []
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def _closed_reason(self) -> str:
        return self.close_reason

    @property
    def refused(self) -> bool:
        """The hub ended the session because it does not admit our key."""
        return any(
            isinstance(e, PeerClosed) and e.by_peer and e.error_code == ErrorCode.UNTRUSTED_KEY
            for e in self.events
        )

    @property
    def kind(self) -> str:
        return self.transport.kind

    @property
    def hub_key(self) -> bytes | None:
        return self.peer.conn.peer_key

    # -- I/O loop --------------------------------------------------------------------------
    def _flush(self) -> None:
        data = self.peer.data_to_send()
        if data and not self.transport.send(data):
            self._mark_closed(self.transport.reason or "transport closed")

    def _mark_closed(self, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.close_reason = reason
        if not self.done.done():
            self.done.set_result(None)

    async def _deliver(self, events: list[BusEvent]) -> None:
        if not events:
            return
        self.events.extend(events)
        if any(isinstance(e, PeerClosed) for e in events):
            closed = next(e for e in events if isinstance(e, PeerClosed))
            self._mark_closed(closed.reason or f"closed with code {closed.error_code}")
        for listener in list(self.listeners):
            result = listener(events)
            if asyncio.iscoroutine(result):
                await result
        async with self._cond:
            self._cond.notify_all()

    async def _reader(self) -> None:
        try:
            while True:
                data = await self.transport.recv()
                if self._prefetch is not None and data:
                    # One WebCrypto round for every signed frame in this read (verify.py).
                    await self._prefetch(self._scanner.signed_parts(data))
                async with self._lock:
                    events = await self.peer.areceive_data(data, time.time())
                    self._flush()
                await self._deliver(events)
                if not data:
                    if not self.closed:
                        await self._deliver([PeerClosed(0, self.transport.reason, by_peer=True)])
                    break
                if self.peer.conn.closed:
                    self.transport.close()
                    break
        except Exception as exc:  # a bug or a dead FFI object: end the session, loudly
            self._mark_closed(f"reader failed: {exc!r}")
            self.transport.close()
            async with self._cond:
                self._cond.notify_all()
            raise

    async def _ticker(self) -> None:
        while not self.closed:
            timer = self.peer.get_timer()
            delay = 1.0 if timer is None else max(0.05, min(5.0, timer - time.time()))
            await asyncio.sleep(delay)
            async with self._lock:
                await self.peer.ahandle_timer(time.time())
                events = []
                while (ev := self.peer.conn.next_event(time.time())) is not None:
                    events.append(ev)
                self._flush()
            await self._deliver(events)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.append(task)
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    # -- API -------------------------------------------------------------------------------
    async def start(self, timeout: float = 10.0) -> bytes:
        """Exchange HELLOs; returns the hub's key."""
        async with self._lock:
            await self.peer.astart(time.time())
            self._flush()
        self._spawn(self._reader())
        hello = await self.wait_for(lambda e: isinstance(e, HelloReceived), timeout)
        self._spawn(self._ticker())
        return hello.peer_key  # type: ignore[attr-defined,no-any-return]

    async def share(self, pattern: dict[str, Any]) -> list[BusEvent]:
        """Offer one signed pattern to the hub (verified locally first)."""
        async with self._lock:
            events = await self.peer.ashare(pattern, time.time())
            self._flush()
        await self._deliver(events)
        return events

    async def sync(self, timeout: float = 30.0) -> None:
        """Anti-entropy with the hub until both hold the same patterns."""
        mark = len(self.events)
        async with self._lock:
            await self.peer.arequest_sync(time.time())
            self._flush()
        await self.wait_for(lambda e: isinstance(e, InSync), timeout, start=mark)

    async def send(self, type: FrameType, op: str, payload: bytes, **kw: Any) -> None:
        """Send one signed frame as is (tests use it to push what ``share`` would refuse)."""
        async with self._lock:
            await self.peer.conn.asend(time.time(), type=type, op=op, payload=payload, **kw)
            self._flush()

    async def open_stream(
        self,
        kind: FrameType,
        meta: dict[str, Any] | None = None,
        priority: Priority = Priority.NORMAL,
    ) -> int:
        async with self._lock:
            sid = await self.peer.conn.aopen_stream(time.time(), kind, meta, priority)
            self._flush()
        return sid

    async def send_stream(self, stream_id: int, data: bytes, *, end: bool = False) -> None:
        async with self._lock:
            await self.peer.conn.asend_stream(time.time(), stream_id, data, end=end)
            self._flush()

    async def close(self) -> None:
        """Send CLOSE (after queued data) and close the transport."""
        if not self.closed:
            async with self._lock:
                if not self.peer.conn.closed:
                    self.peer.conn.close()
                self._flush()
            self._mark_closed("closed by us")
        for task in self._tasks:
            task.cancel()
        await asyncio.sleep(0)
        self.transport.close()
        async with self._cond:
            self._cond.notify_all()


async def connect(
    url: str,
    *,
    signer: Any,
    verifier: Any,
    trusted: set[bytes] | None,
    cert_hash: str | None = None,
    ws_url: str | None = None,
    prefer: str = "auto",
    info: dict[str, Any] | None = None,
    gossip: GossipNode | None = None,
    timeout: float = 10.0,
) -> BrowserBusClient:
    """Open a session with a hub from the browser (WebTransport, else WebSocket).

    ``gossip``: the gossip state of a previous session. Passing it on a reconnect keeps what
    this bank already knows, so the anti-entropy after a drop transfers only the difference.
    """
    peer = BusPeer(
        signer=signer,
        verifier=verifier,
        nonce_source=secrets.token_bytes,
        trusted=trusted,
        info=info,
    )
    if gossip is not None:
        gossip.trusted = trusted
        peer.gossip = gossip
    transport = await open_transport(
        url, cert_hash=cert_hash, ws_url=ws_url, prefer=prefer, timeout=timeout
    )
    client = BrowserBusClient(peer, transport)
    try:
        await client.start(timeout)
    except BaseException as exc:
        await client.close()
        if client.refused:
            raise HubRefusedKey(f"the hub does not admit this key: {client.close_reason}") from exc
        raise
    return client
