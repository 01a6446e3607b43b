"""The semantic embedder as one quantized file, run in pure Python (Pyodide included).

Why: a browser has neither numpy nor ``tokenizers``, and should not download 16 MB of float16
weights. ``reasoningbank semantic-asset OUT`` (CPython, ``semantic.build_asset``) packs the
installed WordLlama table into one file: the tokenizer's vocabulary and merges, then one int8
row per token with its float32 scale. The weights are under the Llama 2 Community License, so
the file is made from the user's own installed wheel, never shipped with this package.

    embedder = AssetEmbedder.from_bytes(data)
    bank = await ReasoningBank.open("idb://my-bank", embedder=embedder)

Layout (little-endian; written by ``semantic.pack_asset``): ``MAGIC``; u32 length + JSON header (``name``, ``dims``, ``vocab``,
``merges``, ``specials``, ...); u32 length + the vocabulary as UTF-8, one token per line;
``merges`` pairs of u16 token ids, by rank; ``vocab`` float32 row scales; ``vocab * dims``
int8 values; u32 CRC-32 of everything before it.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from array import array
from typing import Any

from .bpe import BpeTokenizer
from .errors import ReasoningBankError

__all__ = ["MAGIC", "AssetEmbedder"]

MAGIC = b"RBSEM1\r\n"


class AssetEmbedder:
    """``text -> unit vector`` (list of floats) from a quantized asset; no numpy needed.

    Same interface as ``semantic.StaticEmbedder`` (``dims``, ``name``, ``__call__``); its
    vectors have a cosine above 0.99 with the float table's. Token rows are dequantized on
    first use and kept, so a document costs a tokenizer pass (cached per word) plus column
    sums over its tokens' rows.
    """

    def __init__(
        self,
        header: dict[str, Any],
        tokenizer: BpeTokenizer,
        scales: array[float],
        table: array[int],
    ) -> None:
        self.header = header
        self.dims: int = int(header["dims"])
        self.name: str = str(header["name"])
        self._tokenizer = tokenizer
        self._scales = scales
        self._table = table
        self._rows: dict[int, list[float]] = {}
        self._size = len(scales)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> AssetEmbedder:
        """Parse an asset; raises ``ReasoningBankError`` if it is not one, or is damaged."""
        header, vocab, merges, scales, table = _parse(bytes(data))
        specials = [s for s in header.get("specials", []) if isinstance(s, str)]
        try:
            tokenizer = BpeTokenizer(vocab, merges, specials)
        except (ValueError, IndexError) as exc:
            raise ReasoningBankError(f"semantic asset: inconsistent tokenizer ({exc})") from None
        return cls(header, tokenizer, scales, table)

    def tokenize(self, text: str) -> list[int]:
        return self._tokenizer.encode(text)

    def _row(self, token: int) -> list[float]:
        row = self._rows.get(token)
        if row is None:
            if not 0 <= token < self._size:
                token = min(max(token, 0), self._size - 1)
            start = token * self.dims
            scale = self._scales[token]
            row = [v * scale for v in self._table[start : start + self.dims]]
            self._rows[token] = row
        return row

    def __call__(self, text: str) -> list[float]:
        ids = self._tokenizer.encode(text)
        if not ids:
            vec = [0.0] * self.dims
            vec[0] = 1.0  # empty text: a fixed direction instead of an invalid zero vector
            return vec
        # Column sums over the token rows: a few C-level calls, whatever the text's length.
        acc = list(map(sum, zip(*map(self._row, ids), strict=False)))
        norm = math.sqrt(math.fsum(x * x for x in acc))
        if norm == 0.0:
            return list(acc)
        return [x / norm for x in acc]


def _bad(why: str) -> ReasoningBankError:
    return ReasoningBankError(
        f"not a usable semantic asset ({why}); rebuild it with `reasoningbank semantic-asset`"
    )


def _parse(data: bytes) -> tuple[dict[str, Any], list[str], list[tuple[int, int]], Any, Any]:
    if not data.startswith(MAGIC):
        raise _bad("wrong file type")
    if len(data) < len(MAGIC) + 12:
        raise _bad("truncated")
    (crc,) = struct.unpack_from("<I", data, len(data) - 4)
    if zlib.crc32(memoryview(data)[:-4]) != crc:
        raise _bad("truncated or damaged: checksum mismatch")
    pos = len(MAGIC)
    try:
        (n,) = struct.unpack_from("<I", data, pos)
        header = json.loads(data[pos + 4 : pos + 4 + n])
        pos += 4 + n
        dims, size, n_merges = int(header["dims"]), int(header["vocab"]), int(header["merges"])
        (n,) = struct.unpack_from("<I", data, pos)
        vocab = data[pos + 4 : pos + 4 + n].decode("utf-8").split("\n")
        pos += 4 + n
    except (ValueError, KeyError, TypeError, struct.error) as exc:
        raise _bad(f"bad header: {exc}") from None
    expected = pos + 4 * n_merges + 4 * size + size * dims + 4
    if len(vocab) != size or dims <= 0 or len(data) != expected:
        raise _bad("sizes do not add up")
    pairs = array("H", data[pos : pos + 4 * n_merges])
    pos += 4 * n_merges
    scales = array("f", data[pos : pos + 4 * size])
    pos += 4 * size
    if struct.pack("=H", 1) != struct.pack("<H", 1):  # pragma: no cover - big-endian hosts
        pairs.byteswap()
        scales.byteswap()
    if max(pairs, default=0) >= size:
        raise _bad("merge refers to a missing token")
    merges = list(zip(pairs[0::2], pairs[1::2], strict=True))
    table = array("b")
    table.frombytes(data[pos : pos + size * dims])
    return header, vocab, merges, scales, table
