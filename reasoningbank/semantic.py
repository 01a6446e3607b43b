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

``build_asset`` (CLI: ``reasoningbank semantic-asset OUT``) packs the same table, quantized,
for the pure-Python ``semantic_asset.AssetEmbedder`` that browsers run.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from array import array
from collections.abc import Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from .errors import ReasoningBankError
from .semantic_asset import MAGIC

__all__ = ["ASSET_DIMS", "StaticEmbedder", "build_asset", "pack_asset", "write_asset"]

_WEIGHTS = ("weights", "l2_supercat_256.safetensors")
_TOKENIZER = ("tokenizers", "l2_supercat_tokenizer_config.json")
_HINT = "the semantic embedder needs: pip install 'reasoningbank[semantic]'"
#: Dimensions of the browser asset (8.8 MB at 256). All 256: then the int8 table ranks as the
#: float one does on the quality benchmark, and a page's vectors match a CPython bank's
#: (``StaticEmbedder()``); 128 halves the file but costs the hybrid 0.015 Pearson on Lee.
ASSET_DIMS = 256


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


def _files() -> tuple[str, str]:
    base = _package_dir()
    weights, tokenizer = os.path.join(base, *_WEIGHTS), os.path.join(base, *_TOKENIZER)
    if not (os.path.exists(weights) and os.path.exists(tokenizer)):
        raise ReasoningBankError(f"wordllama is installed but lacks its weights; {_HINT}")
    return weights, tokenizer


class StaticEmbedder:
    """``text -> unit vector`` (list of floats); ``dims`` truncates (matryoshka training)."""

    def __init__(self, dims: int = 256) -> None:
        try:
            import numpy as np
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ReasoningBankError(_HINT) from exc
        weights, tokenizer = _files()
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


def build_asset(dims: int = ASSET_DIMS) -> bytes:
    """The installed table as a ``semantic_asset`` file: the first ``dims`` columns, int8 per
    row with a float32 scale (symmetric: ``scale = max|x| / 127``). Needs numpy only."""
    import numpy as np

    weights, tokenizer = _files()
    table = _read_table(weights)
    if not 0 < dims <= table.shape[1]:
        raise ReasoningBankError(f"dims must be between 1 and {table.shape[1]}")
    with open(tokenizer, encoding="utf-8") as fh:
        config = json.load(fh)
    ids: dict[str, int] = config["model"]["vocab"]
    vocab = sorted(ids, key=ids.__getitem__)
    if [ids[t] for t in vocab] != list(range(len(vocab))) or len(vocab) != table.shape[0]:
        raise ReasoningBankError("wordllama's tokenizer and table disagree; reinstall it")
    merges = [
        tuple(ids[part] for part in (m.split(" ") if isinstance(m, str) else m))
        for m in config["model"]["merges"]
    ]
    rows = np.asarray(table[:, :dims], dtype=np.float32)
    peak = np.abs(rows).max(axis=1)
    scales = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    quantized = np.clip(np.rint(rows / scales[:, None]), -127, 127).astype(np.int8)
    header = {
        "name": f"wordllama-l2-supercat-{dims}-int8",
        "dims": dims,
        "specials": [t["content"] for t in config.get("added_tokens", []) if t.get("special")],
        "source": "wordllama l2_supercat (weights derived from Llama 2 token embeddings)",
        "license": "Llama 2 Community License",
    }
    return pack_asset(header, vocab, merges, scales.tolist(), quantized.tobytes())  # type: ignore[arg-type]


def pack_asset(
    header: dict[str, Any],
    vocab: Sequence[str],
    merges: Sequence[tuple[int, int]],
    scales: Sequence[float],
    table: bytes,
) -> bytes:
    """The asset bytes (the inverse of ``semantic_asset.AssetEmbedder.from_bytes``'s parsing)."""
    dims = int(header["dims"])
    if len(vocab) >= 1 << 16 or any("\n" in t for t in vocab):
        raise ReasoningBankError("semantic asset: the vocabulary does not fit the format")
    if len(scales) != len(vocab) or len(table) != len(vocab) * dims:
        raise ReasoningBankError("semantic asset: table size does not match the vocabulary")
    head = json.dumps(
        {**header, "vocab": len(vocab), "merges": len(merges)}, sort_keys=True
    ).encode()
    words = "\n".join(vocab).encode("utf-8")
    pairs = array("H", [i for pair in merges for i in pair])
    scale = array("f", scales)
    if struct.pack("=H", 1) != struct.pack("<H", 1):  # pragma: no cover - big-endian hosts
        pairs.byteswap()
        scale.byteswap()
    body = b"".join(
        (
            MAGIC,
            struct.pack("<I", len(head)),
            head,
            struct.pack("<I", len(words)),
            words,
            pairs.tobytes(),
            scale.tobytes(),
            table,
        )
    )
    return body + struct.pack("<I", zlib.crc32(body))


def write_asset(out: Path, dims: int = ASSET_DIMS) -> int:
    """Write ``build_asset(dims)`` to ``out`` atomically (a reader never sees half a file);
    returns its size."""
    data = build_asset(dims)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.part")
    tmp.write_bytes(data)
    tmp.replace(out)
    return len(data)
