"""Signed export bundles: one self-describing, verifiable file holding a bank's patterns.

Layout (UTF-8 text, one JSON document per line, so it streams and diffs well)::

    line 1        manifest   {"type": "reasoningbank.bundle", "bundle_version": 1,
                              "schema_version": 1, "created_at": ..., "bank": {"id", "public_key"},
                              "count": N, "hash": "sha256",
                              "records": [{"id": ..., "sha256": ...}, ...]}
    lines 2..N+1  records    one pattern JSON each (canonical: sorted keys, no spaces)
    line N+2      signature  {"type": "reasoningbank.bundle.signature", "alg": "ed25519",
                              "public_key": hex, "manifest_sha256": hex, "signature": hex}

The signature covers ``TAG + SHA-256(manifest line bytes)``; the manifest lists the SHA-256 of
every record line's exact bytes, in order. So changing, adding, removing or reordering a
record, or editing the manifest, is detected, and nothing needs re-canonicalising to verify
(another implementation checks the same bytes).

Record lines use the neural bus's canonical JSON, so they are byte for byte the pattern lines
of a bus snapshot (``reasoningbank.bus.snapshots``): a bundle's records can be served as
snapshot content, and the manifest is, like the snapshot's, a signed content-addressed list.

Building and reading are pure (bytes in, bytes out; the signing function is passed in).
Only ``export_*``/``identity``/``trusted_keys`` touch files; keys and signatures come from
``reasoningbank.bus`` (``keys``, ``signers``), which imports PyNaCl lazily.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .errors import ImportFailed, ReasoningBankError
from .files import write_private
from .model import Pattern, format_time

__all__ = [
    "BUNDLE_TAG",
    "BUNDLE_TYPE",
    "BUNDLE_VERSION",
    "Bundle",
    "PATTERN_SCHEMA_VERSION",
    "build_bundle",
    "export_bundle",
    "export_jsonl",
    "identity",
    "read_bundle",
    "trusted_keys",
]

BUNDLE_TYPE = "reasoningbank.bundle"
SIGNATURE_TYPE = "reasoningbank.bundle.signature"
BUNDLE_VERSION = 1
#: Version of the pattern JSON shape inside (DESIGN §2: the Rust/WASM-compatible shape).
PATTERN_SCHEMA_VERSION = 1
#: Domain separation: a bundle signature can never be replayed as any other signature.
BUNDLE_TAG = b"reasoningbank/bundle/v1\x00"


@dataclass(frozen=True, slots=True)
class Bundle:
    """A verified bundle: its manifest, its records (pattern dicts) and the signer's key."""

    manifest: dict[str, Any]
    records: list[dict[str, Any]]
    public_key: bytes


def canonical(value: Any) -> bytes:
    """The neural bus's canonical JSON (sorted keys, no whitespace, UTF-8, integral floats
    as ints, NaN refused), so a bundle's record lines are byte for byte the pattern lines
    of a bus snapshot (``reasoningbank.bus.snapshots``)."""
    from .bus.provenance import canonical_json

    return canonical_json(value)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def signed_message(manifest_line: bytes) -> bytes:
    """The exact bytes the bundle signature covers."""
    return BUNDLE_TAG + hashlib.sha256(manifest_line).digest()


# -- crypto: the neural bus's Ed25519 backends (PyNaCl under CPython) ------------------------
def public_key_of(seed: bytes) -> bytes:
    from .bus.signers import NaclSigner

    return NaclSigner(seed).public_key


def ed25519_sign(seed: bytes, message: bytes) -> bytes:
    from .bus.signers import NaclSigner

    return NaclSigner(seed).sign_sync(message)


def ed25519_verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    from .bus.signers import NaclVerifier

    return NaclVerifier().verify_sync(public_key, signature, message)


# -- building and reading (pure) ------------------------------------------------------------
def build_bundle(
    patterns: Iterable[dict[str, Any]],
    *,
    sign: Callable[[bytes], bytes],
    public_key: bytes,
    now: float,
    bank: dict[str, Any] | None = None,
) -> bytes:
    """Serialise and sign ``patterns`` (pattern dicts, embeddings included) into bundle bytes.

    ``sign(message) -> 64-byte signature`` is the bank's Ed25519 signer; ``now`` (epoch
    seconds) is written as ``created_at``.
    """
    lines = []
    entries = []
    for p in patterns:
        try:
            line = canonical(p)
        except (ValueError, ReasoningBankError) as exc:
            raise ReasoningBankError(f"pattern {p.get('id')!r} cannot be exported: {exc}") from exc
        lines.append(line)
        entries.append({"id": p.get("id"), "sha256": _sha256(line)})
    info = {"id": "rb:" + _sha256(public_key)[:16], "public_key": public_key.hex()}
    info.update(bank or {})
    manifest = {
        "type": BUNDLE_TYPE,
        "bundle_version": BUNDLE_VERSION,
        "schema_version": PATTERN_SCHEMA_VERSION,
        "record_type": "pattern",
        "created_at": format_time(now),
        "generator": "reasoningbank-py",
        "bank": info,
        "count": len(lines),
        "hash": "sha256",
        "records": entries,
    }
    head = canonical(manifest)
    signature = sign(signed_message(head))
    tail = canonical(
        {
            "type": SIGNATURE_TYPE,
            "alg": "ed25519",
            "public_key": public_key.hex(),
            "manifest_sha256": _sha256(head),
            "signature": signature.hex(),
        }
    )
    return b"\n".join([head, *lines, tail]) + b"\n"


def _json_line(line: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImportFailed(
            f"bundle {what} is not valid JSON ({exc}); the file is damaged"
        ) from None
    except RecursionError:
        raise ImportFailed(f"bundle {what} nests JSON too deeply; refusing it") from None
    if not isinstance(value, dict):
        raise ImportFailed(f"bundle {what} is not a JSON object; the file is damaged")
    return value


def read_bundle(
    data: bytes,
    *,
    trusted_keys: Iterable[bytes] | None = None,
    verify: Callable[[bytes, bytes, bytes], bool] | None = None,
) -> Bundle:
    """Verify and parse bundle bytes. Raises ``ImportFailed`` saying what is wrong.

    Checks, in order: layout, versions, the Ed25519 signature over the manifest, the signer
    against ``trusted_keys`` (when given), record count, then each record's SHA-256 and id.
    Nothing is returned unless every check passes.
    """
    verify = verify or ed25519_verify
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if len(lines) < 2:
        raise ImportFailed("not a ReasoningBank bundle: expected a manifest and a signature line")
    manifest = _json_line(lines[0], "manifest")
    if manifest.get("type") != BUNDLE_TYPE:
        raise ImportFailed("not a ReasoningBank bundle: the first line is not a bundle manifest")
    version = manifest.get("bundle_version")
    if not isinstance(version, int) or version > BUNDLE_VERSION:
        raise ImportFailed(
            f"bundle version {version!r} is newer than this reasoningbank understands "
            f"({BUNDLE_VERSION}); upgrade reasoningbank to import it"
        )
    schema = manifest.get("schema_version")
    if not isinstance(schema, int) or schema > PATTERN_SCHEMA_VERSION:
        raise ImportFailed(
            f"bundle pattern schema {schema!r} is newer than this version understands"
        )
    sig = _json_line(lines[-1], "signature line")
    if sig.get("type") != SIGNATURE_TYPE or sig.get("alg") != "ed25519":
        raise ImportFailed("bundle is not signed (no ed25519 signature line): refusing it")
    try:
        public_key = bytes.fromhex(str(sig.get("public_key")))
        signature = bytes.fromhex(str(sig.get("signature")))
    except ValueError:
        raise ImportFailed("bundle signature line is damaged (bad hex)") from None
    if not verify(public_key, signature, signed_message(lines[0])):
        raise ImportFailed(
            "bundle signature does not verify: the manifest was modified after signing "
            "(or the signature belongs to another bundle); refusing to import it"
        )
    bank_key = str((manifest.get("bank") or {}).get("public_key", ""))
    if bank_key != public_key.hex():
        raise ImportFailed("bundle was signed by a key other than the bank it names; refusing it")
    if trusted_keys is not None and public_key not in {bytes(k) for k in trusted_keys}:
        raise ImportFailed(
            f"bundle is signed by {public_key.hex()}, a key this bank does not trust; if you "
            "expect it: `reasoningbank trust add KEY`, or import with --trust-signer"
        )
    entries = manifest.get("records")
    body = lines[1:-1]
    if not isinstance(entries, list) or manifest.get("count") != len(entries):
        raise ImportFailed("bundle manifest is inconsistent (count does not match its record list)")
    if len(body) != len(entries):
        raise ImportFailed(
            f"bundle holds {len(body)} records but its signed manifest lists {len(entries)}: "
            "records were added or removed; refusing it"
        )
    records = []
    for n, (line, entry) in enumerate(zip(body, entries, strict=True), 1):
        if not isinstance(entry, dict) or _sha256(line) != entry.get("sha256"):
            pid = entry.get("id") if isinstance(entry, dict) else None
            raise ImportFailed(
                f"bundle record {n} (id {pid!r}) does not match its SHA-256 in the signed "
                "manifest: it was modified; refusing the whole bundle"
            )
        record = _json_line(line, f"record {n}")
        if record.get("id") != entry.get("id"):
            raise ImportFailed(
                f"bundle record {n} has id {record.get('id')!r}, manifest says {entry.get('id')!r}"
            )
        records.append(record)
    return Bundle(manifest=manifest, records=records, public_key=public_key)


# -- bank identity ------------------------------------------------------------------------
def identity(location: str) -> bytes:
    """The bank's 32-byte Ed25519 seed (``<bank>.key``, created 0600 on first use), shared
    with the neural bus: a bundle and a bus message from one bank carry the same key."""
    from .bus.keys import load_or_create_seed

    return load_or_create_seed(location)


def trusted_keys(location: str) -> set[bytes]:
    """Keys whose bundles the bank at ``location`` accepts: its own and its trust list."""
    from .bus.keys import TrustList

    return TrustList.load(location).as_set(own=public_key_of(identity(location)))


def _patterns_for_export(
    patterns: list[Any],
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """(exportable pattern dicts, skipped ``{"id", "reason"}``).

    Why: a bank written by an older version may hold a pattern with NaN, ±Infinity or an
    out-of-range time, which no importer accepts; it is left out and reported, so one bad
    pattern never blocks the export of the others. What is written is what import accepts.
    """
    out, skipped = [], []
    for p in patterns:
        try:
            d = p.to_dict(with_embedding=True)
            Pattern.from_dict(d, new_id=str(d["id"]), now=0.0)  # the import's own checks
            canonical(d)
        except (ReasoningBankError, ValueError, OverflowError) as exc:
            skipped.append({"id": str(p.id), "reason": str(exc)})
            continue
        out.append(d)
    return out, skipped


async def export_bundle(
    bank: Any, path: str, *, location: str, seed: bytes | None = None
) -> dict[str, Any]:
    """Write every pattern of ``bank`` to ``path`` as a signed bundle; returns a summary.

    ``location`` is the bank's path (its identity key lives beside it) unless ``seed`` is
    given. The file is written to a temporary name and renamed, so a failed export never
    leaves a half bundle behind.
    """
    key = seed if seed is not None else identity(location)
    public_key = public_key_of(key)
    patterns, skipped = _patterns_for_export(await bank.all_patterns())
    blob = build_bundle(
        patterns, sign=lambda m: ed25519_sign(key, m), public_key=public_key, now=time.time()
    )
    write_private(path, blob)
    return {
        "path": path,
        "format": "bundle",
        "count": len(patterns),
        "public_key": public_key.hex(),
        "bytes": len(blob),
        "skipped": len(skipped),
        "skipped_patterns": skipped,
    }


async def export_jsonl(bank: Any, path: str) -> dict[str, Any]:
    """Plain pattern JSONL (unsigned; for other tools). Embeddings included."""
    patterns, skipped = _patterns_for_export(await bank.all_patterns())
    blob = b"".join(canonical(p) + b"\n" for p in patterns)
    write_private(path, blob)
    return {
        "path": path,
        "format": "jsonl",
        "count": len(patterns),
        "bytes": len(blob),
        "skipped": len(skipped),
        "skipped_patterns": skipped,
    }
