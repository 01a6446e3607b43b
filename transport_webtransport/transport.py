"""Byte-stream transports in the browser, through the JS FFI: WebTransport or WebSocket.

A transport here is the smallest thing the bus needs: ``send(bytes)``, ``await recv()``
(every byte received since the previous call; ``b""`` once it closed) and ``close()``. Both
kinds carry the same ordered byte stream, so the sans-IO ``BusPeer`` above them cannot tell
them apart: same frames, same signatures, same semantics.

Choice (``open_transport``): WebTransport over HTTP/3 when the engine has it (Chromium,
Firefox), pinned to the hub's certificate with ``serverCertificateHashes`` (SHA-256 of the
DER, what ``reasoningbank hub`` prints); otherwise (WebKit) a WebSocket to the hub's
``ws://`` endpoint on the same port number. Feature detection, never user-agent sniffing.

Why one bidirectional stream and no datagrams: the hub maps each WebTransport bidirectional
stream to one bus session (``reasoningbank/bus/aio/quic.py``), and every bus frame (gossip
included) is signed and sequenced inside that session, so gossip rides the same ordered
stream as requests, snapshots and reasoning streams; the weighted-fair scheduler of the
connection keeps them from starving each other.
"""

from __future__ import annotations

from importlib import resources
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from reasoningbank.bus.errors import LocalBusError

__all__ = [
    "JsTransport",
    "TransportError",
    "glue",
    "has_webtransport",
    "open_transport",
    "websocket_url",
]

_glue: Any = None


class TransportError(LocalBusError):
    """The hub could not be reached (or the session could not be opened) over this transport."""


def glue() -> Any:
    """The object ``glue.js`` evaluates to (loaded once per interpreter)."""
    global _glue
    if _glue is None:
        try:
            from pyodide.code import run_js  # type: ignore[import-not-found]
        except ImportError as exc:
            raise TransportError("browser transports need Pyodide (the js module)") from exc
        source = resources.files(__package__).joinpath("glue.js").read_text(encoding="utf-8")
        _glue = run_js(source)
    return _glue


def has_webtransport() -> bool:
    """True when this engine implements WebTransport (feature detection)."""
    return bool(glue().hasWebTransport())


def websocket_url(url: str) -> str:
    """The hub's WebSocket endpoint for its WebTransport URL (same host and port, TCP)."""
    parts = urlsplit(url)
    if parts.scheme in ("ws", "wss"):
        return url
    scheme = "ws" if parts.scheme in ("https", "http") else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path or "/bus", parts.query, ""))


def _js_error(exc: BaseException) -> str:
    js_error = getattr(exc, "js_error", None)
    if js_error is not None:
        name = str(getattr(js_error, "name", "") or "Error")
        return f"{name}: {getattr(js_error, 'message', '') or js_error}"
    return str(exc) or type(exc).__name__


class JsTransport:
    """A connected pipe from ``glue.js`` (``kind`` is ``"webtransport"`` or ``"websocket"``)."""

    def __init__(self, handle: Any, url: str) -> None:
        self._handle = handle
        self.kind: str = str(handle.kind)
        self.url = url
        from pyodide.ffi import to_js  # type: ignore[import-not-found]

        self._to_js = to_js

    @property
    def closed(self) -> bool:
        return bool(self._handle.closed)

    @property
    def reason(self) -> str:
        return str(self._handle.reason or "")

    def send(self, data: bytes) -> bool:
        """Queue ``data`` on the stream (in order); False once the transport closed."""
        if not data:
            return True
        return bool(self._handle.send(self._to_js(data)))

    async def recv(self) -> bytes:
        """Everything received since the last call; ``b""`` when the transport closed."""
        chunk = await self._handle.read()
        if chunk is None:
            return b""
        return bytes(chunk.to_bytes())

    def close(self) -> None:
        self._handle.close()


async def open_transport(
    url: str,
    *,
    cert_hash: str | None = None,
    ws_url: str | None = None,
    prefer: str = "auto",
    timeout: float = 10.0,
) -> JsTransport:
    """Connect to a hub. ``url`` is its ``https://HOST:PORT/bus`` WebTransport URL (or a
    ``ws://`` URL); ``prefer`` is ``"auto"`` (WebTransport if the engine has it, else
    WebSocket), ``"webtransport"`` or ``"websocket"``."""
    api = glue()
    ms = int(timeout * 1000)
    scheme = urlsplit(url).scheme
    use_wt = scheme == "https" and prefer != "websocket"
    if use_wt and not api.hasWebTransport():
        if prefer == "webtransport":
            raise TransportError("this browser has no WebTransport")
        use_wt = False
    if use_wt:
        # Without cert_hash the browser needs a CA-signed certificate: a hub's self-signed
        # one is only accepted through serverCertificateHashes.
        try:
            handle = await api.openWebTransport(url, cert_hash, ms)
        except Exception as exc:
            raise TransportError(f"WebTransport to {url} failed: {_js_error(exc)}") from exc
        return JsTransport(handle, url)
    target = ws_url or websocket_url(url)
    try:
        handle = await api.openWebSocket(target, ms)
    except Exception as exc:
        raise TransportError(f"WebSocket to {target} failed: {_js_error(exc)}") from exc
    return JsTransport(handle, target)
