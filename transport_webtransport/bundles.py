"""Signed bundles from and into a browser's bank (the page's Export and Import buttons).

Same file format as ``reasoningbank export``/``import`` (``reasoningbank.bundle``), signed
with this browser's bus identity (WebCrypto Ed25519), so a CPython bank imports what a page
exports and the other way round. Why the two passes: ``build_bundle``/``read_bundle`` take
a synchronous signer/verifier and WebCrypto is asynchronous, so the signed message is
captured on a first pass, signed or verified with WebCrypto, and the second pass uses the
answer.
"""

from __future__ import annotations

import time
from typing import Any, NoReturn

from reasoningbank.bank import ReasoningBank
from reasoningbank.bundle import _patterns_for_export, build_bundle, read_bundle
from reasoningbank.bus.signers import WebCryptoVerifier
from reasoningbank.errors import ImportFailed, InvalidPattern
from reasoningbank.model import Pattern

from .identity import BrowserTrust, load_identity

__all__ = ["export_bundle", "import_bundle"]


class _Captured(Exception):
    """Stops the first pass once the message to sign or verify is known."""

    def __init__(self, args: tuple[bytes, ...]) -> None:
        super().__init__()
        self.parts = args


def _capture(*args: bytes) -> NoReturn:
    raise _Captured(args)


async def export_bundle(bank: ReasoningBank, identity_db: str) -> dict[str, Any]:
    """Every pattern of ``bank`` as bundle text, signed by this browser; with what was left
    out and why (a pattern no importer accepts)."""
    signer = await load_identity(identity_db)
    patterns, skipped = _patterns_for_export(await bank.all_patterns())
    now = time.time()

    def build(sign: Any) -> bytes:
        return build_bundle(patterns, sign=sign, public_key=signer.public_key, now=now)

    try:
        build(_capture)
    except _Captured as first:
        signature = await signer.sign(first.parts[0])
    blob = build(lambda _message: signature)
    return {
        "bundle": blob.decode("utf-8"),
        "count": len(patterns),
        "public_key": signer.public_key.hex(),
        "bytes": len(blob),
        "skipped_patterns": skipped,
    }


async def _verified(blob: bytes) -> Any:
    """``read_bundle`` with the signature checked by WebCrypto."""
    try:
        read_bundle(blob, verify=_capture)
    except _Captured as first:
        parts = first.parts
        ok = await WebCryptoVerifier().verify(*parts)
    return read_bundle(blob, verify=lambda *args: ok and args == parts)


async def import_bundle(bank: ReasoningBank, text: str, trust: BrowserTrust) -> dict[str, Any]:
    """Verify bundle ``text`` and store its patterns; returns what was imported and, for
    every record left out, why. Refused whole (``ImportFailed``) when the file is damaged,
    modified after signing, or signed by a key this browser does not trust."""
    bundle = await _verified(text.encode("utf-8"))
    signer = bundle.public_key.hex()
    if bundle.public_key not in trust.keys:
        raise ImportFailed(
            f"this bundle is signed by {signer}, a key this browser does not trust: add it to "
            "the trusted keys first if you know whose it is"
        )
    now = time.time()
    staged: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, record in enumerate(bundle.records, 1):
        pid = str(record.get("id"))
        reason = None
        try:
            Pattern.from_dict(record, new_id=pid, now=now)
        except InvalidPattern as exc:
            reason = f"invalid pattern: {exc}"
        if reason is None and pid in seen:
            reason = "duplicate id in this file: first one kept"
        if reason is None and await bank.get_pattern(pid) is not None:
            reason = "already in the bank: kept as it is"
        if reason is not None:
            skipped.append({"where": f"record {n}", "id": pid, "reason": reason})
            continue
        seen.add(pid)
        staged.append(record)
    imported = await bank.store_patterns(staged) if staged else []
    return {
        "signer": signer,
        "bank": (bundle.manifest.get("bank") or {}).get("id"),
        "created_at": bundle.manifest.get("created_at"),
        "read": len(bundle.records),
        "imported": len(imported),
        "imported_ids": imported,
        "skipped": len(skipped),
        "skipped_records": skipped,
    }
