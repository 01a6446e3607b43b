"""WebTransport over HTTP/3 (aioquic): the hub's listener and the CPython client.

Recipe (verified against Chromium and Firefox): ``H3Connection(enable_webtransport=True)``,
``max_datagram_frame_size=65536``, CONNECT answered with ``:status 200`` and
``sec-webtransport-http3-draft: draft02``; a self-signed ECDSA P-256 certificate valid for
less than 14 days, which browsers pin through ``serverCertificateHashes`` (SHA-256 of the
DER). Each bus session is one bidirectional WebTransport stream.

Certificate pinning in the CPython client: with ``cert_hash`` the client compares the SHA-256
of the server certificate's DER with the pin as soon as the TLS handshake completes (the
handshake itself has already checked that the server holds the certificate's private key,
through CertificateVerify) and aborts before sending any application byte on mismatch.
Without ``cert_hash`` the normal CA verification applies. Verification is never skipped.

The aioquic client treats data on client-initiated bidirectional streams as HTTP/3 request
streams, so ``_ClientProtocol`` takes ``StreamDataReceived`` for its bus stream before
``H3Connection.handle_event`` sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import hmac
import ipaddress
import socket
import ssl
from typing import Any, cast
from urllib.parse import urlsplit

from aioquic.asyncio.client import connect as quic_connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.asyncio.server import QuicServer, serve
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import HeadersReceived, WebTransportStreamDataReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import (
    ConnectionTerminated,
    HandshakeCompleted,
    ProtocolNegotiated,
    QuicEvent,
    StreamDataReceived,
    StreamReset,
)

from ..errors import LocalBusError

__all__ = ["Certificate", "generate_certificate", "open_webtransport", "serve_webtransport"]

CERT_LIFETIME = datetime.timedelta(days=10)  # browsers refuse pinned certs over 14 days


class Certificate:
    """A certificate and its key (``cryptography`` objects) plus the pin browsers use."""

    def __init__(self, cert: Any, key: Any) -> None:
        from cryptography.hazmat.primitives.serialization import Encoding

        self.cert, self.key = cert, key
        self.der: bytes = cert.public_bytes(Encoding.DER)
        self.sha256: str = hashlib.sha256(self.der).hexdigest()


def generate_certificate(
    hosts: list[str] | None = None, now: datetime.datetime | None = None
) -> Certificate:
    """Self-signed ECDSA P-256 certificate for ``hosts``, valid 10 days from ``now``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    hosts = hosts or ["localhost", "127.0.0.1", "::1"]
    now = now or datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "reasoningbank hub")])
    alt: list[x509.GeneralName] = []
    for h in hosts:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            alt.append(x509.DNSName(h))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + CERT_LIFETIME)
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Certificate(cert, key)


#: Bytes asked for the hub's UDP receive and send buffers (the kernel caps them at
#: net.core.rmem_max / wmem_max). Every session's ACKs land on this one socket: at the Linux
#: default (208 KiB) the ACK burst answering a broadcast to 500 sessions overflowed it and
#: the kernel dropped them (read as loss: retransmits, slower handshakes). 1 MiB holds one
#: such burst; a much deeper queue would only make a new frame wait behind stale ACKs.
UDP_SOCKET_BUFFER = 1024 * 1024


def widen_socket_buffers(sock: Any) -> None:
    """Ask for ``UDP_SOCKET_BUFFER`` on ``sock`` (best effort: the OS may give less)."""
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, option, UDP_SOCKET_BUFFER)


# -- server ----------------------------------------------------------------------------------
class _HubProtocol(QuicConnectionProtocol):
    """One QUIC connection to the hub; each WebTransport bidi stream is a bus session."""

    server: Any = None  # HubServer, set by serve_webtransport

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._http: H3Connection | None = None
        self._sessions: set[int] = set()  # CONNECT stream ids we accepted
        self._streams: set[int] = set()
        self._finished: set[int] = set()  # streams we ended: later data is ignored

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ProtocolNegotiated):
            self._http = H3Connection(self._quic, enable_webtransport=True)
        elif isinstance(event, ConnectionTerminated):
            for stream_id in list(self._streams):
                self._drop(stream_id)
            return
        elif isinstance(event, StreamReset) and event.stream_id in self._streams:
            self._drop(event.stream_id)
        if self._http is None:
            return
        for h3 in self._http.handle_event(event):
            if isinstance(h3, HeadersReceived):
                self._on_headers(h3)
            elif isinstance(h3, WebTransportStreamDataReceived):
                self._on_stream(h3)

    def _release(self, stream_id: int) -> None:
        if stream_id in self._streams:
            self._streams.discard(stream_id)
            self.server.release_connection()

    def _drop(self, stream_id: int) -> None:
        """A bus stream ended or its connection died: the hub session and its slot go."""
        self._release(stream_id)
        self.server.unregister((id(self), stream_id))

    def _session_status(self, headers: dict[bytes, bytes]) -> bytes:
        """The answer to a WebTransport CONNECT: 200 opens the session.

        Why the Origin check: a page on another site must not reach the hub through the
        user's browser; browsers always send ``origin`` on these requests."""
        origin = headers.get(b"origin")
        if self.server.closing:  # shutting down: refuse, the client will retry later
            return b"503"
        if headers.get(b":path", b"").split(b"?")[0] != b"/bus":
            return b"404"
        if not self.server.admits_origin(None if origin is None else origin.decode("latin-1")):
            return b"403"
        if self.server.connections >= self.server.max_connections:
            return b"503"
        return b"200"

    def _on_headers(self, ev: HeadersReceived) -> None:
        assert self._http is not None
        h = dict(ev.headers)
        if h.get(b":method") == b"CONNECT" and h.get(b":protocol") == b"webtransport":
            status = self._session_status(h)
            if status == b"200":
                self._sessions.add(ev.stream_id)
                self._http.send_headers(
                    ev.stream_id,
                    [
                        (b":status", b"200"),
                        (b"sec-webtransport-http3-draft", b"draft02"),
                    ],
                )
            else:
                self._http.send_headers(ev.stream_id, [(b":status", status)], end_stream=True)
        else:
            body = b"reasoningbank neural-bus hub: WebTransport at /bus\n"
            self._http.send_headers(
                ev.stream_id,
                [
                    (b":status", b"200"),
                    (b"content-type", b"text/plain"),
                    (b"content-length", str(len(body)).encode()),
                ],
            )
            self._http.send_data(ev.stream_id, body, end_stream=True)
        self.transmit()

    def _on_stream(self, ev: WebTransportStreamDataReceived) -> None:
        if ev.session_id not in self._sessions or ev.stream_id in self._finished:
            return
        sid = (id(self), ev.stream_id)
        stream_id = ev.stream_id
        if stream_id not in self._streams:

            def end() -> None:
                self._release(stream_id)
                self._finished.add(stream_id)
                self._quic.send_stream_data(stream_id, b"", end_stream=True)

            if not self.server.take_connection():  # at the cap: no session for this stream
                end()
                self.transmit()
                return
            self._streams.add(stream_id)

            def write(data: bytes) -> None:
                self._quic.send_stream_data(stream_id, data)

            def buffered() -> int:  # written but not yet acknowledged by the peer
                stream = self._quic._streams.get(stream_id)
                return len(stream.sender._buffer) if stream is not None else 0

            self.server.register(sid, write, self.transmit, end, buffered)
        if ev.data:
            self.server.receive_data(sid, ev.data)
        if ev.stream_ended and stream_id in self._streams:
            self._drop(stream_id)


async def serve_webtransport(
    server: Any, host: str, port: int, certificate: Certificate | None, reuse_port: bool = False
) -> tuple[Any, int, str]:
    """Start the HTTP/3 listener for ``server`` (a ``HubServer``): (quic server, port, pin)."""
    cert = certificate or generate_certificate()
    config = QuicConfiguration(
        is_client=False,
        alpn_protocols=H3_ALPN,
        max_datagram_frame_size=65536,
        idle_timeout=120.0,
    )
    config.certificate, config.private_key = cert.cert, cert.key
    protocol = type("HubProtocol", (_HubProtocol,), {"server": server})
    if reuse_port:  # aioquic's ``serve`` cannot set SO_REUSEPORT: same endpoint, by hand
        _, quic_server = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: QuicServer(configuration=config, create_protocol=protocol),
            local_addr=(host, port),
            reuse_port=True,
        )
    else:
        quic_server = await serve(host, port, configuration=config, create_protocol=protocol)
    assert quic_server._transport is not None
    widen_socket_buffers(quic_server._transport.get_extra_info("socket"))
    bound = quic_server._transport.get_extra_info("sockname")[1]
    return quic_server, bound, cert.sha256


# -- client ----------------------------------------------------------------------------------
class _ClientProtocol(QuicConnectionProtocol):
    def __init__(self, *args: Any, pin: bytes | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._http = H3Connection(self._quic, enable_webtransport=True)
        self.pin = pin
        self.pin_error: str | None = None
        self.session_id: int | None = None
        self.bus_stream: int | None = None
        self.on_data: Any = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # A failure may be reported before anyone awaits ``ready``; mark it as retrieved.
        self.ready.add_done_callback(lambda f: f.cancelled() or f.exception())

    async def wait_connected(self) -> None:
        """aioquic's wait, but a handshake abandoned on timeout fails quietly later (its
        waiter's ConnectionError is marked retrieved instead of printed at exit)."""
        try:
            await super().wait_connected()
        except asyncio.CancelledError:
            if self._connected_waiter is not None:
                self._connected_waiter.add_done_callback(lambda f: f.cancelled() or f.exception())
            raise

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, HandshakeCompleted) and self.pin is not None:
            cert = self._quic.tls._peer_certificate  # aioquic keeps the parsed leaf here
            from cryptography.hazmat.primitives.serialization import Encoding

            der = cert.public_bytes(Encoding.DER) if cert is not None else b""
            if not hmac.compare_digest(hashlib.sha256(der).digest(), self.pin):
                self.pin_error = "hub certificate does not match the pinned sha256"
                self._quic.close(error_code=0x0128, reason_phrase="certificate pin mismatch")
                self.transmit()
                return
        if isinstance(event, StreamDataReceived) and event.stream_id == self.bus_stream:
            if self.on_data is not None:
                if event.data:
                    self.on_data(event.data)
                if event.end_stream:
                    self.on_data(b"")
            return
        if isinstance(event, ConnectionTerminated):
            if not self.ready.done():
                self.ready.set_exception(
                    LocalBusError(
                        self.pin_error or f"QUIC connection closed: {event.reason_phrase}"
                    )
                )
            if self.on_data is not None:
                self.on_data(b"")
        for h3 in self._http.handle_event(event):
            if isinstance(h3, HeadersReceived) and h3.stream_id == self.session_id:
                status = dict(h3.headers).get(b":status")
                if self.ready.done():
                    continue
                if status == b"200":
                    self.ready.set_result(None)
                else:
                    self.ready.set_exception(LocalBusError(f"hub refused the session: {status!r}"))

    def start_session(self, authority: str, path: str) -> None:
        self.session_id = self._quic.get_next_available_stream_id()
        self._http.send_headers(
            self.session_id,
            [
                (b":method", b"CONNECT"),
                (b":scheme", b"https"),
                (b":authority", authority.encode()),
                (b":path", path.encode()),
                (b":protocol", b"webtransport"),
                (b"sec-webtransport-http3-draft02", b"1"),
            ],
        )
        self.transmit()


async def open_webtransport(
    url: str, client: Any, *, cert_hash: str | None = None, timeout: float = 10.0
) -> None:
    """Connect ``client`` (a ``BusClient``) to a hub over WebTransport."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 443
    config = QuicConfiguration(
        is_client=True,
        alpn_protocols=H3_ALPN,
        max_datagram_frame_size=65536,
        server_name=host,
    )
    pin = None
    if cert_hash is not None:
        try:
            pin = bytes.fromhex(cert_hash.replace(":", "").strip())
        except ValueError:
            pin = b""
        if len(pin) != 32:
            raise LocalBusError("--cert-hash must be the 64-hex-digit SHA-256 the hub printed")
        # The pin replaces CA validation; the check happens in _ClientProtocol at handshake.
        config.verify_mode = ssl.CERT_NONE
    stack = quic_connect(
        host,
        port,
        configuration=config,
        wait_connected=True,
        create_protocol=lambda *a, **kw: _ClientProtocol(*a, pin=pin, **kw),
    )
    try:
        entered = await asyncio.wait_for(stack.__aenter__(), timeout)
        protocol = cast(_ClientProtocol, entered)
    except (ConnectionError, asyncio.TimeoutError) as exc:
        raise LocalBusError(f"could not connect to {url}: {exc!r}") from exc

    async def close() -> None:
        protocol.close()
        try:
            await asyncio.wait_for(stack.__aexit__(None, None, None), 2.0)
        except (asyncio.TimeoutError, ConnectionError, LocalBusError):
            pass

    try:
        if protocol.pin_error:
            raise LocalBusError(protocol.pin_error)
        protocol.start_session(f"{host}:{port}", parts.path or "/bus")
        await asyncio.wait_for(protocol.ready, timeout)
    except ConnectionError as exc:
        await close()
        raise LocalBusError(protocol.pin_error or f"could not connect to {url}") from exc
    except BaseException:
        await close()
        raise
    protocol.bus_stream = protocol._http.create_webtransport_stream(protocol.session_id)  # type: ignore[arg-type]
    protocol.on_data = lambda data: client.feed(data)  # late-bound: feed may be swapped
    stream_id = protocol.bus_stream

    def write(data: bytes) -> None:
        protocol._quic.send_stream_data(stream_id, data)
        protocol.transmit()

    client.attach(write, close)
