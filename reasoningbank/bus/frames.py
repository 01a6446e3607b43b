"""Binary frame codec: ``pull_frame`` / ``push_frame`` (sans-IO, as aioquic's codecs).

Why binary and length-prefixed: the Rust original signed an ambiguous ``kid:ts:nonce:...``
string join and never bounded frame size. Here every field has a fixed width or an explicit
length, the header has exactly one encoding (the decoder rejects anything else), and the
length prefix is checked against ``max_frame_size`` *before* any body is buffered.

Layout (all integers big-endian; docs/protocol.md §2)::

    u32 length            bytes after this field
    u8  version           = 1
    u8  type              FrameType
    u16 flags             Flags; reserved bits must be 0
    u16 header_length
    u32 payload_length
    header                canonical, see below
    payload
    [64-byte Ed25519 signature]    present iff flags & SIGNED

    header = u32 stream_id | u64 seq | u8 priority
             [ if SIGNED: 32 key | u64 timestamp_ms | 16 nonce | u8 len scope | u64 cap
                          | u8 len op | 32 sha256(payload) ]

The signed bytes are ``SIGNING_TAG`` followed by everything from ``version`` to the end of the
header, so the signature covers type, flags, lengths, the intent and the payload hash.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from enum import IntEnum, IntFlag
from typing import Any, TypeVar

from .errors import ErrorCode, FrameTooLarge, MalformedFrame

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "HARD_MAX_FRAME_SIZE",
    "ErrorCode",
    "Flags",
    "Frame",
    "FrameType",
    "Intent",
    "NAME_RE",
    "Priority",
    "SIGNING_TAG",
    "VERSION",
    "encode_frame",
    "frame_size",
    "pull_frame",
    "push_frame",
    "signing_bytes",
]

VERSION = 1
#: Domain separation: a signature made for a bus frame can never be replayed as a signature
#: over anything else we sign (patterns, manifests, rotations use their own tags).
SIGNING_TAG = b"reasoningbank/bus/frame/v1\x00"
DEFAULT_MAX_FRAME_SIZE = 256 * 1024
HARD_MAX_FRAME_SIZE = 16 * 1024 * 1024
SIGNATURE_SIZE = 64
KEY_SIZE = 32
NONCE_SIZE = 16
HASH_SIZE = 32
#: Scope and op names: short lowercase ASCII, so they have one encoding and cannot smuggle
#: separators or homoglyphs.
NAME_RE = re.compile(rb"[a-z0-9][a-z0-9._:/-]{0,63}\Z")

_PREFIX = struct.Struct(">IBBHHI")  # length, version, type, flags, header_length, payload_length
_BASE = struct.Struct(">IQB")  # stream_id, seq, priority
_PREFIX_SIZE = _PREFIX.size  # 14
_U32, _U64 = struct.Struct(">I"), struct.Struct(">Q")
_T = TypeVar("_T")
#: A signed header's fixed runs: stream_id, seq, priority, key, timestamp, nonce, scope
#: length; then cap, op length.
_SIGNED_HEAD = struct.Struct(f">IQB{KEY_SIZE}sQ{NONCE_SIZE}sB")
_CAP_OP = struct.Struct(">QB")
#: Most distinct scope/op names the decoder memoises once checked (``_name``); names past it
#: are checked on every frame. Bounded so a peer inventing names cannot grow it.
NAME_MEMO_SIZE = 256
_NAMES: dict[bytes, str] = {}


class FrameType(IntEnum):
    """What a frame carries. Reasoning-stream kinds are frame types of their own."""

    CONTROL = 0
    REQUEST = 1
    RESPONSE = 2
    GOSSIP = 3
    SNAPSHOT = 4
    TELEMETRY = 5
    TOKEN = 6
    TRACE = 7
    RUBRIC = 8
    VERIFY = 9


class Flags(IntFlag):
    NONE = 0
    SIGNED = 0x0001
    #: Last frame of its stream (reasoning streams, snapshot transfers, responses).
    END_STREAM = 0x0002


_KNOWN_FLAGS = int(Flags.SIGNED | Flags.END_STREAM)
# Plain ints: ``&`` on an IntFlag member builds a new member, slow on a per-frame path.
_SIGNED, _END_STREAM = int(Flags.SIGNED), int(Flags.END_STREAM)
# Decoding looks enum members up in tables: constructing enums per frame is measurably slow.
_TYPES = {int(t): t for t in FrameType}
_FLAGS = {i: Flags(i) for i in range(_KNOWN_FLAGS + 1)}


class Priority(IntEnum):
    HIGH = 0
    NORMAL = 1
    LOW = 2


_PRIORITIES = {int(p): p for p in Priority}


@dataclass(frozen=True, slots=True)
class Intent:
    """The signed claim a frame makes: who (key), when, once (nonce), for what (scope/op),
    spending at most ``cap`` units, about exactly this payload (``payload_hash``)."""

    key: bytes
    timestamp_ms: int
    nonce: bytes
    scope: str
    cap: int
    op: str
    payload_hash: bytes

    def __post_init__(self) -> None:
        # protocol.md §3: fixed sizes and ASCII names, so every intent has one encoding.
        if len(self.key) != KEY_SIZE or len(self.nonce) != NONCE_SIZE:
            raise MalformedFrame("bad key or nonce size")
        if len(self.payload_hash) != HASH_SIZE:
            raise MalformedFrame("bad payload hash size")
        if not (0 <= self.timestamp_ms < 1 << 64 and 0 <= self.cap < 1 << 64):
            raise MalformedFrame("timestamp or cap out of range")
        for name in (self.scope, self.op):
            if not isinstance(name, str) or not NAME_RE.match(name.encode("ascii", "replace")):
                raise MalformedFrame(f"bad scope/op name {name!r}")


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame. Build with keyword arguments; invalid frames cannot be built."""

    type: FrameType
    payload: bytes = b""
    flags: Flags = Flags.NONE
    stream_id: int = 0
    seq: int = 0
    priority: Priority = Priority.NORMAL
    intent: Intent | None = None
    signature: bytes | None = None
    #: The signed span as received (decoder only). Not an init field, so
    #: ``dataclasses.replace`` drops it and a modified frame is always re-encoded.
    _signed_span: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0 <= self.stream_id < 1 << 32 or not 0 <= self.seq < 1 << 64:
            raise MalformedFrame("stream id or seq out of range")
        flags = int(self.flags)
        signed = bool(flags & 1)
        if signed != (self.intent is not None) or signed != (self.signature is not None):
            raise MalformedFrame("SIGNED flag, intent and signature must agree")
        if self.signature is not None and len(self.signature) != SIGNATURE_SIZE:
            raise MalformedFrame("bad signature size")
        if flags & ~_KNOWN_FLAGS:
            raise MalformedFrame("reserved flag bits set")

    @property
    def end_stream(self) -> bool:
        return bool(int(self.flags) & _END_STREAM)


def _header_bytes(frame: Frame) -> bytes:
    head = _BASE.pack(frame.stream_id, frame.seq, frame.priority)
    it = frame.intent
    if it is None:
        return head
    scope, op = it.scope.encode("ascii"), it.op.encode("ascii")
    return b"".join(
        (
            head,
            it.key,
            _U64.pack(it.timestamp_ms),
            it.nonce,
            bytes((len(scope),)),
            scope,
            _U64.pack(it.cap),
            bytes((len(op),)),
            op,
            it.payload_hash,
        )
    )


def _prefix_and_header(frame: Frame) -> tuple[bytes, bytes]:
    header = _header_bytes(frame)
    sig = SIGNATURE_SIZE if frame.flags & Flags.SIGNED else 0
    length = _PREFIX_SIZE - 4 + len(header) + len(frame.payload) + sig
    prefix = _PREFIX.pack(length, VERSION, frame.type, frame.flags, len(header), len(frame.payload))
    return prefix, header


def signing_bytes(frame: Frame) -> bytes:
    """The exact bytes an Ed25519 signature on ``frame`` covers (tag + version..header)."""
    if frame._signed_span is not None:
        return SIGNING_TAG + frame._signed_span
    prefix, header = _prefix_and_header(frame)
    return SIGNING_TAG + prefix[4:] + header


def encode_frame(frame: Frame) -> bytes:
    prefix, header = _prefix_and_header(frame)
    return b"".join((prefix, header, frame.payload, frame.signature or b""))


def push_frame(out: bytearray, frame: Frame) -> None:
    """Append the encoding of ``frame`` to ``out``."""
    out += encode_frame(frame)


def frame_size(data: bytes | bytearray | memoryview, max_frame_size: int) -> int | None:
    """Total size of the frame at the start of ``data``, or ``None`` if fewer than 4 bytes.

    Raises ``FrameTooLarge`` from the length prefix alone, so a peer cannot make us buffer
    a huge body before we refuse it.
    """
    if len(data) < 4:
        return None
    total: int = _U32.unpack_from(data)[0] + 4
    if total > max_frame_size:
        raise FrameTooLarge(f"frame of {total} bytes exceeds max_frame_size {max_frame_size}")
    if total < _PREFIX_SIZE + _BASE.size:
        raise MalformedFrame("length smaller than the fixed header")
    return total


def pull_frame(
    data: bytes | bytearray | memoryview, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
) -> tuple[Frame, int] | None:
    """Decode the frame at the start of ``data``: ``(frame, bytes_used)``, or ``None`` if
    ``data`` holds only part of a frame. Garbage raises ``MalformedFrame`` or
    ``FrameTooLarge``; any other exception escaping this function is a bug."""
    total = frame_size(data, max_frame_size)
    if total is None or len(data) < total:
        return None
    raw = bytes(data[:total])
    try:
        return _decode(raw), total
    except (struct.error, UnicodeDecodeError) as exc:
        raise MalformedFrame(str(exc)) from None


def _decode(raw: bytes) -> Frame:
    _length, version, ftype, flags, hlen, plen = _PREFIX.unpack_from(raw)
    if version != VERSION:
        raise MalformedFrame(f"unsupported version {version}")
    frame_type = _TYPES.get(ftype)
    if frame_type is None:
        raise MalformedFrame(f"unknown frame type {ftype}")
    if flags & ~_KNOWN_FLAGS:
        raise MalformedFrame("reserved flag bits set")
    signed = flags & _SIGNED
    header_end = _PREFIX_SIZE + hlen
    if header_end + plen + (SIGNATURE_SIZE if signed else 0) != len(raw):
        raise MalformedFrame("lengths disagree with the length prefix")
    # Fields are unpacked from ``raw`` at offsets (no header copy); a read that runs past
    # the header's end is caught by comparing where the header ends up against ``hlen``.
    intent = signature = span = None
    if signed:
        stream_id, seq, prio, key, ts, nonce, scope_len = _SIGNED_HEAD.unpack_from(
            raw, _PREFIX_SIZE
        )
        pos = _PREFIX_SIZE + _SIGNED_HEAD.size
        scope_b = raw[pos : pos + scope_len]
        cap, op_len = _CAP_OP.unpack_from(raw, pos + scope_len)
        pos += scope_len + _CAP_OP.size
        op_b = raw[pos : pos + op_len]
        phash = raw[pos + op_len : pos + op_len + HASH_SIZE]
        pos += op_len + HASH_SIZE
    else:
        stream_id, seq, prio = _BASE.unpack_from(raw, _PREFIX_SIZE)
        pos = _PREFIX_SIZE + _BASE.size
    if pos > header_end:
        raise MalformedFrame("read out of bounds")
    if pos != header_end:
        raise MalformedFrame("trailing bytes in header")
    if prio > 2:
        raise MalformedFrame(f"bad priority {prio}")
    if signed:
        # Every field was just checked as Intent.__post_init__ would: skip re-checking.
        scope = _NAMES.get(scope_b) or _name(scope_b)
        op = _NAMES.get(op_b) or _name(op_b)
        intent = _new_intent(key, ts, nonce, scope, cap, op, phash)
        signature = raw[len(raw) - SIGNATURE_SIZE :]
        # the header is canonical, so these are exactly the bytes re-encoding gives
        span = raw[4:header_end]
    return _new_frame(
        frame_type,
        raw[header_end : header_end + plen],
        _FLAGS[flags],
        stream_id,
        seq,
        _PRIORITIES[prio],
        intent,
        signature,
        span,
    )


def _name(raw: bytes) -> str:
    """A scope or op name not in ``_NAMES`` yet, checked against ``NAME_RE``; the few names
    in use are memoised (up to ``NAME_MEMO_SIZE``), so a frame's names cost one dict lookup
    each."""
    if not NAME_RE.match(raw):
        raise MalformedFrame("bad scope/op name")
    name = raw.decode("ascii")
    if len(_NAMES) < NAME_MEMO_SIZE:
        _NAMES[raw] = name
    return name


def unchecked_builder(cls: type[_T]) -> Callable[..., _T]:
    """A constructor for frozen ``cls`` that skips ``__post_init__``, for values the decoder
    already validated.

    Why: re-running the checks (a regex and several range checks per frame) and the frozen
    ``__init__``'s ``object.__setattr__`` calls cost a fifth of a verified frame's time; the
    slot setters are called one after the other, unrolled (a loop over them costs 3x)."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    sets = "".join(f"    set_{n}(obj, {n})\n" for n in names)
    source = f"def build({', '.join(names)}):\n    obj = new(cls)\n{sets}    return obj\n"
    scope: dict[str, Any] = {"new": object.__new__, "cls": cls}
    scope.update({f"set_{n}": cls.__dict__[n].__set__ for n in names})
    exec(source, scope)
    return scope["build"]  # type: ignore[no-any-return]


_new_intent = unchecked_builder(Intent)
_new_frame = unchecked_builder(Frame)


def payload_hash(payload: bytes) -> bytes:
    return hashlib.sha256(payload).digest()
