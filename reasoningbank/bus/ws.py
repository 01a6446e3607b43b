"""Minimal RFC 6455 WebSocket, sans-IO: opening handshake and frame codec.

Why our own: WebKit has no WebTransport, so the hub also speaks WebSocket, and the core must
stay stdlib-only. Only what the bus needs: binary messages (each carries whole or partial bus
frames; the bus connection re-frames the byte stream), ping/pong, close. Text messages are
accepted and treated as bytes. Extensions and subprotocols are not negotiated.

Rules enforced (section numbers of RFC 6455): client frames must be masked and server frames
must not be (§5.1); control frames are at most 125 bytes and never fragmented (§5.5);
reserved bits must be 0 without extensions (§5.2); payload lengths use the shortest form
(§5.2, "the minimal number of bytes MUST be used"); a message over ``max_message_size`` is
refused with close code 1009 (§7.4.1).
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from .errors import FrameTooLarge, MalformedFrame

__all__ = [
    "ClientUpgrade",
    "WebSocket",
    "WsClose",
    "WsMessage",
    "accept_key",
    "client_handshake",
    "parse_client_handshake",
    "parse_server_handshake",
    "server_handshake_response",
]

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
MAX_HANDSHAKE = 16 * 1024


@dataclass(frozen=True, slots=True)
class WsMessage:
    """A complete data message."""

    data: bytes


@dataclass(frozen=True, slots=True)
class WsClose:
    """The peer sent a close frame (or the stream is unusable); ``code`` per RFC 6455 §7.4."""

    code: int
    reason: str = ""


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + GUID).digest()).decode("ascii")


def _headers(block: bytes) -> tuple[str, dict[str, str]]:
    try:
        text = block.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes anything
        raise MalformedFrame("bad handshake encoding") from None
    lines = text.split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise MalformedFrame("bad handshake header line")
        headers[name.strip().lower()] = value.strip()
    return lines[0], headers


def split_handshake(buf: bytearray) -> bytes | None:
    """Remove and return the header block (through the blank line) once complete."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > MAX_HANDSHAKE:
            raise FrameTooLarge("handshake too large")
        return None
    block = bytes(buf[:end])
    del buf[: end + 4]
    return block


class ClientUpgrade(NamedTuple):
    """A valid client opening handshake."""

    path: str
    key: str
    "Sec-WebSocket-Key."
    origin: str | None
    "The page's origin; browsers always send it (§4.1, point 8), other clients need not."


def parse_client_handshake(block: bytes) -> ClientUpgrade:
    """Validate a client opening handshake (the hub then decides whether ``origin`` may
    open a session)."""
    request_line, h = _headers(block)
    parts = request_line.split(" ")
    if len(parts) != 3 or parts[0] != "GET" or not parts[2].startswith("HTTP/1.1"):
        raise MalformedFrame("not an HTTP/1.1 GET")
    if h.get("upgrade", "").lower() != "websocket":
        raise MalformedFrame("missing Upgrade: websocket")
    if "upgrade" not in [t.strip().lower() for t in h.get("connection", "").split(",")]:
        raise MalformedFrame("missing Connection: Upgrade")
    if h.get("sec-websocket-version") != "13":
        raise MalformedFrame("unsupported WebSocket version")
    key = h.get("sec-websocket-key", "")
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            raise ValueError
    except ValueError:
        raise MalformedFrame("bad Sec-WebSocket-Key") from None
    return ClientUpgrade(parts[1], key, h.get("origin"))


def server_handshake_response(key: str) -> bytes:
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
    ).encode("ascii")


def rejection_response(status: str = "400 Bad Request") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()


def client_handshake(host: str, path: str, key_bytes: bytes) -> tuple[bytes, str]:
    """Opening handshake request and the key it used (``key_bytes``: 16 random bytes)."""
    key = base64.b64encode(key_bytes).decode("ascii")
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode("ascii")
    return request, key


def parse_server_handshake(block: bytes, key: str) -> None:
    status, h = _headers(block)
    if not status.startswith("HTTP/1.1 101"):
        raise MalformedFrame(f"server refused the upgrade: {status}")
    if h.get("sec-websocket-accept") != accept_key(key):
        raise MalformedFrame("bad Sec-WebSocket-Accept")


class WebSocket:
    """Frame codec for an established WebSocket. ``is_client`` decides masking.

    ``mask_source(4)`` supplies masking keys (clients only); inject randomness, as everywhere
    in the bus.
    """

    def __init__(
        self,
        *,
        is_client: bool,
        max_message_size: int = 1 << 20,
        mask_source: Callable[[int], bytes] | None = None,
    ) -> None:
        self.is_client = is_client
        self.max_message_size = max_message_size
        self._mask = mask_source
        self._buf = bytearray()
        self._parts: list[bytes] = []
        self._parts_size = 0
        self._in_message = False
        self.closed = False

    # -- sending -------------------------------------------------------------------------
    def _frame(self, opcode: int, payload: bytes, fin: bool = True) -> bytes:
        head = bytearray([(0x80 if fin else 0) | opcode])
        mask_bit = 0x80 if self.is_client else 0
        n = len(payload)
        if n < 126:
            head.append(mask_bit | n)
        elif n < 1 << 16:
            head.append(mask_bit | 126)
            head += struct.pack(">H", n)
        else:
            head.append(mask_bit | 127)
            head += struct.pack(">Q", n)
        if self.is_client:
            assert self._mask is not None, "a client WebSocket needs a mask_source"
            key = self._mask(4)
            head += key
            payload = _apply_mask(payload, key)
        return bytes(head) + payload

    def send(self, data: bytes) -> bytes:
        return self._frame(OP_BINARY, data)

    def ping(self, data: bytes = b"") -> bytes:
        return self._frame(OP_PING, data[:125])

    def close(self, code: int = 1000, reason: str = "") -> bytes:
        self.closed = True
        return self._frame(OP_CLOSE, struct.pack(">H", code) + reason.encode()[:123])

    # -- receiving -----------------------------------------------------------------------
    def receive_data(self, data: bytes) -> tuple[list[Any], bytes]:
        """Feed bytes; return (events, bytes to send back: pongs and close replies).

        Raises ``MalformedFrame`` / ``FrameTooLarge`` on protocol errors; the caller should
        then send ``close(1002 or 1009)`` and drop the connection.
        """
        self._buf += data
        events: list[Any] = []
        reply = bytearray()
        while True:
            parsed = self._parse_one()
            if parsed is None:
                break
            fin, opcode, payload = parsed
            if opcode >= 8:
                if opcode == OP_PING:
                    reply += self._frame(OP_PONG, payload)
                elif opcode == OP_CLOSE:
                    code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
                    if not self.closed:
                        reply += self.close(1000 if code == 1005 else code)
                    self.closed = True
                    events.append(WsClose(code, payload[2:].decode("utf-8", "replace")))
                    break
                elif opcode != OP_PONG:
                    raise MalformedFrame(f"unknown control opcode {opcode}")
                continue
            if opcode == OP_CONT:
                if not self._in_message:
                    raise MalformedFrame("continuation without a message")
            elif opcode in (OP_TEXT, OP_BINARY):
                if self._in_message:
                    raise MalformedFrame("new message inside a fragmented one")
                self._in_message = True
            else:
                raise MalformedFrame(f"unknown data opcode {opcode}")
            self._parts_size += len(payload)
            if self._parts_size > self.max_message_size:
                raise FrameTooLarge("WebSocket message too large")
            self._parts.append(payload)
            if fin:
                events.append(WsMessage(b"".join(self._parts)))
                self._parts, self._parts_size, self._in_message = [], 0, False
        return events, bytes(reply)

    def _parse_one(self) -> tuple[bool, int, bytes] | None:
        buf = self._buf
        if len(buf) < 2:
            return None
        b0, b1 = buf[0], buf[1]
        if b0 & 0x70:
            raise MalformedFrame("reserved bits set")
        fin, opcode = bool(b0 & 0x80), b0 & 0x0F
        masked, n = bool(b1 & 0x80), b1 & 0x7F
        if masked != (not self.is_client):
            raise MalformedFrame("wrong masking for this direction")
        pos = 2
        if n == 126:
            if len(buf) < 4:
                return None
            n = struct.unpack_from(">H", buf, 2)[0]
            pos = 4
            if n < 126:
                raise MalformedFrame("non-minimal length")
        elif n == 127:
            if len(buf) < 10:
                return None
            n = struct.unpack_from(">Q", buf, 2)[0]
            pos = 10
            if n < 1 << 16 or n >= 1 << 63:
                raise MalformedFrame("non-minimal or huge length")
        if opcode >= 8 and (n > 125 or not fin):
            raise MalformedFrame("bad control frame")
        if n > self.max_message_size:
            raise FrameTooLarge("WebSocket frame too large")
        key = b""
        if masked:
            if len(buf) < pos + 4:
                return None
            key = bytes(buf[pos : pos + 4])
            pos += 4
        if len(buf) < pos + n:
            return None
        payload = bytes(buf[pos : pos + n])
        del buf[: pos + n]
        if masked:
            payload = _apply_mask(payload, key)
        return fin, opcode, payload


def _apply_mask(data: bytes, key: bytes) -> bytes:
    if not data:
        return data
    # XOR with the repeated 4-byte key, done as one big-integer operation (fast in CPython).
    n = len(data)
    mask = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(mask, "big")).to_bytes(n, "big")
