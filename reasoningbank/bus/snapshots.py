"""Snapshots: a signed manifest plus content-addressed chunks, resumable after a cut.

The Rust original streamed unsigned snapshots that restarted from zero after any drop.
Here a snapshot is:

* chunks: the canonical JSON lines of the patterns (sorted by content address), cut into
  ``chunk_size`` pieces; each chunk is named by its SHA-256, so a chunk is self-verifying
  and any peer (or cache) can serve it;
* a manifest listing the chunk hashes in order, the total size and pattern count, signed by
  the snapshot's maker under its own domain tag.

A ``SnapshotReceiver`` verifies the manifest, accepts only chunks the manifest names, and can
export its progress (``resume_state``) and be rebuilt from it; after a cut it asks only for
the chunks it still misses. Patterns inside keep their own author signatures: importing a
snapshot re-verifies each pattern against the trust list, so a snapshot maker cannot inject
patterns either.

Wire ops (frame type SNAPSHOT): ``snapshot.get`` {} → ``snapshot.manifest`` {manifest};
``snapshot.chunks`` {"ids": [...]} → one ``snapshot.chunk`` frame per chunk (raw payload;
END_STREAM on the last one).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from .errors import ForgedSignature, LocalBusError, MalformedFrame, ProtocolViolation
from .events import BusEvent, SnapshotChunkReceived, SnapshotComplete
from .intents import SignRequest, VerifyRequest, run_async, run_sync
from .provenance import canonical_json, pattern_id
from .state import TransferEvent, TransferMachine, TransferState

__all__ = ["SNAPSHOT_TAG", "Manifest", "SnapshotReceiver", "build_snapshot_flow"]

SNAPSHOT_TAG = b"reasoningbank/snapshot/v1\x00"
DEFAULT_CHUNK_SIZE = 32 * 1024
MAX_CHUNKS = 100_000


@dataclass(frozen=True, slots=True)
class Manifest:
    """Signed description of one snapshot. ``id`` is the hash of its signed body."""

    body: dict[str, Any]
    signature: bytes

    @property
    def chunks(self) -> list[str]:
        return list(self.body["chunks"])

    @property
    def id(self) -> str:
        return hashlib.sha256(canonical_json(self.body)).hexdigest()

    @property
    def author(self) -> bytes:
        return bytes.fromhex(self.body["author"])

    def to_dict(self) -> dict[str, Any]:
        return {"body": self.body, "signature": self.signature.hex()}

    @classmethod
    def from_dict(cls, data: Any) -> Manifest:
        """Parse and validate shape (not the signature: see ``SnapshotReceiver``)."""
        try:
            body, sig = data["body"], bytes.fromhex(data["signature"])
            chunks = body["chunks"]
            ok = (
                body.get("v") == 1
                and len(bytes.fromhex(body["author"])) == 32
                and len(sig) == 64
                and isinstance(chunks, list)
                and len(chunks) <= MAX_CHUNKS
                and all(isinstance(c, str) and len(c) == 64 for c in chunks)
                and isinstance(body["size"], int)
                and isinstance(body["count"], int)
                and isinstance(body["chunk_size"], int)
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            ok = False
        if not ok:
            raise MalformedFrame("bad snapshot manifest")
        return cls(body, sig)


def build_snapshot_flow(
    patterns: list[dict[str, Any]],
    public_key: bytes,
    created_at: float,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Generator[SignRequest, bytes, tuple[Manifest, dict[str, bytes]]]:
    """Make (manifest, chunks by hash) from signed patterns; deterministic for equal input."""
    if chunk_size <= 0:
        raise LocalBusError("chunk_size must be positive")
    ordered = sorted(patterns, key=pattern_id)
    content = b"".join(canonical_json(p) + b"\n" for p in ordered)
    chunks: dict[str, bytes] = {}
    order: list[str] = []
    for i in range(0, len(content), chunk_size):
        piece = content[i : i + chunk_size]
        h = hashlib.sha256(piece).hexdigest()
        chunks[h] = piece
        order.append(h)
    body = {
        "v": 1,
        "author": public_key.hex(),
        "created_at": created_at,
        "count": len(ordered),
        "size": len(content),
        "chunk_size": chunk_size,
        "chunks": order,
    }
    signature = yield SignRequest(SNAPSHOT_TAG + canonical_json(body))
    return Manifest(body, bytes(signature)), chunks


Snapshot = tuple[Manifest, dict[str, bytes]]


def build_snapshot(
    patterns: list[dict[str, Any]], signer: Any, created_at: float, **kw: Any
) -> Snapshot:
    flow = build_snapshot_flow(patterns, signer.public_key, created_at, **kw)
    return run_sync(flow, signer=signer)


async def abuild_snapshot(
    patterns: list[dict[str, Any]], signer: Any, created_at: float, **kw: Any
) -> Snapshot:
    return await run_async(
        build_snapshot_flow(patterns, signer.public_key, created_at, **kw), signer=signer
    )


class SnapshotReceiver:
    """Download state for one snapshot: which chunks are here, which are missing."""

    def __init__(self, trusted_makers: set[bytes] | None = None) -> None:
        self.trusted_makers = trusted_makers
        self.machine = TransferMachine()
        self.manifest: Manifest | None = None
        self._chunks: dict[str, bytes] = {}

    @property
    def state(self) -> TransferState:
        return self.machine.state

    def manifest_flow(self, data: Any) -> Generator[VerifyRequest, bool, None]:
        """Accept a manifest (shape, maker, signature); raise ``RemoteBusError`` if bad."""
        manifest = Manifest.from_dict(data)
        if self.trusted_makers is not None and manifest.author not in self.trusted_makers:
            from .errors import UntrustedKey

            self.machine.process(TransferEvent.FAIL)
            raise UntrustedKey("snapshot maker is not trusted")
        ok = yield VerifyRequest(
            manifest.author, manifest.signature, SNAPSHOT_TAG + canonical_json(manifest.body)
        )
        if not ok:
            self.machine.process(TransferEvent.FAIL)
            raise ForgedSignature("snapshot manifest signature does not verify")
        if self.manifest is not None:
            if manifest.id != self.manifest.id:
                raise ProtocolViolation("a different snapshot is already being received")
            if self.state == TransferState.INTERRUPTED:
                self.machine.process(TransferEvent.RESUME)
            return
        self.manifest = manifest
        self.machine.process(TransferEvent.MANIFEST)

    def accept_manifest(self, data: Any, verifier: Any) -> None:
        run_sync(self.manifest_flow(data), verifier=verifier)

    async def aaccept_manifest(self, data: Any, verifier: Any) -> None:
        await run_async(self.manifest_flow(data), verifier=verifier)

    def missing(self) -> list[str]:
        """Chunk hashes still needed, in manifest order."""
        if self.manifest is None:
            return []
        return [h for h in dict.fromkeys(self.manifest.chunks) if h not in self._chunks]

    def add_chunk(self, data: bytes) -> list[BusEvent]:
        """Store a chunk if the manifest names it (by hash); unknown chunks are refused."""
        if self.manifest is None:
            raise ProtocolViolation("chunk before manifest")
        h = hashlib.sha256(data).hexdigest()
        wanted = set(self.manifest.chunks)
        if h not in wanted:
            raise ProtocolViolation("chunk not named by the manifest")
        if self.state == TransferState.COMPLETE or h in self._chunks:
            return []
        self.machine.process(TransferEvent.CHUNK)
        self._chunks[h] = data
        events: list[BusEvent] = [SnapshotChunkReceived(h, len(self._chunks), len(wanted))]
        if not self.missing():
            events.append(self._complete())
        return events

    def _complete(self) -> SnapshotComplete:
        assert self.manifest is not None
        content = b"".join(self._chunks[h] for h in self.manifest.chunks)
        if len(content) != self.manifest.body["size"]:
            self.machine.process(TransferEvent.FAIL)
            raise ProtocolViolation("snapshot size does not match its manifest")
        patterns = [json.loads(line) for line in content.splitlines() if line]
        if len(patterns) != self.manifest.body["count"]:
            self.machine.process(TransferEvent.FAIL)
            raise ProtocolViolation("snapshot count does not match its manifest")
        self.machine.process(TransferEvent.DONE)
        return SnapshotComplete(self.manifest.id, patterns)

    def cut(self) -> None:
        """The transport dropped mid-transfer; keep what we have."""
        if self.state in (TransferState.RECEIVING, TransferState.INTERRUPTED):
            self.machine.process(TransferEvent.CUT)

    def resume_state(self) -> dict[str, Any]:
        """JSON-able progress, to persist and hand to ``from_resume_state`` later."""
        return {
            "manifest": self.manifest.to_dict() if self.manifest else None,
            "chunks": {h: c.hex() for h, c in self._chunks.items()},
        }

    @classmethod
    def from_resume_state(
        cls, state: dict[str, Any], verifier: Any, trusted_makers: set[bytes] | None = None
    ) -> SnapshotReceiver:
        rx = cls(trusted_makers)
        if state.get("manifest"):
            rx.accept_manifest(state["manifest"], verifier)
            for chunk in state.get("chunks", {}).values():
                rx.add_chunk(bytes.fromhex(chunk))
            rx.cut()
        return rx

    def resume(self) -> list[str]:
        """Continue after a cut: back to RECEIVING; returns the chunk hashes to request."""
        if self.state == TransferState.INTERRUPTED:
            self.machine.process(TransferEvent.RESUME)
        return self.missing()
