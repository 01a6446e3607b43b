"""Pattern provenance: the canonical bytes an author signs, and re-verification.

A shared pattern travels with ``metadata["provenance"] = {"v": 1, "alg": "ed25519",
"author": <hex key>, "signature": <hex>, "signed_at": <epoch seconds>}``. The model keeps
unknown metadata keys (``Metadata.extra``), so the signature survives storage and any bank can
re-verify and re-share the pattern; relays (the hub) cannot alter it without detection.

What is signed is the *content* of the pattern, not its local bookkeeping: ``id``,
``task_description``, ``task_category``, ``strategy``, ``context``, ``outcome`` and
``metadata.tags``. Usage counts, confidence and timestamps change as a bank learns and are
deliberately left out; embeddings are derived data and differ between embedders.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Generator
from typing import Any

from .errors import LocalBusError
from .intents import SignRequest, VerifyRequest, run_async, run_sync

__all__ = [
    "PATTERN_TAG",
    "PatternRefusal",
    "SignedPattern",
    "canonical_json",
    "pattern_content",
    "pattern_id",
    "shareable",
    "sign_pattern_flow",
    "verify_pattern_flow",
]

PATTERN_TAG = b"reasoningbank/pattern/v1\x00"
_SIGNED_FIELDS = ("id", "task_description", "task_category", "strategy", "context", "outcome")


def _normalise(value: Any) -> Any:
    """Floats with an integral value become ints, so 1.0 (Python) and 1 (JavaScript)
    serialise alike; NaN and infinities are refused (JSON has no encoding for them)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LocalBusError("non-finite number in a signed pattern")
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, dict):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    return value


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8, normalised numbers: one byte string per value."""
    return json.dumps(
        _normalise(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")


def pattern_content(pattern: dict[str, Any]) -> dict[str, Any]:
    """The signed subset of a pattern dict, after the model's own normalisation."""
    from ..model import Pattern

    if not isinstance(pattern, dict) or not pattern.get("id"):
        raise LocalBusError("a shared pattern needs an id")
    normal = Pattern.from_dict(pattern, new_id=str(pattern["id"]), now=0.0).to_dict()
    content = {k: normal[k] for k in _SIGNED_FIELDS}
    content["tags"] = sorted(normal["metadata"].get("tags", []))
    return content


def signed_bytes(content: dict[str, Any], author_hex: str, signed_at: float) -> bytes:
    """The exact bytes a pattern signature covers."""
    return PATTERN_TAG + canonical_json(
        {"author": author_hex, "pattern": content, "signed_at": signed_at}
    )


def shareable(pattern: dict[str, Any]) -> dict[str, Any]:
    """What travels (and what a receiver stores): the signed content plus ``created_at``,
    ``tags`` and ``provenance``. Local bookkeeping (usage counts, confidence) and embeddings
    stay home: they are unsigned, so a receiver could not trust them anyway."""
    meta = pattern.get("metadata") or {}
    out = {k: pattern[k] for k in _SIGNED_FIELDS if k in pattern}
    out["metadata"] = {k: meta[k] for k in ("created_at", "tags", "provenance") if k in meta}
    return out


def pattern_id(pattern: dict[str, Any]) -> str:
    """Content address of a *signed* pattern (hex SHA-256 over content and signature): the
    gossip message id, so the same signed pattern is deduplicated everywhere."""
    prov = provenance_of(pattern)
    if prov is None:
        raise LocalBusError("pattern is not signed")
    digest = hashlib.sha256(canonical_json(pattern_content(pattern)))
    digest.update(str(prov.get("signature", "")).encode("ascii", "replace"))
    return digest.hexdigest()


def provenance_of(pattern: dict[str, Any]) -> dict[str, Any] | None:
    meta = pattern.get("metadata") if isinstance(pattern, dict) else None
    prov = meta.get("provenance") if isinstance(meta, dict) else None
    return prov if isinstance(prov, dict) else None


class SignedPattern:
    """A pattern dict with checked provenance; ``id`` is its content address."""

    __slots__ = ("author", "data", "id")

    def __init__(self, data: dict[str, Any], author: bytes, msg_id: str) -> None:
        self.data = data
        self.author = author
        self.id = msg_id


def sign_pattern_flow(
    pattern: dict[str, Any], public_key: bytes, signed_at: float
) -> Generator[SignRequest, bytes, dict[str, Any]]:
    """Return a copy of ``pattern`` carrying this author's provenance."""
    content = pattern_content(pattern)
    author = public_key.hex()
    signature = yield SignRequest(signed_bytes(content, author, signed_at))
    out: dict[str, Any] = json.loads(json.dumps(pattern))
    meta = out.setdefault("metadata", {}) or {}
    out["metadata"] = meta
    meta["provenance"] = {
        "v": 1,
        "alg": "ed25519",
        "author": author,
        "signature": bytes(signature).hex(),
        "signed_at": signed_at,
    }
    return out


class PatternRefusal(Exception):
    """Internal: why a shared pattern was refused (mapped to events by callers)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def verify_pattern_flow(
    pattern: Any, trusted: set[bytes] | None
) -> Generator[VerifyRequest, bool, SignedPattern]:
    """Check a received pattern: well-formed provenance, trusted author, valid signature.
    Raises ``PatternRefusal`` with a short reason (``malformed``, ``untrusted``, ``forged``)."""
    prov = provenance_of(pattern)
    if prov is None or prov.get("v") != 1 or prov.get("alg") != "ed25519":
        raise PatternRefusal("malformed")
    try:
        author = bytes.fromhex(prov["author"])
        signature = bytes.fromhex(prov["signature"])
        signed_at = prov["signed_at"]
        if len(author) != 32 or len(signature) != 64 or not isinstance(signed_at, (int, float)):
            raise ValueError
        content = pattern_content(pattern)
        data = signed_bytes(content, prov["author"], signed_at)
    except (KeyError, ValueError, TypeError, LocalBusError, Exception) as exc:
        # InvalidPattern and friends: a pattern our model refuses cannot be accepted either.
        raise PatternRefusal("malformed") from exc
    if trusted is not None and author not in trusted:
        raise PatternRefusal("untrusted")
    ok = yield VerifyRequest(author, signature, data)
    if not ok:
        raise PatternRefusal("forged")
    return SignedPattern(pattern, author, pattern_id(pattern))


def sign_pattern(pattern: dict[str, Any], signer: Any, signed_at: float) -> dict[str, Any]:
    return run_sync(sign_pattern_flow(pattern, signer.public_key, signed_at), signer=signer)


async def asign_pattern(pattern: dict[str, Any], signer: Any, signed_at: float) -> dict[str, Any]:
    return await run_async(sign_pattern_flow(pattern, signer.public_key, signed_at), signer=signer)


def verify_pattern(pattern: Any, trusted: set[bytes] | None, verifier: Any) -> SignedPattern:
    return run_sync(verify_pattern_flow(pattern, trusted), verifier=verifier)


async def averify_pattern(pattern: Any, trusted: set[bytes] | None, verifier: Any) -> SignedPattern:
    return await run_async(verify_pattern_flow(pattern, trusted), verifier=verifier)
