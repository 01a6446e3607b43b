"""Neural-bus errors: whose fault it is, and the wire code that says so.

    BusError                      (reasoningbank.errors)
    ├── LocalBusError             *we* misused the API (send after close, bad argument)
    └── RemoteBusError            the *peer* sent something we refuse
        ├── FrameError
        │   ├── MalformedFrame    bytes that do not decode canonically
        │   └── FrameTooLarge     a frame over ``max_frame_size`` (or a buffer over its cap)
        ├── SignatureError
        │   ├── ForgedSignature   the Ed25519 signature does not verify
        │   └── TamperedPayload   the payload does not match the signed SHA-256
        ├── UntrustedKey          a valid signature by a key we do not accept
        ├── ReplayedNonce         a (key, nonce) pair seen inside the replay window
        ├── ExpiredIntent         timestamp older than ``max_age``
        ├── FutureIntent          timestamp further ahead than ``max_skew``
        ├── OutOfScope            op not covered by the intent's scope, or scope not granted
        ├── OverCap               op costs more than the intent's spend cap
        ├── BudgetExceeded        the key's cumulative spend over the window is used up
        ├── Overloaded            a bounded cache is full; retry later
        ├── ProtocolViolation     a valid frame at the wrong time (state table, stream seq)
        └── SlowConsumer          the peer reads too slowly: its outbound budget is spent

Modelled on h11: internal code raises these, and the connection turns any ``RemoteBusError``
into a close frame carrying ``error_code`` plus a ``PeerClosed`` event. Every class has its own
code so the peer (and tests) can tell *why* a frame was refused.
"""

from __future__ import annotations

from enum import IntEnum

from ..errors import BusError

__all__ = [
    "BudgetExceeded",
    "BusError",
    "ErrorCode",
    "ExpiredIntent",
    "ForgedSignature",
    "FrameError",
    "FrameTooLarge",
    "FutureIntent",
    "LocalBusError",
    "MalformedFrame",
    "OutOfScope",
    "OverCap",
    "Overloaded",
    "ProtocolViolation",
    "RemoteBusError",
    "ReplayedNonce",
    "SignatureError",
    "SlowConsumer",
    "TamperedPayload",
    "UntrustedKey",
    "error_for_code",
]


class ErrorCode(IntEnum):
    """Wire error codes carried by CLOSE and ERROR control frames (docs/protocol.md §7)."""

    NO_ERROR = 0
    INTERNAL = 1
    MALFORMED_FRAME = 2
    FRAME_TOO_LARGE = 3
    FORGED_SIGNATURE = 4
    TAMPERED_PAYLOAD = 5
    UNTRUSTED_KEY = 6
    REPLAYED_NONCE = 7
    EXPIRED = 8
    FUTURE = 9
    OUT_OF_SCOPE = 10
    OVER_CAP = 11
    BUDGET_EXCEEDED = 12
    OVERLOADED = 13
    PROTOCOL_VIOLATION = 14
    LOCAL = 15
    SLOW_CONSUMER = 16


class LocalBusError(BusError):
    """This side misused the bus API; nothing was sent."""

    error_code = ErrorCode.LOCAL


class RemoteBusError(BusError):
    """The peer broke the protocol. ``error_code`` is what we send back in the close frame."""

    error_code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, reason: str = "") -> None:
        if type(self) is RemoteBusError:
            raise TypeError("raise a specific RemoteBusError subclass")
        super().__init__(reason or self.__class__.__name__)
        self.reason = reason


class FrameError(RemoteBusError):
    """A frame could not be decoded."""


class MalformedFrame(FrameError):
    error_code = ErrorCode.MALFORMED_FRAME


class FrameTooLarge(FrameError):
    error_code = ErrorCode.FRAME_TOO_LARGE


class SignatureError(RemoteBusError):
    """A signature check failed."""


class ForgedSignature(SignatureError):
    error_code = ErrorCode.FORGED_SIGNATURE


class TamperedPayload(SignatureError):
    error_code = ErrorCode.TAMPERED_PAYLOAD


class UntrustedKey(RemoteBusError):
    error_code = ErrorCode.UNTRUSTED_KEY


class ReplayedNonce(RemoteBusError):
    error_code = ErrorCode.REPLAYED_NONCE


class ExpiredIntent(RemoteBusError):
    error_code = ErrorCode.EXPIRED


class FutureIntent(RemoteBusError):
    error_code = ErrorCode.FUTURE


class OutOfScope(RemoteBusError):
    error_code = ErrorCode.OUT_OF_SCOPE


class OverCap(RemoteBusError):
    error_code = ErrorCode.OVER_CAP


class BudgetExceeded(RemoteBusError):
    error_code = ErrorCode.BUDGET_EXCEEDED


class Overloaded(RemoteBusError):
    error_code = ErrorCode.OVERLOADED


class ProtocolViolation(RemoteBusError):
    error_code = ErrorCode.PROTOCOL_VIOLATION


class SlowConsumer(RemoteBusError):
    """Raised for the close code only: what was queued for the peer passed its budget
    (it does not read), so the session is cut instead of buffering without bound."""

    error_code = ErrorCode.SLOW_CONSUMER


_BY_CODE: dict[int, type[RemoteBusError]] = {
    cls.error_code: cls
    for cls in (
        MalformedFrame, FrameTooLarge, ForgedSignature, TamperedPayload, UntrustedKey,
        ReplayedNonce, ExpiredIntent, FutureIntent, OutOfScope, OverCap, BudgetExceeded,
        Overloaded, ProtocolViolation, SlowConsumer,
    )
}  # fmt: skip


def error_for_code(code: int) -> type[RemoteBusError] | None:
    """The error class a wire code stands for, or ``None`` for codes without one."""
    return _BY_CODE.get(code)
