"""Optional semantic embedder (``pip install 'reasoningbank[semantic]'``).

A static token-embedding model: a text's vector is the mean of its tokens' vectors, so
embedding costs one tokenizer call and one table lookup (well under a millisecond), with no
network access at run time: the weights come inside the ``wordllama`` wheel from the package
registry (WordLlama ``l2_supercat``, 256 dimensions; MIT code, weights derived from Llama 2
token embeddings under the Llama 2 Community License). Only the weight and tokenizer files
are read; nothing from the package is imported.

    bank = await ReasoningBank.open("bank.db", embedder=StaticEmbedder())

Fused with the default lexical similarity (``ScoreWeights.lexical``/``semantic``) it ranks
best on the retrieval-quality benchmark (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import os
import struct
from importlib.util import find_spec
from typing import Any

from .errors import ReasoningBankError

__all__ = ["StaticEmbedder"]

_WEIGHTS = ("weights", "l2_supercat_256.safetensors")
_TOKENIZER = ("tokenizers", "l2_supercat_tokenizer_config.json")
_HINT = "the semantic embedder needs: pip install 'reasoningbank[semantic]'"


def _package_dir() -> str:
    spec = find_spec("wordllama")
    if spec is None or not spec.submodule_search_locations:
        raise ReasoningBankError(_HINT)
    return list(spec.submodule_search_locations)[0]


def _read_table(path: str) -> Any:
    """The embedding matrix from a safetensors file (numpy only, memory-mapped)."""
    import numpy as np

    with open(path, "rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(size))
    meta = header["embedding.weight"]
    dtype = {"F16": np.float16, "F32": np.float32}[meta["dtype"]]
    start, end = meta["data_offsets"]
    raw = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + size + start, shape=(end - start,))
    return np.frombuffer(raw, dtype=dtype).reshape(meta["shape"])


class StaticEmbedder:
    """``text -> unit vector`` (list of floats); ``dims`` truncates (matryoshka training)."""

    def __init__(self, dims: int = 256) -> None:
        try:
            import numpy as np
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ReasoningBankError(_HINT) from exc
        base = _package_dir()
        weights, tokenizer = os.path.join(base, *_WEIGHTS), os.path.join(base, *_TOKENIZER)
        if not (os.path.exists(weights) and os.path.exists(tokenizer)):
            raise ReasoningBankError(f"wordllama is installed but lacks its weights; {_HINT}")
        table = _read_table(weights)
        if not 0 < dims <= table.shape[1]:
            raise ReasoningBankError(f"dims must be between 1 and {table.shape[1]}")
        self._np = np
        self._table = np.ascontiguousarray(table[:, :dims], dtype=np.float32)
        self._tokenizer = Tokenizer.from_file(tokenizer)
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self.dims = dims
        self.name = f"wordllama-l2-supercat-{dims}"

    def __call__(self, text: str) -> list[float]:
        np = self._np
        ids = self._tokenizer.encode(text, add_special_tokens=False).ids
        if not ids:
            vec = np.zeros(self.dims, dtype=np.float32)
            vec[0] = 1.0  # empty text: a fixed direction instead of an invalid zero vector
            return list(vec.tolist())
        vec = self._table[np.clip(np.asarray(ids), 0, len(self._table) - 1)].mean(axis=0)
        norm = float(np.linalg.norm(vec))
        return list((vec / norm).tolist() if norm > 0 else vec.tolist())
