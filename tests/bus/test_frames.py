"""Frame codec: a table of known frames both ways, every decoder rejection, and fuzzing."""

from __future__ import annotations

import random
import struct
import time

import pytest

from reasoningbank.bus.errors import FrameTooLarge, MalformedFrame
from reasoningbank.bus.frames import (
    Flags,
    Frame,
    FrameType,
    Intent,
    Priority,
    encode_frame,
    pull_frame,
    push_frame,
    signing_bytes,
)
from reasoningbank.bus.intents import sign_frame

from .helpers import T0, signer_for

INTENT = Intent(
    key=bytes(range(32)),
    timestamp_ms=1_700_000_000_123,
    nonce=bytes(range(16)),
    scope="gossip",
    cap=3,
    op="gossip.push",
    payload_hash=bytes(32),
)

#: (name, frame, exact encoding or None). One table serves encoder and decoder tests.
CASES = [
    (
        "empty control",
        Frame(type=FrameType.CONTROL),
        bytes.fromhex("0000001701000000000d0000000000000000000000000000000001"),
    ),
    (
        "telemetry with payload, low priority, stream 7 seq 9, end",
        Frame(
            type=FrameType.TELEMETRY,
            payload=b"hi",
            flags=Flags.END_STREAM,
            stream_id=7,
            seq=9,
            priority=Priority.LOW,
        ),
        bytes.fromhex("0000001901050002000d0000000200000007000000000000000902") + b"hi",
    ),
    (
        "signed gossip",
        Frame(
            type=FrameType.GOSSIP,
            payload=b"{}",
            flags=Flags.SIGNED,
            intent=INTENT,
            signature=b"\x07" * 64,
        ),
        None,
    ),
] + [
    (
        f"{kind.name.lower()} stream frame",
        Frame(type=kind, payload=b"tok", stream_id=1, seq=2),
        None,
    )
    for kind in (FrameType.TOKEN, FrameType.TRACE, FrameType.RUBRIC, FrameType.VERIFY)
]


@pytest.mark.parametrize("name,frame,wire", CASES, ids=[c[0] for c in CASES])
def test_known_frames_round_trip(name, frame, wire):
    data = encode_frame(frame)
    if wire is not None:
        assert data == wire
    out = bytearray()
    push_frame(out, frame)
    assert bytes(out) == data
    assert pull_frame(data) == (frame, len(data))


def test_partial_frame_needs_more_data():
    data = encode_frame(CASES[2][1])
    for cut in range(len(data)):
        assert pull_frame(data[:cut]) is None


def test_two_frames_back_to_back():
    a, b = encode_frame(CASES[0][1]), encode_frame(CASES[1][1])
    frame, used = pull_frame(a + b)
    assert frame == CASES[0][1] and used == len(a)


def test_signature_covers_type_flags_lengths_and_header():
    frame = CASES[2][1]
    base = signing_bytes(frame)
    assert base.startswith(b"reasoningbank/bus/frame/v1\x00")
    for other in (
        Frame(
            type=FrameType.REQUEST,
            payload=b"{}",
            flags=Flags.SIGNED,
            intent=INTENT,
            signature=b"\x07" * 64,
        ),
        Frame(
            type=FrameType.GOSSIP,
            payload=b"{}",
            flags=Flags.SIGNED | Flags.END_STREAM,
            intent=INTENT,
            signature=b"\x07" * 64,
        ),
        Frame(
            type=FrameType.GOSSIP,
            payload=b"{}",
            flags=Flags.SIGNED,
            intent=INTENT,
            seq=1,
            signature=b"\x07" * 64,
        ),
    ):
        assert signing_bytes(other) != base


def _mutate(data: bytes, rng: random.Random, pos: int, value: int) -> bytes:
    b = bytearray(data)
    b[pos] = value
    return bytes(b)


BASE = encode_frame(CASES[2][1])


@pytest.mark.parametrize(
    "data,why",
    [
        (_mutate(BASE, None, 4, 2), "version"),
        (_mutate(BASE, None, 5, 99), "unknown type"),
        (_mutate(BASE, None, 7, 0x81), "reserved flag"),
        (_mutate(BASE, None, 7, 0x00), "signature present but SIGNED clear"),
        (_mutate(BASE, None, 9, BASE[9] + 1), "header length"),
        (_mutate(BASE, None, 13, 3), "payload length"),
        (_mutate(BASE, None, 26, 3), "priority"),
        (BASE[:85] + b"X" + BASE[86:], "scope name not canonical"),
        (struct.pack(">I", 5) + b"\x01\x00\x00\x00\x00", "length below fixed header"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_malformed_frames_are_rejected(data, why):
    """Each mutation of a valid frame is refused: {why}."""
    with pytest.raises(MalformedFrame):
        pull_frame(data)


def test_frame_too_large_is_refused_from_the_length_prefix_alone():
    with pytest.raises(FrameTooLarge):
        pull_frame(struct.pack(">I", 10_000_000), max_frame_size=1 << 20)


def test_invalid_frames_cannot_be_built():
    with pytest.raises(MalformedFrame):
        Frame(type=FrameType.GOSSIP, flags=Flags.SIGNED)  # no intent
    with pytest.raises(MalformedFrame):
        Frame(type=FrameType.GOSSIP, stream_id=-1)
    with pytest.raises(MalformedFrame):
        Intent(
            key=b"x",
            timestamp_ms=0,
            nonce=bytes(16),
            scope="a",
            cap=0,
            op="a",
            payload_hash=bytes(32),
        )
    with pytest.raises(MalformedFrame):
        Intent(
            key=bytes(32),
            timestamp_ms=0,
            nonce=bytes(16),
            scope="A:B",
            cap=0,
            op="a",
            payload_hash=bytes(32),
        )


def test_decoder_fuzz_never_crashes():
    """≥100,000 random and mutated inputs: each decodes, asks for more data, or raises
    MalformedFrame/FrameTooLarge. Anything else is a bug."""
    rng = random.Random(5)
    signer = signer_for("fuzz")
    seeds = [encode_frame(c[1]) for c in CASES] + [
        encode_frame(
            sign_frame(
                signer,
                rng.randbytes(16),
                T0,
                type=FrameType.GOSSIP,
                payload=rng.randbytes(rng.randrange(64)),
                op="gossip.push",
            )
        )
        for _ in range(8)
    ]
    outcomes = {"ok": 0, "partial": 0, "error": 0}
    start = time.perf_counter()
    n = 0
    while n < 100_000:
        kind = n % 4
        if kind == 0:  # pure random bytes, sometimes with a plausible length prefix
            body = rng.randbytes(rng.randrange(0, 120))
            data = (struct.pack(">I", len(body)) + body) if rng.random() < 0.5 else body
        else:
            data = bytearray(rng.choice(seeds))
            for _ in range(rng.randrange(1, 4)):
                op = rng.randrange(4)
                if op == 0 and data:
                    data[rng.randrange(len(data))] = rng.randrange(256)
                elif op == 1 and data:
                    i = rng.randrange(len(data))
                    data[i] ^= 1 << rng.randrange(8)
                elif op == 2:
                    i = rng.randrange(len(data) + 1)
                    data[i:i] = rng.randbytes(rng.randrange(1, 5))
                elif data:
                    i = rng.randrange(len(data))
                    del data[i : i + rng.randrange(1, 5)]
            data = bytes(data)
        try:
            got = pull_frame(data, max_frame_size=4096)
            outcomes["partial" if got is None else "ok"] += 1
            if got is not None:  # whatever decodes must re-encode to the same bytes
                assert encode_frame(got[0]) == data[: got[1]]
        except (MalformedFrame, FrameTooLarge):
            outcomes["error"] += 1
        n += 1
    assert sum(outcomes.values()) >= 100_000
    assert all(outcomes.values())  # the fuzzer reached every outcome
    assert time.perf_counter() - start < 60


def test_random_valid_frames_round_trip_exactly():
    """5,000 seeded random valid frames (every type, flag, priority, with and without intents)
    decode to equal frames and re-encode to the same bytes."""
    rng = random.Random(17)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789._:/-"
    for _ in range(5000):
        signed = rng.random() < 0.5
        intent = None
        if signed:
            name = lambda: rng.choice("abc0") + "".join(rng.choices(alphabet, k=rng.randrange(64)))  # noqa: E731
            intent = Intent(
                key=rng.randbytes(32),
                timestamp_ms=rng.randrange(1 << 64),
                nonce=rng.randbytes(16),
                scope=name(),
                cap=rng.randrange(1 << 64),
                op=name(),
                payload_hash=rng.randbytes(32),
            )
        frame = Frame(
            type=rng.choice(list(FrameType)),
            payload=rng.randbytes(rng.randrange(300)),
            flags=(Flags.SIGNED if signed else Flags.NONE)
            | rng.choice([Flags.NONE, Flags.END_STREAM]),
            stream_id=rng.randrange(1 << 32),
            seq=rng.randrange(1 << 64),
            priority=rng.choice(list(Priority)),
            intent=intent,
            signature=rng.randbytes(64) if signed else None,
        )
        data = encode_frame(frame)
        assert pull_frame(data) == (frame, len(data))
        assert encode_frame(pull_frame(data)[0]) == data
