"""A pure-Python Llama-2 BPE tokenizer (the WordLlama tokenizer file, without ``tokenizers``).

Why: the semantic embedder must run in Pyodide, where the Rust ``tokenizers`` package does not
exist. This reproduces exactly what ``tokenizers`` does with that file (same ids):

- the special tokens (``<unk>``, ``<s>``, ``</s>``) are matched in the raw text first;
- every other piece is normalised: ``"▁"`` prepended, spaces replaced by ``"▁"``;
- BPE merges the characters, always the lowest-ranked pair first (leftmost on ties);
- a character missing from the vocabulary becomes its UTF-8 byte tokens (``<0xAB>``).

No vocabulary token has a ``"▁"`` after another character, so no merge crosses the start of
a ``"▁"`` run: each run plus the word after it is merged on its own and cached, which makes
repeated words cost a dictionary lookup.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

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
        """Merge the lowest-ranked adjacent pair until none is left (leftmost on ties)."""
        symbols = self._symbols(chunk)
        merges = self._merges
        while len(symbols) > 1:
            best: tuple[int, int] | None = None
            at = 0
            for i in range(len(symbols) - 1):
                found = merges.get((symbols[i], symbols[i + 1]))
                if found is not None and (best is None or found[0] < best[0]):
                    best, at = found, i
            if best is None:
                break
            symbols[at : at + 2] = [best[1]]
        return tuple(symbols)
