"""asyncio driver of the hub: ``HubServer`` runs a sans-IO ``Hub`` on real transports.

Serves QUIC/WebTransport (``quic.py``) and WebSocket (``websocket.py``) on the same port
number (UDP for QUIC, TCP for WebSocket). Every loop has the aioquic shape: feed bytes →
drain events → flush bytes → re-arm timers; ``time.time()`` is the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from ..hub import Hub
from .websocket import BUS_PATH, _WsServerProtocol, write_chunked

__all__ = ["MAX_CONNECTIONS", "TRANSPORT_WINDOW", "UPGRADE_TIMEOUT", "HubServer"]

Callback = Callable[[], None]
#: write, transmit (QUIC), close, buffered (bytes the transport still holds)
_Writers = tuple[
    Callable[[bytes], None], Callback | None, Callback | None, Callable[[], int] | None
]

#: Open WebSocket connections plus WebTransport sessions a hub accepts (each costs a file
#: descriptor or a QUIC stream; the rest are refused with 503).
MAX_CONNECTIONS = 512
#: Seconds a TCP connection may take to complete its WebSocket upgrade.
UPGRADE_TIMEOUT = 10.0
#: Bytes the hub lets sit in one session's transport; the rest waits in the session, where
#: it counts against the hub's outbound budget (a reader that stops is cut, not buffered).
TRANSPORT_WINDOW = 256 * 1024
#: Seconds between retries for sessions whose transport was full.
BACKLOG_RETRY = 0.02


# -- hub server ------------------------------------------------------------------------------
class HubServer:
    """Runs a ``Hub`` on QUIC/WebTransport and WebSocket; flushes every dirty session."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._writers: dict[Hashable, _Writers] = {}
        self._backlog: set[Hashable] = set()  # sessions with data their transport refused
        self._retry: asyncio.TimerHandle | None = None
        self._turn: asyncio.Handle | None = None  # the end-of-turn flush, once scheduled
        self._servers: list[Any] = []
        self._tick: asyncio.Task[None] | None = None
        self.url: str | None = None
        self.ws_url: str | None = None
        self.cert_sha256: str | None = None
        self.closing = False  # shutting down: new sessions are refused
        self._next = 0
        self._ws_servers: list[Any] = []
        #: Called first in every ``flush`` (after each input): a cluster link publishes
        #: what the hub's journal queued (``cluster.py``).
        self.before_flush: Callback | None = None

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

    def receive_data(self, sid: Hashable, data: bytes) -> None:
        self.hub.receive_data(sid, data, time.time())
        self.flush_soon()

    def flush_soon(self) -> None:
        """Flush once this loop turn's input is in: a session that several inputs of the
        turn wrote to (many publishers, or one sending several frames) gets one write."""
        if self.closing:
            self.flush()
        elif self._turn is None:
            self._turn = asyncio.get_running_loop().call_soon(self._flush_turn)

    def _flush_turn(self) -> None:
        self._turn = None
        self.flush()

    def flush(self) -> None:
        """Write what every dirty (or backlogged) session has, as far as its transport has
        room (one write per session: all its frames at once); the hub cuts a session whose
        backlog passes its outbound budget."""
        if self.before_flush is not None:
            self.before_flush()
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
            write_chunked(write, data)
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
        reuse_port: bool = False,
    ) -> None:
        """Listen on UDP ``port`` (HTTP/3) and TCP ``port`` (WebSocket); 0 picks free ports.

        ``origins``: the web origins (``http://localhost:8765``) whose pages may open
        sessions; ``None`` admits pages from any origin. Clients that send no Origin (not
        browsers) are always admitted. ``max_connections`` caps open WebSocket connections
        plus WebTransport sessions; a WebSocket upgrade not done in ``upgrade_timeout``
        seconds is dropped. ``reuse_port``: several processes serve the same ports
        (``SO_REUSEPORT``; the kernel keeps each connection's 4-tuple on one of them).
        """
        self.origins = None if origins is None else frozenset(origins)
        self.max_connections = max_connections
        self.upgrade_timeout = upgrade_timeout
        self.connections = 0
        if websocket:
            loop = asyncio.get_running_loop()
            server = await loop.create_server(
                self._ws_protocol, host, port, reuse_port=reuse_port or None
            )
            self._ws_servers.append(server)
            ws_port = server.sockets[0].getsockname()[1]
            self.ws_url = f"ws://{_hostport(host, ws_port)}{BUS_PATH}"
            if port == 0:
                port = ws_port  # try the same number for QUIC
        if quic:
            from .quic import serve_webtransport

            qs, qport, digest = await serve_webtransport(
                self, host, port, certificate, reuse_port=reuse_port
            )
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


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
