"""RFC 6455 codec: handshake, masking, fragmentation, control frames, refusals, fuzz."""

from __future__ import annotations

import random
import struct

import pytest

from reasoningbank.bus.errors import FrameTooLarge, MalformedFrame
from reasoningbank.bus.ws import (
    WebSocket,
    WsClose,
    WsMessage,
    accept_key,
    client_handshake,
    parse_client_handshake,
    parse_server_handshake,
    server_handshake_response,
    split_handshake,
)

from .helpers import nonces


def test_accept_key_matches_rfc_example():
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 §1.3


def test_handshake_round_trip():
    request, key = client_handshake("127.0.0.1:4433", "/bus", bytes(range(16)))
    buf = bytearray(request + b"leftover")
    block = split_handshake(buf)
    assert bytes(buf) == b"leftover"
    assert parse_client_handshake(block) == ("/bus", key, None)  # no Origin: not a browser
    from_page = request.replace(b"\r\n\r\n", b"\r\nOrigin: http://localhost:8765\r\n\r\n")
    assert parse_client_handshake(split_handshake(bytearray(from_page))).origin == (
        "http://localhost:8765"
    )
    response = bytearray(server_handshake_response(key))
    parse_server_handshake(split_handshake(response), key)
    with pytest.raises(MalformedFrame):
        parse_server_handshake(split_handshake(bytearray(server_handshake_response(key))), "other")


@pytest.mark.parametrize(
    "request_text",
    [
        "POST /bus HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
        "GET /bus HTTP/1.1\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n",
        "GET /bus HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n",
        "GET /bus HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: short\r\n",
    ],
    ids=["method", "upgrade", "version", "key"],
)
def test_bad_client_handshakes_are_refused(request_text):
    with pytest.raises(MalformedFrame):
        parse_client_handshake(request_text.encode())


def test_oversized_handshake_is_refused():
    with pytest.raises(FrameTooLarge):
        split_handshake(bytearray(b"x" * 20_000))


def pair():
    return WebSocket(is_client=True, mask_source=nonces(4)), WebSocket(is_client=False)


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_messages_of_every_length_class_round_trip(size):
    client, server = pair()
    data = random.Random(size).randbytes(size)
    wire = client.send(data)
    assert wire[1] & 0x80  # client frames are masked
    events, reply = server.receive_data(wire)
    assert events == [WsMessage(data)] and reply == b""
    events, _ = client.receive_data(server.send(data))
    assert events == [WsMessage(data)]


def test_byte_at_a_time_delivery():
    client, server = pair()
    wire = client.send(b"hello") + client.ping(b"p")
    events, replies = [], b""
    for i in range(len(wire)):
        ev, reply = server.receive_data(wire[i : i + 1])
        events += ev
        replies += reply
    assert events == [WsMessage(b"hello")]
    assert client.receive_data(replies)[0] == []  # the pong


def test_fragmented_message_is_reassembled():
    client, server = pair()
    parts = [
        client._frame(0x2, b"ab", fin=False),
        client._frame(0x9, b"ping"),
        client._frame(0x0, b"cd", fin=False),
        client._frame(0x0, b"ef", fin=True),
    ]
    events, reply = server.receive_data(b"".join(parts))
    assert events == [WsMessage(b"abcdef")] and reply  # pong interleaved


def test_close_is_answered():
    client, server = pair()
    events, reply = server.receive_data(client.close(1001, "going away"))
    assert events == [WsClose(1001, "going away")]
    assert client.receive_data(reply)[0] == [WsClose(1001, "")]


@pytest.mark.parametrize(
    "raw,error",
    [
        (b"\x82\x05hello", MalformedFrame),  # unmasked client frame
        (b"\xc2\x80abcd", MalformedFrame),  # reserved bit
        (b"\x82\xfe\x00\x05abcd", MalformedFrame),  # non-minimal 16-bit length
        (b"\x89\xfe\x00\x80abcd", MalformedFrame),  # control frame > 125
        (b"\x09\x80abcd", MalformedFrame),  # fragmented control frame
        (b"\x80\x80abcd", MalformedFrame),  # continuation with no message
        (b"\x83\x80abcd", MalformedFrame),  # unknown opcode
        (b"\x82\xff" + struct.pack(">Q", 1 << 40) + b"abcd", FrameTooLarge),
    ],
    ids=["unmasked", "rsv", "non-minimal", "big-control", "frag-control", "cont", "opcode", "huge"],
)
def test_protocol_violations_are_refused(raw, error):
    _, server = pair()
    with pytest.raises(error):
        server.receive_data(raw)


def test_message_over_the_cap_is_refused_across_fragments():
    client = WebSocket(is_client=True, mask_source=nonces(1))
    server = WebSocket(is_client=False, max_message_size=100)
    wire = client._frame(0x2, b"x" * 60, fin=False) + client._frame(0x0, b"x" * 60)
    with pytest.raises(FrameTooLarge):
        server.receive_data(wire)


def test_websocket_decoder_fuzz():
    rng = random.Random(11)
    client = WebSocket(is_client=True, mask_source=nonces(2))
    seeds = [client.send(rng.randbytes(n)) for n in (0, 5, 130, 70_000)] + [
        client.ping(b"x"),
        client.close(),
    ]
    for _ in range(20_000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randrange(1, 4)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        server = WebSocket(is_client=False, max_message_size=1 << 17)
        try:
            server.receive_data(bytes(data))
        except (MalformedFrame, FrameTooLarge):
            pass
