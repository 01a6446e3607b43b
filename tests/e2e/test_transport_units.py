"""CPython checks of the browser transport's pure parts (no browser needed; always run)."""

from __future__ import annotations

import os
import random

from reasoningbank.bus.frames import FrameType, encode_frame, signing_bytes
from reasoningbank.bus.intents import sign_frame
from reasoningbank.bus.signers import NaclSigner
from transport_webtransport.transport import websocket_url
from transport_webtransport.verify import FrameScanner


def test_scanner_finds_every_signed_frame_whatever_the_read_boundaries():
    """The parts handed to the batch verifier are exactly what the connection will ask to
    verify (key, signature, signing bytes), however the byte stream is cut into reads."""
    signer = NaclSigner(bytes(range(32)))
    frames = [
        sign_frame(
            signer,
            os.urandom(16),
            1000.0 + i,
            type=FrameType.TOKEN,
            op="stream.token",
            payload=b"x" * (i * 37 % 300),
            stream_id=1,
            seq=i,
        )
        for i in range(60)
    ]
    stream = b"".join(encode_frame(f) for f in frames)
    expected = [(signer.public_key, f.signature, signing_bytes(f)) for f in frames]
    rng = random.Random(7)
    for _ in range(20):
        scanner, got, pos = FrameScanner(256 * 1024), [], 0
        while pos < len(stream):
            step = rng.choice([1, 7, 64, 500, 4096])
            got += scanner.signed_parts(stream[pos : pos + step])
            pos += step
        assert got == expected


def test_scanner_stops_at_garbage_and_leaves_it_to_the_connection():
    scanner = FrameScanner(1024)
    assert scanner.signed_parts(b"\xff" * 64) == []
    assert scanner.broken
    assert scanner.signed_parts(b"anything") == []


def test_websocket_url_is_the_same_host_port_and_path_over_tcp():
    assert websocket_url("https://127.0.0.1:4433/bus") == "ws://127.0.0.1:4433/bus"
    assert websocket_url("https://[::1]:4433/bus") == "ws://[::1]:4433/bus"
    assert websocket_url("ws://h:1/bus") == "ws://h:1/bus"
