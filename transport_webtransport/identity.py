"""The browser's bus identity and trust list, kept in IndexedDB.

Identity: an Ed25519 key pair made by WebCrypto with ``extractable = false``. The private
``CryptoKey`` is stored in IndexedDB as is (structured clone keeps it non-extractable), so the
page can sign with it after a reload or a browser restart, but no script can export it.
Signatures are the same as PyNaCl's for the same key (Ed25519 is deterministic), so CPython
banks verify browser patterns with their usual verifier.

Trust: the raw public keys (hex) whose shared patterns this browser accepts, with a label,
in the same database. The browser's own key is always trusted.
"""

from __future__ import annotations

import json
from typing import Any

from reasoningbank.bus.keys import parse_key
from reasoningbank.bus.signers import WebCryptoSigner

from .transport import glue

__all__ = ["DEFAULT_IDENTITY_DB", "BrowserTrust", "ephemeral_identity", "load_identity"]

#: IndexedDB database holding the key pair and the trust list.
DEFAULT_IDENTITY_DB = "reasoningbank-identity"


async def load_identity(name: str = DEFAULT_IDENTITY_DB) -> WebCryptoSigner:
    """This browser's signer (created on first use, then the same key on every load)."""
    rec = await glue().identity(name)
    return WebCryptoSigner(bytes(rec.publicKey.to_bytes()), rec.privateKey)


async def ephemeral_identity() -> WebCryptoSigner:
    """A fresh non-extractable key that is never stored."""
    rec = await glue().ephemeral()
    return WebCryptoSigner(bytes(rec.publicKey.to_bytes()), rec.privateKey)


class BrowserTrust:
    """The trust list: ``keys`` is a live set of raw keys (sessions see additions at once)."""

    def __init__(self, name: str, own: bytes, entries: dict[str, Any]) -> None:
        self.name = name
        self.own = own
        self.entries = entries
        self.keys: set[bytes] = {bytes.fromhex(k) for k in entries} | {own}

    @classmethod
    async def load(cls, own: bytes, name: str = DEFAULT_IDENTITY_DB) -> BrowserTrust:
        return cls(name, own, json.loads(str(await glue().trustList(name))))

    async def add(self, key: str | bytes, label: str = "") -> bool:
        """Trust ``key`` (hex or raw); False if it already was."""
        raw = key if isinstance(key, bytes) else parse_key(key)
        hex_key = raw.hex()
        known = hex_key in self.entries
        await glue().trustPut(self.name, hex_key, label)
        self.entries[hex_key] = {"label": label}
        self.keys.add(raw)
        return not known

    async def remove(self, key: str | bytes) -> bool:
        raw = key if isinstance(key, bytes) else parse_key(key)
        hex_key = raw.hex()
        if hex_key not in self.entries:
            return False
        await glue().trustDelete(self.name, hex_key)
        del self.entries[hex_key]
        if raw != self.own:
            self.keys.discard(raw)
        return True
