"""Bank ↔ hub integration: identity, trust, share, sync and import.

Written against three duck-typed bank methods, so it works with any object that has them:
``await bank.all_patterns()`` (→ ``Pattern`` objects or dicts), ``await bank.get_pattern(id)``
and ``await bank.store_pattern(dict)``.

Local patterns without provenance are ours: they are signed with the bank's identity at sync
time, with ``signed_at`` = their ``created_at``, so the (deterministic) Ed25519 signature and
therefore the gossip id are the same on every sync. Patterns received from others keep their
author's provenance and are re-shared unchanged. Imported patterns are stored only if no
pattern with the same id exists locally (a local pattern is never overwritten by a remote one).
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from ..errors import ReasoningBankError
from ..model import parse_time
from .aio.client import BusClient, connect
from .events import PatternAccepted, PatternRejected
from .frames import FrameType
from .keys import TrustList, identity_path, load_or_create_seed, store_identity, store_trust
from .provenance import (
    PatternRefusal,
    provenance_of,
    shareable,
    sign_pattern,
    verify_pattern,
)
from .signers import NaclSigner, NaclVerifier

__all__ = ["BankLink", "bank_identity", "connect_bank", "sync_bank"]


def bank_identity(db_path: str | os.PathLike[str]) -> tuple[NaclSigner, TrustList]:
    """The bank's signer (identity created on first use) and its trust list."""
    return NaclSigner(load_or_create_seed(db_path)), TrustList.load(db_path)


def _as_dict(pattern: Any) -> dict[str, Any]:
    if hasattr(pattern, "to_dict"):
        return pattern.to_dict(with_embedding=False)  # type: ignore[no-any-return]
    return dict(pattern)


async def outgoing_patterns(
    bank: Any, signer: Any, verifier: Any, trusted: set[bytes]
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Every local pattern, ready to share: ours signed, others' re-verified.

    Returns (patterns, skipped ``{"id", "reason"}``). Why: a bank written by an older
    version may hold a pattern with NaN, ±Infinity or an out-of-range time, which cannot be
    signed; it stays home and is reported, so it never blocks sharing the others.
    """
    out, skipped = [], []
    for pattern in await bank.all_patterns():
        try:
            data = _as_dict(pattern)
            if provenance_of(data) is None:
                meta = data.get("metadata") or {}
                created = meta.get("created_at")
                signed_at = parse_time(created, "created_at") if created is not None else 0.0
                data = sign_pattern(shareable(data), signer, round(signed_at, 6))
            else:
                data = shareable(data)
                try:
                    verify_pattern(data, trusted, verifier)
                except PatternRefusal:
                    continue  # no longer trusted or altered locally: do not re-share
        except (ReasoningBankError, ValueError, OverflowError) as exc:
            pid = pattern.id if hasattr(pattern, "id") else pattern.get("id")
            skipped.append({"id": str(pid), "reason": str(exc)})
            continue
        out.append(data)
    return out, skipped


class BankLink:
    """A bank connected to a hub: share, sync (share + catch up + import), streams."""

    def __init__(
        self, bank: Any, client: BusClient, signer: Any, verifier: Any, trusted: set[bytes]
    ) -> None:
        self.bank = bank
        self.client = client
        self.signer = signer
        self.verifier = verifier
        self.trusted = trusted
        self._imported_upto = 0

    def set_trusted(self, keys: set[bytes]) -> bool:
        """Trust exactly ``keys`` from now on (``trust add`` / ``remove`` while linked);
        patterns refused before because their author was not trusted come in on the next
        sync. Returns whether anything changed."""
        if keys == self.trusted:
            return False
        self.trusted.clear()  # one set, shared with the session's gossip node
        self.trusted.update(keys)
        self.client.peer.gossip.trust_changed()
        return True

    @property
    def hub_key(self) -> bytes | None:
        return self.client.peer.conn.peer_key

    async def share_all(self) -> tuple[int, list[dict[str, str]]]:
        """Offer every shareable pattern; returns (accepted, skipped ``{"id", "reason"}``)."""
        patterns, skipped = await outgoing_patterns(
            self.bank, self.signer, self.verifier, self.trusted
        )
        n = 0
        for data in patterns:
            n += sum(isinstance(e, PatternAccepted) for e in self.client.share(data))
        return n, skipped

    async def import_received(self) -> tuple[int, Counter[str]]:
        """Store patterns received since the last call; returns (imported, rejections)."""
        imported, rejected = 0, Counter[str]()
        events = self.client.events[self._imported_upto :]
        self._imported_upto = len(self.client.events)
        for ev in events:
            if isinstance(ev, PatternAccepted) and ev.peer is not None:
                if await self.bank.get_pattern(ev.pattern["id"]) is None:
                    await self.bank.store_pattern(shareable(ev.pattern))
                    imported += 1
            elif isinstance(ev, PatternRejected):
                rejected[ev.reason] += 1
        return imported, rejected

    async def sync(self, timeout: float = 30.0) -> dict[str, Any]:
        shared, skipped = await self.share_all()
        await self.client.sync(timeout)
        imported, rejected = await self.import_received()
        return {
            "shared": shared,
            "skipped": len(skipped),
            "skipped_patterns": skipped,
            "imported": imported,
            "rejected": dict(rejected),
            "known": len(self.client.peer.gossip.store),
        }

    def open_stream(self, kind: FrameType, meta: dict[str, Any] | None = None) -> int:
        return self.client.open_stream(kind, meta)

    def send_stream(self, stream_id: int, data: bytes, *, end: bool = False) -> None:
        self.client.send_stream(stream_id, data, end=end)

    async def close(self) -> None:
        await self.client.close()


async def connect_bank(
    bank: Any,
    url: str,
    *,
    db_path: str | os.PathLike[str] | None = None,
    cert_hash: str | None = None,
    timeout: float = 10.0,
    announce_trust: bool = False,
) -> BankLink:
    """What ``await bank.connect(url, cert_hash=...)`` does: a live ``BankLink``."""
    store = getattr(bank, "_store", None)
    if db_path is None:  # the bank's location decides where its identity lives
        db_path = getattr(store, "location", None) or ":memory:"
    if identity_path(db_path) is None and store is not None and hasattr(store, "get_meta"):
        # no file next to the bank (IndexedDB): identity and trust live in its meta table
        signer = NaclSigner(await store_identity(store))
        trust = await store_trust(store)
    else:
        signer, trust = bank_identity(db_path)
    verifier = NaclVerifier()
    trusted = trust.as_set(own=signer.public_key)
    client = await connect(
        url,
        signer=signer,
        verifier=verifier,
        trusted=trusted,
        cert_hash=cert_hash,
        timeout=timeout,
        announce_trust=announce_trust,
    )
    return BankLink(bank, client, signer, verifier, trusted)


async def sync_bank(
    bank: Any,
    url: str,
    *,
    db_path: str | os.PathLike[str] | None = None,
    cert_hash: str | None = None,
    timeout: float = 30.0,
    announce_trust: bool = False,
) -> dict[str, Any]:
    """One-shot sync (``reasoningbank sync``): connect, share, catch up, import, close."""
    link = await connect_bank(
        bank,
        url,
        db_path=db_path,
        cert_hash=cert_hash,
        timeout=min(timeout, 10.0),
        announce_trust=announce_trust,
    )
    try:
        result = await link.sync(timeout)
        result["hub"] = url
        result["hub_key"] = link.hub_key.hex() if link.hub_key else None
        return result
    finally:
        await link.close()
