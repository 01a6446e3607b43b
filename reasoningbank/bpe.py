"""A pure-Python Llama-2 BPE tokenizer (the WordLlama tokenizer file, without ``tokenizers``).

Why: the semantic embedder must run in Pyodide, where the Rust ``tokenizers`` package does not
exist. This reproduces exactly what ``tokenizers`` does with that file (same ids):

- the special tokens (``<unk>``, ``<s>``, ``</s>``) are matched in the raw text first;
- every other piece is normalised: ``"▁"`` prepended, spaces replaced by ``"▁"``;
- BPE merges the characters, always the lowest-ranked pair first (leftmost on ties), with the
  same heap-of-merges algorithm;
- a character missing from the vocabulary becomes its UTF-8 byte tokens (``<0xAB>``).

No vocabulary token has a ``"▁"`` after another character, so no merge crosses the start of
a ``"▁"`` run: each run plus the word after it is merged on its own and cached, which makes
repeated words cost a dictionary lookup.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from heapq import heapify, heappop, heappush

__all__ = ["BpeTokenizer"]

_SPACE = "\u2581"
#: Pieces merges cannot cross: a "▁" run with the characters up to the next run.
_CHUNK = re.compile(f"{_SPACE}*[^{_SPACE}]*")
_CACHE_LIMIT = 200_000


class BpeTokenizer:
    """``encode(text) -> ids`` for a byte-fallback BPE given as a vocabulary and merges.

    ``vocab``: token strings by id; ``merges``: ``(left_id, right_id)`` pairs by rank;
    ``specials``: tokens matched verbatim in the raw text (their ids come from ``vocab``).
    """

    def __init__(
        self,
        vocab: Sequence[str],
        merges: Sequence[tuple[int, int]],
        specials: Sequence[str] = ("<unk>", "<s>", "</s>"),
    ) -> None:
        self._ids = {token: i for i, token in enumerate(vocab)}
        self._merges: dict[tuple[int, int], tuple[int, int]] = {}
        for rank, (left, right) in enumerate(merges):
            merged = self._ids.get(vocab[left] + vocab[right])
            if merged is None:
                raise ValueError(f"merge #{rank} makes a token missing from the vocabulary")
            self._merges.setdefault((left, right), (rank, merged))
        self._bytes = [self._ids.get(f"<0x{b:02X}>") for b in range(256)]
        self._specials = {s: self._ids[s] for s in specials if s in self._ids}
        self._split = (
            re.compile("(" + "|".join(map(re.escape, sorted(self._specials, key=len)[::-1])) + ")")
            if self._specials
            else None
        )
        self._cache: dict[str, tuple[int, ...]] = {}
        self.unk = self._ids.get("<unk>", 0)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no ``<s>`` added), as ``tokenizers`` gives them."""
        if self._split is None:
            return self._encode_piece(text)
        out: list[int] = []
        for i, piece in enumerate(self._split.split(text)):
            if i % 2:
                out.append(self._specials[piece])
            elif piece:
                out += self._encode_piece(piece)
        return out

    def _encode_piece(self, text: str) -> list[int]:
        if not text:
            return []
        normal = _SPACE + text.replace(" ", _SPACE)
        out: list[int] = []
        cache = self._cache
        for chunk in _CHUNK.findall(normal):
            if not chunk:
                continue
            ids = cache.get(chunk)
            if ids is None:
                ids = self._bpe(chunk)
                if len(cache) < _CACHE_LIMIT:
                    cache[chunk] = ids
            out += ids
        return out

    def _symbols(self, chunk: str) -> list[int]:
        ids, out = self._ids, []
        for ch in chunk:
            i = ids.get(ch)
            if i is not None:
                out.append(i)
                continue
            byte_ids = [self._bytes[b] for b in ch.encode("utf-8", "surrogatepass")]
            if all(b is not None for b in byte_ids):
                out += byte_ids  # type: ignore[arg-type]
            elif not out or out[-1] != self.unk:  # fuse_unk: one <unk> per unknown run
                out.append(self.unk)
        return out

    def _bpe(self, chunk: str) -> tuple[int, ...]:
        """Merge the lowest-ranked adjacent pair until none is left (leftmost on ties).

        The algorithm of ``tokenizers`` itself: a heap of candidate merges over a linked list
        of symbols, entries made stale by an earlier merge skipped. O(n log n), so a long
        run without spaces (a URL, base64, minified code) stays fast.
        """
        symbols = self._symbols(chunk)
        n = len(symbols)
        if n < 2:
            return tuple(symbols)
        merges = self._merges
        nxt = [*range(1, n), -1]
        prev = list(range(-1, n - 1))
        heap = []
        for i in range(n - 1):
            found = merges.get((symbols[i], symbols[i + 1]))
            if found is not None:
                heap.append((found[0], i, found[1]))
        heapify(heap)
        while heap:
            _, i, merged = heappop(heap)
            j = nxt[i]
            if symbols[i] < 0 or j < 0:
                continue
            found = merges.get((symbols[i], symbols[j]))
            if found is None or found[1] != merged:
                continue  # stale: a neighbour changed since this entry was pushed
            symbols[i], symbols[j] = merged, -1
            k = nxt[i] = nxt[j]
            if k >= 0:
                prev[k] = i
                found = merges.get((merged, symbols[k]))
                if found is not None:
                    heappush(heap, (found[0], i, found[1]))
            p = prev[i]
            if p >= 0:
                found = merges.get((symbols[p], merged))
                if found is not None:
                    heappush(heap, (found[0], p, found[1]))
        return tuple(s for s in symbols if s >= 0)
