"""asyncio driver of a bank's session: ``BusClient`` and ``connect`` / ``connect_memory``.

The client side of the bus drivers: it touches the clock and the OS RNG, the sans-IO
``BusPeer`` does the rest. ``time.time()`` is the clock (intents carry wall-clock timestamps
compared across hosts); ``secrets.token_bytes`` supplies nonces.

URLs: ``https://HOST:PORT/bus`` is WebTransport over HTTP/3 (``quic.py``);
``ws://HOST:PORT/bus`` is the WebSocket endpoint (``websocket.py``) for browsers without
WebTransport.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ..errors import LocalBusError, RemoteBusError
from ..events import BusEvent, HelloReceived, InSync, PeerClosed
from ..frames import FrameType, Priority
from ..peer import BusPeer
from ..waiting import EventHistory
from .server import HubServer
from .websocket import open_websocket, write_chunked

__all__ = ["BusClient", "connect", "connect_memory"]


class BusClient(EventHistory):
    """A bank's live session with a hub. Create with ``await connect(url, ...)``."""

    def __init__(self, peer: BusPeer) -> None:
        self.peer = peer
        self.events: list[BusEvent] = []
        self._cond = asyncio.Condition()
        self._write: Callable[[bytes], None] = lambda data: None
        self._close_transport: Callable[[], Any] = lambda: None
        self._timer: asyncio.Task[None] | None = None
        self._tap: Callable[[bytes], None] | None = None
        self.closed = False

    # -- transport side ------------------------------------------------------------------
    def attach(self, write: Callable[[bytes], None], close: Callable[[], Any]) -> None:
        self._write, self._close_transport = write, close

    def tap(self, handler: Callable[[bytes], None] | None) -> None:
        """Divert incoming bytes to ``handler`` instead of the protocol (load tests use it
        to timestamp raw arrivals); ``None`` restores normal processing."""
        self._tap = handler

    def feed(self, data: bytes) -> None:
        """Bytes from the transport (``b""``: it closed)."""
        if self._tap is not None:
            self._tap(data)
            return
        if self.closed and data:
            return
        try:
            events = self.peer.receive_data(data, time.time())
        except RemoteBusError as exc:  # pragma: no cover - Connection maps these itself
            events = [PeerClosed(int(exc.error_code), str(exc), by_peer=True)]
        self.flush()
        if events:
            self.events.extend(events)
            if any(isinstance(e, PeerClosed) for e in events):
                self.closed = True
            asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    def flush(self) -> None:
        data = self.peer.data_to_send()
        if data:
            write_chunked(self._write, data)

    async def _tick(self) -> None:
        while not self.closed:
            timer = self.peer.get_timer()
            delay = 1.0 if timer is None else max(0.05, min(5.0, timer - time.time()))
            await asyncio.sleep(delay)
            self.peer.handle_timer(time.time())
            self.flush()

    # -- API -----------------------------------------------------------------------------
    async def start(self, timeout: float = 10.0) -> bytes:
        """Exchange HELLOs; returns the hub's key."""
        self.peer.start(time.time())
        self.flush()
        hello = await self.wait_for(lambda e: isinstance(e, HelloReceived), timeout)
        self._timer = asyncio.get_running_loop().create_task(self._tick())
        return hello.peer_key  # type: ignore[attr-defined,no-any-return]

    def share(self, pattern: dict[str, Any]) -> list[BusEvent]:
        """Offer a signed pattern to the hub (it is verified locally first)."""
        if self.closed:  # say why (e.g. the hub refused this key), not "cannot send"
            raise LocalBusError(f"session closed: {self._closed_reason()}")
        events = self.peer.share(pattern, time.time())
        self.flush()
        return events

    async def sync(self, timeout: float = 30.0) -> None:
        """Run anti-entropy with the hub until both sides hold the same patterns."""
        mark = len(self.events)
        if self.closed:
            raise LocalBusError(f"session closed: {self._closed_reason()}")
        self.peer.request_sync(time.time())
        self.flush()
        await self.wait_for(lambda e: isinstance(e, InSync), timeout, start=mark)

    def open_stream(
        self,
        kind: FrameType,
        meta: dict[str, Any] | None = None,
        priority: Priority = Priority.NORMAL,
    ) -> int:
        sid = self.peer.conn.open_stream(time.time(), kind, meta, priority)
        self.flush()
        return sid

    def send_stream(self, stream_id: int, data: bytes, *, end: bool = False) -> None:
        self.peer.conn.send_stream(time.time(), stream_id, data, end=end)
        self.flush()

    async def close(self) -> None:
        if not self.closed:
            self.peer.conn.close()
            self.flush()
            self.closed = True
        if self._timer is not None:
            self._timer.cancel()
        await asyncio.sleep(0)
        result = self._close_transport()
        if asyncio.iscoroutine(result):
            await result


async def connect(
    url: str,
    *,
    signer: Any,
    verifier: Any,
    trusted: set[bytes] | None,
    cert_hash: str | None = None,
    info: dict[str, Any] | None = None,
    timeout: float = 10.0,
    announce_trust: bool = False,
) -> BusClient:
    """Open a session with a hub: ``https://`` (WebTransport, pinned by ``cert_hash``) or
    ``ws://`` (WebSocket). ``announce_trust`` tells the hub the trusted authors so it sends
    only their patterns (saves downloading what would be rejected; reveals the trust list
    to the hub operator, hence off by default)."""
    if announce_trust and trusted is not None:
        info = dict(info or {}, authors=sorted(k.hex() for k in trusted))
    peer = BusPeer(
        signer=signer,
        verifier=verifier,
        nonce_source=secrets.token_bytes,
        trusted=trusted,
        info=info,
    )
    client = BusClient(peer)
    scheme = urlsplit(url).scheme
    if scheme == "https":
        from .quic import open_webtransport

        await open_webtransport(url, client, cert_hash=cert_hash, timeout=timeout)
    elif scheme == "ws":
        await open_websocket(url, client, timeout=timeout)
    else:
        raise LocalBusError(f"hub URL must start with https:// or ws://, got {url!r}")
    try:
        await client.start(timeout)
    except BaseException:
        await client.close()
        raise
    return client


async def connect_memory(
    server: HubServer,
    *,
    signer: Any,
    verifier: Any,
    trusted: set[bytes] | None,
    info: dict[str, Any] | None = None,
    timeout: float = 10.0,
) -> BusClient:
    """A session with an in-process ``HubServer`` through an in-memory transport (no sockets):
    the fake behind the transport seam, for tests and single-process setups. Bytes cross on
    the next loop iteration, as they would through a socket, so there is no re-entrancy."""
    peer = BusPeer(
        signer=signer,
        verifier=verifier,
        nonce_source=secrets.token_bytes,
        trusted=trusted,
        info=info,
    )
    client = BusClient(peer)
    loop = asyncio.get_running_loop()
    server._next += 1
    sid = ("memory", server._next)
    state = {"open": True}

    def to_client(data: bytes) -> None:
        loop.call_soon(client.feed, data)

    def to_hub(data: bytes) -> None:
        if state["open"]:
            loop.call_soon(server.receive_data, sid, data)

    def hang_up() -> None:  # the hub ended the session
        state["open"] = False
        loop.call_soon(client.feed, b"")

    def close() -> None:  # the client ended it
        if state["open"]:
            state["open"] = False
            loop.call_soon(server.unregister, sid)

    client.attach(to_hub, close)
    server.register(sid, to_client, close=hang_up)
    await client.start(timeout)
    return client
