"""asyncio WebSocket endpoints of the bus: the client connection and the hub's listener.

Why here: ``bus/ws.py`` is the sans-IO RFC 6455 codec; these protocols are the sockets,
timers and handshakes around it. Both are callback protocols rather than streams: no task
per connection and no extra copies, which matters when one process holds hundreds of
sessions (the load test).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Hashable
from typing import Any
from urllib.parse import urlsplit

from ..errors import LocalBusError, RemoteBusError
from ..ws import (
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

__all__ = ["BUS_PATH", "WRITE_CHUNK", "BroadcastFramer", "open_websocket", "write_chunked"]

BUS_PATH = "/bus"
#: Largest piece handed to a transport in one write (one WebSocket message): receivers
#: refuse messages over 1 MiB, and the bus re-frames the byte stream anyway.
WRITE_CHUNK = 256 * 1024


class BroadcastFramer:
    """Frames server-to-client WebSocket messages, once per distinct payload in a row.

    Why: a broadcast writes the same bytes to every session, and a server's frames are
    unmasked, so the framed message is identical for all of them. Remembering the last
    payload (compared by value) turns N framings into one. ``encodes`` counts real ones."""

    def __init__(self) -> None:
        self._codec = WebSocket(is_client=False)
        self._payload = b""
        self._framed = b""
        self.encodes = 0

    def frame(self, data: bytes) -> bytes:
        if not self._framed or data != self._payload:
            self._payload, self._framed = data, self._codec.send(data)
            self.encodes += 1
        return self._framed


def write_chunked(write: Callable[[bytes], None], data: bytes) -> None:
    """Hand ``data`` to ``write`` in pieces of at most ``WRITE_CHUNK`` bytes."""
    for i in range(0, len(data), WRITE_CHUNK):
        write(data[i : i + WRITE_CHUNK])


# -- WebSocket client ------------------------------------------------------------------------
class _WsClientProtocol(asyncio.Protocol):
    """Client side of the WebSocket endpoint: handshake, then WebSocket messages → ``feed``."""

    def __init__(self, client: Any, host: str, path: str) -> None:  # client: a BusClient
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


async def open_websocket(url: str, client: Any, timeout: float = 10.0) -> None:
    """Connect ``client`` (a ``BusClient``) to a hub's WebSocket endpoint at ``url``."""
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


class _WsServerProtocol(asyncio.Protocol):
    """One WebSocket connection to the hub: HTTP upgrade, then bus bytes in messages.

    Why the cap and the deadline: each connection holds a file descriptor, so connections
    that never finish their upgrade (or too many at once) would exhaust them."""

    #: Shared by every server connection of this process (see ``BroadcastFramer``).
    framer = BroadcastFramer()

    def __init__(self, server: Any) -> None:  # server: a HubServer
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
            self.transport.write(self.framer.frame(data))

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
                self.server.receive_data(self.sid, ev.data)
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
