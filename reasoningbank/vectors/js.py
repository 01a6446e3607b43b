"""``JsDenseIndex``: the dense vector index with its arithmetic outside Python (Pyodide).

Same interface and results as ``reasoningbank.vectors.DenseIndex`` (backend
``"python"``), but a query is one FFI call instead of a Python loop over every float. The
arithmetic is a small hand-written WebAssembly SIMD kernel (``dense.wat``, shipped
assembled as ``dense.wasm``; glue in ``dense_wasm.js``) where the engine validates it, else
a plain JavaScript loop (``kernel.js``): at 10,000 x 384 a top-5 takes well under a
millisecond (WebAssembly) or a few milliseconds (JS) instead of a hundred or more in pure
Python (see docs/benchmarks.md). Both return the same cosines: the SIMD scans only pick
the rows that are then scored exactly (``dense_wasm.js`` says why that is exact). Rows
added between queries are sent in one batch on the next query. A copy of each row stays in
Python (``array('f')``, 4 bytes per value) so that ``vector(slot)`` needs no FFI call.
"""

from __future__ import annotations

import heapq
import json
import math
from array import array
from collections.abc import Sequence
from importlib import resources
from typing import Any

from ..errors import InvalidPattern
from .base import check_vector

__all__ = ["JsDenseIndex", "kernels"]

#: The kernels this engine runs, by name ("wasm-simd" when it validates the module, "js").
_apis: dict[str, Any] = {}


def _kernels() -> dict[str, Any]:
    if not _apis:
        from pyodide.code import run_js  # type: ignore[import-not-found]

        files = resources.files(__package__)
        _apis["js"] = run_js(files.joinpath("kernel.js").read_text(encoding="utf-8"))
        load = run_js(files.joinpath("dense_wasm.js").read_text(encoding="utf-8"))
        wasm = load(_bytes(files.joinpath("dense.wasm").read_bytes()))  # passed once
        if wasm is not None:
            _apis["wasm-simd"] = wasm
    return _apis


def kernels() -> list[str]:
    """The dense kernels available here, best first (Pyodide only)."""
    return sorted(_kernels(), key=lambda name: name != "wasm-simd")


def _bytes(buf: array[Any] | bytes) -> Any:
    from pyodide.ffi import to_js  # type: ignore[import-not-found]

    return to_js(buf if isinstance(buf, bytes) else buf.tobytes())


class JsDenseIndex:
    """Dense float32 vectors by slot; cosine computed by the WebAssembly or JS kernel.

    ``kernel`` forces one ("wasm-simd" or "js"; default: the best available). ``int8``
    makes the WebAssembly kernel scan int8 copies of the rows first (a quarter of the
    memory traffic, 25% more memory); results are the same, as candidates are rescored.
    """

    def __init__(self, kernel: str | None = None, int8: bool = False) -> None:
        apis = _kernels()
        name = kernel or kernels()[0]
        if name not in apis:
            raise InvalidPattern(
                f"dense kernel {kernel!r} is not available here; available: {kernels()}"
            )
        self._api = apis[name]
        self.backend: str = name
        self.int8 = int8 and name == "wasm-simd"
        self.dim: int | None = None
        self._rows: dict[int, array[float]] = {}
        self._js: Any = None
        self._pending_slots = array("i")
        self._pending_rows = array("f")
        self._pending_at: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def check(self, vector: Sequence[float]) -> None:
        check_vector(vector, self.dim)

    def reserve(self, rows: int) -> None:  # the JS side grows by doubling
        pass

    def add(self, slot: int, vector: Sequence[float]) -> None:
        self.check(vector)
        row = vector if isinstance(vector, array) and vector.typecode == "f" else array("f", vector)
        if self.dim is None:
            self.dim = len(row)
        self._rows[slot] = row
        at = self._pending_at.get(slot)
        if at is None:
            self._pending_at[slot] = len(self._pending_slots)
            self._pending_slots.append(slot)
            self._pending_rows.extend(row)
        else:
            self._pending_rows[at * self.dim : (at + 1) * self.dim] = row

    def remove(self, slot: int) -> None:
        if self._rows.pop(slot, None) is None:
            return
        if slot in self._pending_at:
            self._flush()
        if self._js is not None:
            self._js.remove(slot)

    def has(self, slot: int) -> bool:
        return slot in self._rows

    def vector(self, slot: int) -> list[float] | None:
        row = self._rows.get(slot)
        return None if row is None else row.tolist()

    def _flush(self) -> None:
        if not self._pending_slots:
            return
        if self._js is None:
            self._js = self._api.create(self.dim, self.int8)
        self._js.add(_bytes(self._pending_slots), _bytes(self._pending_rows))
        self._pending_slots = array("i")
        self._pending_rows = array("f")
        self._pending_at = {}

    def _query(self, query: Sequence[float]) -> Any:
        self.check(query)
        self._flush()
        q = query if isinstance(query, array) and query.typecode == "f" else array("f", query)
        return _bytes(q)

    def scores(self, query: Sequence[float]) -> dict[int, float]:
        """Cosine of ``query`` with every stored vector, by slot."""
        if not self._rows:
            return {}
        q = self._query(query)  # flushes pending rows (and creates the JS side) first
        sims = array("d")
        sims.frombytes(self._js.simsBytes(q).to_bytes())
        return {s: v for s, v in enumerate(sims) if not math.isnan(v)}

    def cosines(self, query: Sequence[float], slots: Sequence[int]) -> dict[int, float]:
        """Cosine of ``query`` with the vectors of ``slots`` (those that have one): one call."""
        wanted = array("i", (s for s in slots if s in self._rows))
        if not wanted:
            return {}
        q = self._query(query)
        sims = array("d")
        sims.frombytes(self._js.simsForBytes(q, _bytes(wanted)).to_bytes())
        return dict(zip(wanted, sims, strict=True))

    def top_k(self, query: Sequence[float], k: int) -> list[tuple[int, float]]:
        """The ``k`` most similar slots, best first (ties by lower slot)."""
        if not self._rows or k <= 0:
            return []
        q = self._query(query)
        best = json.loads(self._js.topK(q, int(k)))
        return [(int(s), float(v)) for s, v in best]


def python_top_k(
    rows: dict[int, array[float]], query: Sequence[float], k: int
) -> list[tuple[int, float]]:
    """Pure-Python reference (what the ``python`` backend does), for benchmarks and tests."""
    qn = math.sqrt(sum(x * x for x in query))
    scored = {
        s: sum(x * y for x, y in zip(r, query, strict=False))
        / (math.sqrt(sum(x * x for x in r)) * qn)
        for s, r in rows.items()
    }
    return heapq.nsmallest(k, scored.items(), key=lambda kv: (-kv[1], kv[0]))
