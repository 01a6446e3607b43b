"""Batched Ed25519 verification through WebCrypto: one promise for a whole read.

Why: the sans-IO connection verifies frames one at a time (``VerifyRequest`` → answer). With
WebCrypto every answer is a promise, and awaiting one costs a few FFI crossings plus an event
loop turn: about a millisecond per frame in the browser, which caps a token stream near
1,000 frames/s. So before the bytes of a read go to the connection, ``signed_parts`` lists
the (key, signature, signed bytes) of every complete signed frame in them, and ``prefetch``
verifies all of them with one ``Promise.all`` in ``glue.js``. The connection's own
``VerifyRequest``s then find their answers ready; anything else (a request that does not
match exactly, a pattern signature) goes to WebCrypto as before. The acceptance rules and
their order are untouched: only *when* the signature math runs changes.
"""

from __future__ import annotations

import struct
from collections import OrderedDict

from reasoningbank.bus.frames import KEY_SIZE, SIGNATURE_SIZE, SIGNING_TAG, Flags
from reasoningbank.bus.signers import WebCryptoVerifier

from .transport import glue

__all__ = ["BatchVerifier", "FrameScanner"]

_PREFIX = struct.Struct(">IBBHHI")  # length, version, type, flags, header_length, payload_length
_BASE_SIZE = 13  # u32 stream_id, u64 seq, u8 priority; the signer's key follows


class FrameScanner:
    """Follows the received byte stream just far enough to find signed frames' parts."""

    def __init__(self, max_frame_size: int) -> None:
        self.max_frame_size = max_frame_size
        self._buf = bytearray()
        self.broken = False  # garbage seen: stop scanning (the connection reports it)

    def signed_parts(self, data: bytes) -> list[tuple[bytes, bytes, bytes]]:
        if self.broken:
            return []
        buf = self._buf
        buf += data
        out: list[tuple[bytes, bytes, bytes]] = []
        off = 0
        while len(buf) - off >= _PREFIX.size:
            length, _v, _t, flags, hlen, _plen = _PREFIX.unpack_from(buf, off)
            total = 4 + length
            if total > self.max_frame_size or total < _PREFIX.size:
                self.broken = True
                buf.clear()
                return out
            if len(buf) - off < total:
                break
            if flags & Flags.SIGNED and hlen >= _BASE_SIZE + KEY_SIZE:
                head = off + _PREFIX.size
                out.append(
                    (
                        bytes(buf[head + _BASE_SIZE : head + _BASE_SIZE + KEY_SIZE]),
                        bytes(buf[off + total - SIGNATURE_SIZE : off + total]),
                        SIGNING_TAG + bytes(buf[off + 4 : head + hlen]),
                    )
                )
            off += total
        del buf[:off]
        return out


class BatchVerifier:
    """A WebCrypto verifier with ``prefetch``: answers computed in bulk, used once each."""

    def __init__(self, capacity: int = 65536) -> None:
        self._single = WebCryptoVerifier()
        self._ready: OrderedDict[tuple[bytes, bytes, bytes], bool] = OrderedDict()
        self._capacity = capacity
        self.batched = 0
        self.single = 0

    async def prefetch(self, items: list[tuple[bytes, bytes, bytes]]) -> None:
        if not items:
            return
        from pyodide.ffi import to_js  # type: ignore[import-not-found]

        offsets = [0]
        for _, _, data in items:
            offsets.append(offsets[-1] + len(data))
        result = await glue().verifyBatch(
            to_js(b"".join(k for k, _, _ in items)),
            to_js(b"".join(s for _, s, _ in items)),
            to_js(b"".join(d for _, _, d in items)),
            to_js(offsets),
        )
        answers = bytes(result.to_bytes())
        for item, ok in zip(items, answers, strict=True):
            self._ready[item] = bool(ok)
        while len(self._ready) > self._capacity:
            self._ready.popitem(last=False)

    async def verify(self, public_key: bytes, signature: bytes, data: bytes) -> bool:
        ok = self._ready.pop((public_key, signature, data), None)
        if ok is not None:
            self.batched += 1
            return ok
        self.single += 1
        return await self._single.verify(public_key, signature, data)
