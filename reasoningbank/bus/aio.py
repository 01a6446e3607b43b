"""asyncio driver: the client session (``BusClient``), the hub server, and WebSocket I/O.

The only bus module (with ``quic.py``) that touches sockets, the clock and the OS RNG.
Every loop has the aioquic shape: feed bytes → drain events → flush bytes → re-arm timers.
``time.time()`` is the clock (intents carry wall-clock timestamps compared across hosts);
``secrets.token_bytes`` supplies nonces and WebSocket masks.

URLs: ``https://HOST:PORT/bus`` is WebTransport over HTTP/3 (``quic.py``);
``ws://HOST:PORT/bus`` is the WebSocket endpoint for browsers without WebTransport. A hub
serves both on the same port number (UDP for QUIC, TCP for WebSocket).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Any
from urllib.parse import urlsplit

from .errors import LocalBusError, RemoteBusError
from .events import BusEvent, HelloReceived, InSync, PeerClosed
from .frames import FrameType, Priority
from .hub import Hub
from .peer import BusPeer
from .waiting import EventHistory
from .ws import (
    WebSocket,
    WsClose,
    WsMessage,
    client_handshake,
    parse_client_handshake,
    parse_server_handshake,
    rejection_response,
    server_handshake_response,
    split_handshake,
)

__all__ = ["BusClient", "HubServer", "connect", "connect_memory"]

Writer = Callable[[bytes], None]
Callback = Callable[[], None]
#: write, transmit (QUIC), close, buffered (bytes the transport still holds)
_Writers = tuple[Writer, Callback | None, Callback | None, Callable[[], int] | None]

BUS_PATH = "/bus"
#: Open WebSocket connections plus WebTransport sessions a hub accepts (each costs a file
#: descriptor or a QUIC stream; the rest are refused with 503).
MAX_CONNECTIONS = 512
#: Seconds a TCP connection may take to complete its WebSocket upgrade.
UPGRADE_TIMEOUT = 10.0
#: Largest piece handed to a transport in one write (one WebSocket message): receivers
#: refuse messages over 1 MiB, and the bus re-frames the byte stream anyway.
WRITE_CHUNK = 256 * 1024
#: Bytes the hub lets sit in one session's transport; the rest waits in the session, where
#: it counts against the hub's outbound budget (a reader that stops is cut, not buffered).
TRANSPORT_WINDOW = 256 * 1024
#: Seconds between retries for sessions whose transport was full.
BACKLOG_RETRY = 0.02


def _write_chunked(write: Callable[[bytes], None], data: bytes) -> None:
    for i in range(0, len(data), WRITE_CHUNK):
        write(data[i : i + WRITE_CHUNK])


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
            events = self.peer.receive(data, time.time())
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
            _write_chunked(self._write, data)

    async def _tick(self) -> None:
        while not self.closed:
            timer = self.peer.conn.get_timer()
            delay = 1.0 if timer is None else max(0.05, min(5.0, timer - time.time()))
            await asyncio.sleep(delay)
            self.peer.conn.handle_timer(time.time())
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
            loop.call_soon(server.receive, sid, data)

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


# -- WebSocket client ------------------------------------------------------------------------
class _WsClientProtocol(asyncio.Protocol):
    """Client side of the WebSocket endpoint: handshake, then WebSocket messages → ``feed``.

    A callback protocol rather than streams: no task per connection and no extra copies,
    which matters when one process holds hundreds of sessions (the load test)."""

    def __init__(self, client: BusClient, host: str, path: str) -> None:
        self.client = client
        self.request, self.key = client_handshake(host, path, secrets.token_bytes(16))
        self.ws = WebSocket(is_client=True, mask_source=secrets.token_bytes)
        self.buf = bytearray()
        self.open = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.ready.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.request)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        if not self.open:
            self.buf += data
            try:
                block = split_handshake(self.buf)
                if block is None:
                    return
                parse_server_handshake(block, self.key)
            except RemoteBusError as exc:
                self.ready.set_exception(LocalBusError(f"WebSocket handshake failed: {exc}"))
                self._abort()
                return
            self.open = True
            self.ready.set_result(None)
            data = bytes(self.buf)
            if not data:
                return
        try:
            events, reply = self.ws.receive_data(data)
        except RemoteBusError:
            self._abort()
            return
        if reply and self.transport is not None:
            self.transport.write(reply)
        for ev in events:
            if isinstance(ev, WsMessage):
                self.client.feed(ev.data)
            elif isinstance(ev, WsClose):
                self._abort()

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(LocalBusError("hub closed the WebSocket connection"))
        if self.open:
            self.client.feed(b"")

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(self.ws.send(data))

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(self.ws.close())
            self.transport.close()


async def open_websocket(url: str, client: BusClient, timeout: float = 10.0) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    loop = asyncio.get_running_loop()
    try:
        _, proto = await asyncio.wait_for(
            loop.create_connection(
                lambda: _WsClientProtocol(client, f"{host}:{port}", parts.path or BUS_PATH),
                host,
                port,
            ),
            timeout,
        )
        await asyncio.wait_for(proto.ready, timeout)
    except (OSError, asyncio.TimeoutError) as exc:
        raise LocalBusError(f"could not connect to {url}: {exc!r}") from exc
    client.attach(proto.write, proto.close)


# -- hub server ------------------------------------------------------------------------------
class HubServer:
    """Runs a ``Hub`` on QUIC/WebTransport and WebSocket; flushes every dirty session."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._writers: dict[Hashable, _Writers] = {}
        self._backlog: set[Hashable] = set()  # sessions with data their transport refused
        self._retry: asyncio.TimerHandle | None = None
        self._servers: list[Any] = []
        self._tick: asyncio.Task[None] | None = None
        self.url: str | None = None
        self.ws_url: str | None = None
        self.cert_sha256: str | None = None
        self.closing = False  # shutting down: new sessions are refused
        self._next = 0
        self._ws_servers: list[Any] = []

    def register(
        self,
        sid: Hashable,
        write: Callable[[bytes], None],
        transmit: Callback | None = None,
        close: Callback | None = None,
        buffered: Callable[[], int] | None = None,
    ) -> None:
        """A transport opened session ``sid``: ``write`` queues bytes, ``transmit`` (QUIC)
        sends what is queued, ``close`` ends the transport after the hub closed the session,
        ``buffered`` says how many written bytes it still holds (backpressure)."""
        if self.closing:
            if close is not None:
                close()
            return
        self._writers[sid] = (write, transmit, close, buffered)
        self.hub.open_session(sid, time.time())
        self.flush()

    def unregister(self, sid: Hashable) -> None:
        self._writers.pop(sid, None)
        self._backlog.discard(sid)
        self.hub.close_session(sid)

    def receive(self, sid: Hashable, data: bytes) -> None:
        self.hub.receive(sid, data, time.time())
        self.flush()

    def flush(self) -> None:
        """Write what every dirty (or backlogged) session has, as far as its transport has
        room; the hub cuts a session whose backlog passes its outbound budget."""
        transmits: set[Callable[[], None]] = set()  # one QUIC transmit per connection
        for sid in self.hub.take_dirty() | self._backlog:
            entry = self._writers.get(sid)
            if entry is None:
                continue
            write, transmit, _, buffered = entry
            held = buffered() if buffered is not None else 0
            data = self.hub.data_to_send(sid, max(0, TRANSPORT_WINDOW - held), buffered=held)
            if self.hub.queued_bytes(sid):
                self._backlog.add(sid)
            else:
                self._backlog.discard(sid)
            if not data:
                continue
            _write_chunked(write, data)
            if transmit is not None:
                transmits.add(transmit)
        for sid in self.hub.take_ended():  # CLOSE frames were written above; now hang up
            entry = self._writers.get(sid)
            self.unregister(sid)
            if entry is not None and entry[2] is not None:
                entry[2]()
            if entry is not None and entry[1] is not None:
                transmits.add(entry[1])
        for transmit in transmits:
            transmit()
        if self._backlog and self._retry is None and not self.closing:
            self._retry = asyncio.get_running_loop().call_later(BACKLOG_RETRY, self._drain)

    def _drain(self) -> None:
        self._retry = None
        self.flush()

    async def start(
        self,
        host: str = "127.0.0.1",
        port: int = 4433,
        *,
        quic: bool = True,
        websocket: bool = True,
        certificate: Any = None,
        origins: Iterable[str] | None = (),
        max_connections: int = MAX_CONNECTIONS,
        upgrade_timeout: float = UPGRADE_TIMEOUT,
    ) -> None:
        """Listen on UDP ``port`` (HTTP/3) and TCP ``port`` (WebSocket); 0 picks free ports.

        ``origins``: the web origins (``http://localhost:8765``) whose pages may open
        sessions; ``None`` admits pages from any origin. Clients that send no Origin (not
        browsers) are always admitted. ``max_connections`` caps open WebSocket connections
        plus WebTransport sessions; a WebSocket upgrade not done in ``upgrade_timeout``
        seconds is dropped.
        """
        self.origins = None if origins is None else frozenset(origins)
        self.max_connections = max_connections
        self.upgrade_timeout = upgrade_timeout
        self.connections = 0
        if websocket:
            loop = asyncio.get_running_loop()
            server = await loop.create_server(self._ws_protocol, host, port)
            self._ws_servers.append(server)
            ws_port = server.sockets[0].getsockname()[1]
            self.ws_url = f"ws://{_hostport(host, ws_port)}{BUS_PATH}"
            if port == 0:
                port = ws_port  # try the same number for QUIC
        if quic:
            from .quic import serve_webtransport

            qs, qport, digest = await serve_webtransport(self, host, port, certificate)
            self._servers.append(qs)
            self.url = f"https://{_hostport(host, qport)}{BUS_PATH}"
            self.cert_sha256 = digest
        self._tick = asyncio.get_running_loop().create_task(self._timers())

    def admits_origin(self, origin: str | None) -> bool:
        """Why: a page on another site, in the user's browser, must not reach a hub on
        localhost. Browsers always send Origin on WebSocket upgrades and WebTransport
        sessions, so a request without one is not from a page."""
        return origin is None or self.origins is None or origin in self.origins

    def take_connection(self) -> bool:
        """Count a new connection (or WebTransport session); False once at the cap."""
        if self.connections >= self.max_connections:
            return False
        self.connections += 1
        return True

    def release_connection(self) -> None:
        self.connections -= 1

    async def _timers(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.hub.handle_timer(time.time())
            self.flush()

    async def close(self) -> None:
        """Stop accepting sessions, say goodbye on every open one (CLOSE frame, then hang
        up), then stop listening."""
        self.closing = True
        if self._tick is not None:
            self._tick.cancel()
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        for server in self._ws_servers:  # no new TCP connections from here on
            server.close()
        self.hub.close_all("hub shutting down")
        self.flush()
        had_sessions = bool(self._writers)
        for sid in list(self._writers):
            entry = self._writers.pop(sid)
            self.hub.close_session(sid)
            if entry[2] is not None:
                entry[2]()
            if entry[1] is not None:
                entry[1]()
        if had_sessions:  # QUIC paces its packets: give the CLOSE frames a moment to leave
            await asyncio.sleep(0.2)
        for server in self._servers + self._ws_servers:
            server.close()
            if hasattr(server, "wait_closed"):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(server.wait_closed(), 2.0)
        self._servers.clear()
        self._ws_servers.clear()

    def _ws_protocol(self) -> asyncio.Protocol:
        return _WsServerProtocol(self)


class _WsServerProtocol(asyncio.Protocol):
    """One WebSocket connection to the hub: HTTP upgrade, then bus bytes in messages.

    Why the cap and the deadline: each connection holds a file descriptor, so connections
    that never finish their upgrade (or too many at once) would exhaust them."""

    def __init__(self, server: HubServer) -> None:
        self.server = server
        self.buf = bytearray()
        self.ws = WebSocket(is_client=False)
        self.sid: Hashable | None = None
        self.transport: asyncio.Transport | None = None
        self.counted = False
        self.deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if not self.server.take_connection():
            self._refuse("503 Service Unavailable")
            return
        self.counted = True
        self.deadline = asyncio.get_running_loop().call_later(
            self.server.upgrade_timeout, self._upgrade_timed_out
        )

    def _refuse(self, status: str) -> None:
        assert self.transport is not None
        self.transport.write(rejection_response(status))
        self.transport.close()

    def _upgrade_timed_out(self) -> None:
        if self.sid is None and self.transport is not None:
            self.transport.write(rejection_response("408 Request Timeout"))
            self.transport.abort()  # close() would wait on a peer that does not read

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(self.ws.send(data))

    def _upgrade(self) -> bool:
        """Answer the opening handshake once it is complete; True when the session opened."""
        assert self.transport is not None
        try:
            block = split_handshake(self.buf)
            if block is None:
                return False
            upgrade = parse_client_handshake(block)
        except RemoteBusError:
            self._refuse("400 Bad Request")
            return False
        if upgrade.path.split("?", 1)[0] != BUS_PATH:
            self._refuse("404 Not Found")
        elif not self.server.admits_origin(upgrade.origin):
            self._refuse("403 Forbidden")
        else:
            if self.deadline is not None:
                self.deadline.cancel()
            self.transport.write(server_handshake_response(upgrade.key))
            self.server._next += 1
            self.sid = ("ws", self.server._next)
            self.server.register(
                self.sid, self.write, close=self.transport.close, buffered=self.buffered
            )
            return True
        return False

    def buffered(self) -> int:
        """Bytes written but not yet taken by the socket."""
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if self.sid is None:
            self.buf += data
            if not self._upgrade():
                return
            data = bytes(self.buf)
            if not data:
                return
        try:
            events, reply = self.ws.receive_data(data)
        except RemoteBusError:
            self.transport.write(self.ws.close(1002))
            self.transport.close()
            return
        if reply:
            self.transport.write(reply)
        for ev in events:
            if isinstance(ev, WsMessage):
                self.server.receive(self.sid, ev.data)
            elif isinstance(ev, WsClose):
                self.transport.close()
                return

    def connection_lost(self, exc: Exception | None) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
        if self.counted:
            self.server.release_connection()
        if self.sid is not None:
            self.server.unregister(self.sid)


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
