"""``DenseIndex``: bring-your-own / embedder vectors by slot, with numpy or in pure Python.

With numpy it is one contiguous float32 matrix of unit rows (a query is one matrix-vector
product plus ``argpartition``); without numpy (Pyodide) it keeps the same float32-rounded
unit rows in ``array('f')`` and scores in pure Python, so both paths agree to within 1e-6.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Sequence
from typing import Any

from ..errors import InvalidPattern
from .base import _TINY_NORM, MAX_VECTOR_NORM, check_vector

__all__ = ["DenseIndex", "make_dense_index"]


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:
        return None
    return numpy


def make_dense_index(backend: str | None = None) -> Any:
    """The dense index for this runtime: numpy when present; under Pyodide without numpy the
    WebAssembly SIMD kernel (JS loop where the engine lacks SIMD; one FFI call per query,
    ``vectors.js``); else pure Python.
    ``backend`` ("numpy", "python", "js") forces one."""
    from .. import runtime

    if backend == "js" or (backend is None and _numpy() is None and runtime.is_pyodide()):
        from .js import JsDenseIndex

        return JsDenseIndex()
    return DenseIndex(backend)


#: Rows per numpy block (16 MB at 256-d, 64 MB at 1024-d): large enough that a query is a
#: few BLAS calls, small enough that growing allocates little at a time.
_BLOCK = 16384


class DenseIndex:
    """Dense float32 vectors by slot, one dimension per index (checked before storing).

    Rows are kept as given (float32), with their norms, so the stored vector can be read
    back (``vector``) and cosine is ``row · q / (|row| |q|)``.
    """

    def __init__(self, backend: str | None = None) -> None:
        if backend not in (None, "numpy", "python"):
            raise InvalidPattern(f"unknown vector backend {backend!r}; use 'numpy' or 'python'")
        np = _numpy() if backend in (None, "numpy") else None
        if backend == "numpy" and np is None:
            raise InvalidPattern("vector backend 'numpy' requested but numpy is not installed")
        self._np: Any = np
        self.backend = "numpy" if np is not None else "python"
        self.dim: int | None = None
        self._rows: dict[
            int, tuple[array[float], float]
        ] = {}  # python backend: slot -> (row, norm)
        # numpy backend: fixed-size float32 blocks of rows. Growing never copies stored
        # vectors (a single matrix would need old + new copies at once: 2.5x the memory).
        self._blocks: list[Any] = []
        self._norms: Any = None  # numpy float64 norms by slot; 0.0 marks an empty row
        self._count = 0
        self._used = 0  # numpy backend: 1 + highest slot ever stored

    def __len__(self) -> int:
        return self._count

    def check(self, vector: Sequence[float]) -> None:
        """Raise ``InvalidPattern`` if ``vector`` cannot be added (call before storing)."""
        check_vector(vector, self.dim)

    @staticmethod
    def _f32(vector: Sequence[float]) -> array[float]:
        return (
            vector if isinstance(vector, array) and vector.typecode == "f" else array("f", vector)
        )

    def _grow(self, needed: int) -> None:
        np = self._np
        while len(self._blocks) * _BLOCK < needed:
            self._blocks.append(np.zeros((_BLOCK, self.dim), dtype=np.float32))
        if self._norms is None or self._norms.shape[0] < needed:
            norms = np.zeros(len(self._blocks) * _BLOCK, dtype=np.float64)
            if self._norms is not None:
                norms[: self._norms.shape[0]] = self._norms
            self._norms = norms

    def add(self, slot: int, vector: Sequence[float]) -> None:
        row = self._f32(vector)
        np = self._np
        if np is None or row is not vector:
            self.check(vector)
        if np is None:
            if self.dim is None:
                self.dim = len(row)
            norm = math.sqrt(sum(x * x for x in row))
            if slot not in self._rows:
                self._count += 1
            self._rows[slot] = (row, norm)
            return
        r = np.frombuffer(row, dtype=np.float32)
        r64 = r.astype(np.float64)
        norm = float(np.sqrt(np.dot(r64, r64)))
        if row is vector and not self._plainly_valid(len(row), norm):
            self.check(vector)  # a float32 row (a stored vector): checked by its norm above
        if self.dim is None:
            self.dim = len(row)
        self._grow(slot + 1)
        self._used = max(self._used, slot + 1)
        if self._norms[slot] == 0.0:
            self._count += 1
        self._blocks[slot // _BLOCK][slot % _BLOCK] = r
        self._norms[slot] = norm

    def _plainly_valid(self, size: int, norm: float) -> bool:
        """Whether ``check`` would surely accept a float32 row of this size and norm.

        Why: ``check`` walks every component in Python (~15 µs at 1,024-d, most of opening a
        bank of vectors); the norm numpy computes anyway settles all but the edge cases
        (NaN, ±inf, zero, a norm at the limits), which go to ``check`` itself."""
        return (
            size > 0
            and (self.dim is None or size == self.dim)
            and _TINY_NORM <= norm <= MAX_VECTOR_NORM * (1 - 1e-9)
        )

    def remove(self, slot: int) -> None:
        if self._np is None:
            if self._rows.pop(slot, None) is not None:
                self._count -= 1
        elif self.has(slot):
            self._norms[slot] = 0.0
            self._blocks[slot // _BLOCK][slot % _BLOCK] = 0.0
            self._count -= 1

    def has(self, slot: int) -> bool:
        if self._np is None:
            return slot in self._rows
        return self._norms is not None and slot < self._norms.shape[0] and self._norms[slot] > 0

    def vector(self, slot: int) -> list[float] | None:
        if not self.has(slot):
            return None
        if self._np is None:
            return self._rows[slot][0].tolist()
        out: list[float] = self._blocks[slot // _BLOCK][slot % _BLOCK].astype(float).tolist()
        return out

    def _query(self, query: Sequence[float]) -> tuple[array[float], float]:
        self.check(query)
        q = self._f32(query)
        return q, math.sqrt(sum(x * x for x in q))

    def scores(self, query: Sequence[float]) -> dict[int, float]:
        """Cosine of ``query`` with every stored vector, by slot."""
        if self._count == 0:
            return {}
        q, qn = self._query(query)
        np = self._np
        if np is None:
            return {
                slot: sum(x * y for x, y in zip(row, q, strict=False)) / (norm * qn)
                for slot, (row, norm) in self._rows.items()
            }
        sims, slots = self._numpy_sims(q, qn)
        return dict(zip(slots.tolist(), sims[slots].tolist(), strict=False))

    def cosines(self, query: Sequence[float], slots: Sequence[int]) -> dict[int, float]:
        """Cosine of ``query`` with the vectors of ``slots`` (those that have one)."""
        wanted = [s for s in slots if self.has(s)]
        if not wanted:
            return {}
        q, qn = self._query(query)
        if self._np is None:
            rows = self._rows
            return {
                s: sum(x * y for x, y in zip(rows[s][0], q, strict=False)) / (rows[s][1] * qn)
                for s in wanted
            }
        np = self._np
        query_row = np.frombuffer(q, dtype=np.float32)
        return {
            s: float(self._blocks[s // _BLOCK][s % _BLOCK] @ query_row)
            / (float(self._norms[s]) * qn)
            for s in wanted
        }

    def _numpy_sims(self, q: array[float], qn: float) -> tuple[Any, Any]:
        np = self._np
        used = self._used  # rows past the highest slot are empty: skip them (memory-bound)
        query = np.frombuffer(q, dtype=np.float32)
        # einsum, not `@`: a matrix-vector product is memory-bound, and BLAS's worker threads
        # only add contention when the cores are shared (measured up to 28x slower at 2k rows).
        dots = np.concatenate([np.einsum("ij,j->i", block, query) for block in self._blocks])[:used]
        slots = np.flatnonzero(self._norms[:used] > 0)
        sims = np.zeros(used, dtype=np.float64)
        sims[slots] = dots[slots].astype(np.float64) / (self._norms[slots] * qn)
        return sims, slots

    def similarities(self, query: Sequence[float], n: int) -> tuple[Any, Any]:
        """numpy backend: (cosine per slot, has-vector mask), both of length ``n``."""
        np = self._np
        sims, has = np.zeros(n), np.zeros(n, dtype=bool)
        if self._count:
            q, qn = self._query(query)
            full, slots = self._numpy_sims(q, qn)
            m = min(n, full.shape[0])
            sims[:m] = full[:m]
            has[slots[slots < n]] = True
        return sims, has

    def top_k(self, query: Sequence[float], k: int) -> list[tuple[int, float]]:
        """The ``k`` most similar slots, best first (ties by lower slot)."""
        if self._count == 0 or k <= 0:
            return []
        np = self._np
        if np is None:
            scored = self.scores(query)
            return heapq.nsmallest(k, scored.items(), key=lambda kv: (-kv[1], kv[0]))
        q, qn = self._query(query)
        sims, slots = self._numpy_sims(q, qn)
        valid = sims[slots]
        k = min(k, slots.shape[0])
        part = np.argpartition(-valid, k - 1)[:k]
        chosen = [(int(slots[i]), float(valid[i])) for i in part]
        return sorted(chosen, key=lambda kv: (-kv[1], kv[0]))
