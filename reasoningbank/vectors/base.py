"""Vector maths every index shares: cosine, euclidean, and what a stored vector must be.

A leaf: it imports nothing of ours but the error tree, so both dense indexes (numpy or pure
Python, and the browser's WebAssembly kernel) and the model can use it.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence

from ..errors import InvalidPattern

__all__ = ["FLOAT32_MAX", "MAX_VECTOR_NORM", "check_vector", "cosine", "euclidean"]


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity in [-1, 1]; 0.0 when either vector is all zeros."""
    if len(a) != len(b):
        raise InvalidPattern(
            f"vectors differ in dimension: {len(a)} vs {len(b)}", field="embedding"
        )
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return 0.0 if na == 0.0 or nb == 0.0 else dot / (na * nb)


def euclidean(a: Sequence[float], b: Sequence[float]) -> float:
    """Euclidean distance."""
    if len(a) != len(b):
        raise InvalidPattern(
            f"vectors differ in dimension: {len(a)} vs {len(b)}", field="embedding"
        )
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b, strict=False)))


#: Largest float32: a component beyond it would be stored as ±inf and drop out of search.
FLOAT32_MAX = 3.4028234663852886e38
#: Largest accepted vector norm, sqrt(FLOAT32_MAX) ≈ 1.8e19. Why: by Cauchy-Schwarz no
#: float32 dot product of two accepted vectors (nor any partial sum of one) can overflow.
MAX_VECTOR_NORM = math.sqrt(FLOAT32_MAX)
#: Below this norm a vector may round to all zeros in float32 (checked exactly then).
_TINY_NORM = 1e-30


def check_vector(vector: Sequence[float], dim: int | None) -> None:
    """What every dense index refuses: another dimension than its vectors', NaN or ±Infinity,
    values beyond float32, a norm whose dot products overflow float32, all zeros."""
    if dim is not None and len(vector) != dim:
        raise InvalidPattern(
            f"embedding has dimension {len(vector)}, this bank's vectors have {dim}",
            field="embedding",
        )
    if not len(vector):
        raise InvalidPattern("embedding must not be empty", field="embedding")
    try:
        norm = math.hypot(*vector)
    except (TypeError, ValueError):
        raise InvalidPattern("embedding must be a list of numbers", field="embedding") from None
    if not norm <= MAX_VECTOR_NORM:  # NaN compares false: it lands here too
        for i, x in enumerate(vector):
            if not math.isfinite(x):
                raise InvalidPattern(
                    f"embedding[{i}] is {x!r}: only finite numbers are accepted", field="embedding"
                )
            if abs(x) > FLOAT32_MAX:
                raise InvalidPattern(
                    f"embedding[{i}] = {x!r} is beyond float32 range (±{FLOAT32_MAX:.4g})",
                    field="embedding",
                )
        raise InvalidPattern(
            f"embedding norm {norm:.4g} is too large (at most {MAX_VECTOR_NORM:.4g}: float32 "
            "dot products would overflow); scale the vector down",
            field="embedding",
        )
    if norm == 0.0 or (norm < _TINY_NORM and not any(array("f", vector))):
        raise InvalidPattern("embedding must not be all zeros (in float32)", field="embedding")
