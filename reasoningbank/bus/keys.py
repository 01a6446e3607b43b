"""Per-bank identity (Ed25519 seed), trust list, and key rotation statements.

Files live next to the bank so a bank and its identity move together:

* ``<bank>.key``        32-byte seed as hex, created on first use with mode 0600 (POSIX);
* ``<bank>.trust.json`` ``{"v": 1, "keys": {"<hex>": {"label": ..., "added_at": ...}}}``, 0600.

Both are written whole (``files.write_private``: temporary file, fsync, rename or link), so a
full disk never leaves an empty key behind, and a new identity is linked into place only if
none exists, so two processes cannot race to create two different ones. Neither file is read
or written through a symbolic link.

An in-memory bank (``:memory:``) gets an ephemeral identity and an empty trust list.
Your own key is always trusted (you can re-import what you shared).

Banks without a file (IndexedDB under Pyodide: ``idb://name``) keep both in the store's meta
table instead (``bus.identity`` and ``bus.trust``): ``store_identity`` / ``store_trust``, which
take any object with async ``get_meta``/``set_meta`` (the ``Store`` protocol).

Rotation (docs/protocol.md §9): ``rotate_identity`` makes a new seed, keeps the old one as
``<bank>.key.<n>.old`` and returns a statement ``{"old", "new", "at", "signature"}`` signed
by the *old* key. Peers that trust the old key run ``trust add --rotation FILE``:
``accept_rotation`` checks the signature and adds the new key (the old one stays trusted until
removed, so patterns it signed keep verifying).

This module does file I/O on purpose and is not used by the sans-IO layers.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from ..errors import StorageError
from ..files import load_json, read_no_follow, write_private
from .errors import LocalBusError
from .provenance import canonical_json

__all__ = [
    "ROTATION_TAG",
    "TrustList",
    "save_store_trust",
    "store_identity",
    "store_trust",
    "accept_rotation",
    "identity_path",
    "load_or_create_seed",
    "parse_key",
    "rotate_identity",
    "trust_path",
]

ROTATION_TAG = b"reasoningbank/rotation/v1\x00"
MEMORY = ":memory:"
_TRUST_FILE_LIMIT = 16 * 1024 * 1024  # about 80k keys with labels


def identity_path(bank_path: str | os.PathLike[str]) -> Path | None:
    """Where the bank's identity lives, or ``None`` for an in-memory bank."""
    text = os.fspath(bank_path)
    if text == MEMORY or text.startswith("idb://"):
        return None
    return Path(text + ".key")


def trust_path(bank_path: str | os.PathLike[str]) -> Path | None:
    text = os.fspath(bank_path)
    if text == MEMORY or text.startswith("idb://"):
        return None
    return Path(text + ".trust.json")


_EPHEMERAL: dict[str, bytes] = {}


def load_or_create_seed(bank_path: str | os.PathLike[str]) -> bytes:
    """The bank's 32-byte Ed25519 seed, created (0600, written whole) on first use."""
    path = identity_path(bank_path)
    if path is None:
        return _EPHEMERAL.setdefault(os.fspath(bank_path), secrets.token_bytes(32))
    try:
        return _read_seed(path)
    except FileNotFoundError:
        pass
    seed = secrets.token_bytes(32)
    try:
        _write_key(path, seed, replace=False)
    except FileExistsError:
        return _read_seed(path)  # another process won the race: use its identity
    return seed


def _write_key(path: Path, seed: bytes, *, replace: bool) -> None:
    try:
        write_private(path, (seed.hex() + "\n").encode(), replace=replace)
    except StorageError as exc:
        raise LocalBusError(f"identity not saved: {exc}") from exc


_KEY_FILE_LIMIT = 4096  # a key file holds 65 bytes; anything far larger is something else
_KEY_FIX = (
    "restore it from a backup, or move it aside to make a new identity "
    "(peers then trust the new key)"
)


def _read_seed(path: Path) -> bytes:
    """Read a key file; raises ``FileNotFoundError`` if missing, else a one-line error."""
    try:
        data = read_no_follow(path, _KEY_FILE_LIMIT)
    except StorageError as exc:
        raise LocalBusError(f"identity unreadable: {exc}") from exc
    text = data.decode("ascii", errors="replace").strip()
    if not text:
        raise LocalBusError(f"{path} is empty (an interrupted write?): {_KEY_FIX}")
    try:
        seed = bytes.fromhex(text)
    except ValueError:
        seed = b""
    if len(seed) != 32:
        raise LocalBusError(
            f"{path} is not an identity file (expected 64 hex characters): {_KEY_FIX}"
        )
    return seed


def parse_key(text: str) -> bytes:
    """A public key given as 64 hex characters (as ``reasoningbank identity`` prints it)."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) != 32:
        raise LocalBusError(f"not an Ed25519 public key (64 hex characters): {text!r}")
    return key


class TrustList:
    """The keys whose patterns this bank accepts. Saved atomically on every change."""

    def __init__(self, path: Path | None, keys: dict[str, dict[str, Any]] | None = None) -> None:
        self.path = path
        self.keys: dict[str, dict[str, Any]] = dict(keys or {})

    @classmethod
    def load(cls, bank_path: str | os.PathLike[str]) -> TrustList:
        path = trust_path(bank_path)
        if path is None or not path.exists():
            return cls(path)
        try:
            data = load_json(read_no_follow(path, _TRUST_FILE_LIMIT), str(path))
            keys = data["keys"]
            if data.get("v") != 1 or not isinstance(keys, dict):
                raise ValueError
            for k in keys:
                parse_key(k)
        except (ValueError, KeyError, TypeError, AttributeError, LocalBusError) as exc:
            raise LocalBusError(f"{path} is not a trust list") from exc
        except StorageError as exc:
            raise LocalBusError(f"trust list unreadable: {exc}") from exc
        return cls(path, keys)

    def add(self, key: bytes, label: str = "", now: float | None = None) -> bool:
        """Trust ``key``; returns False if it already was."""
        hexkey = key.hex()
        if hexkey in self.keys:
            return False
        self.keys[hexkey] = {"label": label, "added_at": time.time() if now is None else now}
        self.save()
        return True

    def remove(self, key: bytes) -> bool:
        if self.keys.pop(key.hex(), None) is None:
            return False
        self.save()
        return True

    def as_set(self, own: bytes | None = None) -> set[bytes]:
        out = {bytes.fromhex(k) for k in self.keys}
        if own is not None:
            out.add(own)
        return out

    def save(self) -> None:
        """Replace the file whole, owner-only (it says whose patterns this bank accepts)."""
        if self.path is None:
            return
        text = json.dumps({"v": 1, "keys": self.keys}, indent=2, sort_keys=True) + "\n"
        try:
            write_private(self.path, text.encode())
        except StorageError as exc:
            raise LocalBusError(f"trust list not saved: {exc}") from exc


def rotate_identity(bank_path: str | os.PathLike[str], now: float | None = None) -> dict[str, Any]:
    """Replace the bank's identity; return the rotation statement signed by the old key."""
    from .signers import NaclSigner

    path = identity_path(bank_path)
    if path is None:
        raise LocalBusError("an in-memory bank has no persistent identity to rotate")
    old_seed = load_or_create_seed(bank_path)
    new_seed = secrets.token_bytes(32)
    old, new = NaclSigner(old_seed), NaclSigner(new_seed)
    body = {
        "old": old.public_key.hex(),
        "new": new.public_key.hex(),
        "at": time.time() if now is None else now,
    }
    statement = dict(body, signature=old.sign_sync(ROTATION_TAG + canonical_json(body)).hex())
    n = 1
    while path.with_name(f"{path.name}.{n}.old").exists():
        n += 1
    # The old key is copied aside before the new one replaces it in one rename, so a failed
    # write at any step leaves the old identity in place.
    _write_key(path.with_name(f"{path.name}.{n}.old"), old_seed, replace=False)
    _write_key(path, new_seed, replace=True)
    return statement


def accept_rotation(statement: dict[str, Any], trust: TrustList, verifier: Any) -> bytes:
    """Add the new key of a rotation statement whose old key we trust; returns the new key."""
    try:
        body = {"old": statement["old"], "new": statement["new"], "at": statement["at"]}
        old, new = parse_key(body["old"]), parse_key(body["new"])
        signature = bytes.fromhex(statement["signature"])
    except (KeyError, TypeError, ValueError) as exc:
        raise LocalBusError("not a rotation statement") from exc
    if old.hex() not in trust.keys:
        raise LocalBusError("the rotated-from key is not trusted here")
    if not verifier.verify_sync(old, signature, ROTATION_TAG + canonical_json(body)):
        raise LocalBusError("rotation statement signature does not verify")
    label = trust.keys[old.hex()].get("label", "")
    trust.add(new, label=f"{label} (rotated from {old.hex()[:12]})".strip())
    return new


# -- identity and trust inside a store's meta table (IndexedDB banks) ------------------------
IDENTITY_META = "bus.identity"
TRUST_META = "bus.trust"


async def store_identity(store: Any) -> bytes:
    """The bank's seed kept in ``store`` meta, created on first use (for ``idb://`` banks,
    where there is no file to hold it)."""
    text = await store.get_meta(IDENTITY_META)
    if text:
        seed = bytes.fromhex(text)
        if len(seed) != 32:
            raise LocalBusError("the bank's stored identity is corrupt")
        return seed
    seed = secrets.token_bytes(32)
    await store.set_meta(IDENTITY_META, seed.hex())
    return seed


async def store_trust(store: Any) -> TrustList:
    """The trust list kept in ``store`` meta. Call ``await save_store_trust(store, trust)``
    after changing it."""
    text = await store.get_meta(TRUST_META)
    keys: dict[str, dict[str, Any]] = {}
    if text:
        try:
            data = json.loads(text)
            keys = data["keys"]
            for k in keys:
                parse_key(k)
        except (ValueError, KeyError, TypeError, LocalBusError) as exc:
            raise LocalBusError("the bank's stored trust list is corrupt") from exc
    return TrustList(None, keys)


async def save_store_trust(store: Any, trust: TrustList) -> None:
    await store.set_meta(TRUST_META, json.dumps({"v": 1, "keys": trust.keys}, sort_keys=True))
