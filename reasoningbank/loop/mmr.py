"""Maximal marginal relevance: pick relevant results that are not copies of each other.

Why: the most similar past tasks often carry near-identical lessons; a memory prompt of five
variants of one lesson wastes the model's attention. MMR (Carbonell & Goldstein, 1998) picks
greedily by ``(1 - diversity) * relevance - diversity * max similarity to those picked``.
``diversity`` 0 keeps the relevance order exactly.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TypeVar

__all__ = ["mmr", "term_cosine"]

T = TypeVar("T")


def term_cosine(a: Sequence[str], b: Sequence[str]) -> float:
    """Cosine of two bags of terms (0 when either is empty)."""
    if not a or not b:
        return 0.0
    ca, cb = Counter(a), Counter(b)
    dot = sum(n * cb.get(t, 0) for t, n in ca.items())
    if not dot:
        return 0.0
    na = math.sqrt(sum(n * n for n in ca.values()))
    nb = math.sqrt(sum(n * n for n in cb.values()))
    return dot / (na * nb)


def mmr(
    candidates: Sequence[T],
    relevance: Sequence[float],
    similarity: Callable[[T, T], float],
    k: int,
    diversity: float,
) -> list[T]:
    """The ``k`` candidates MMR picks, in pick order; ties keep the input order."""
    if not 0.0 <= diversity <= 1.0:
        raise ValueError("diversity must be between 0 and 1")
    if diversity == 0.0:
        order = sorted(range(len(candidates)), key=lambda i: -relevance[i])
        return [candidates[i] for i in order[:k]]
    left = list(range(len(candidates)))
    picked: list[int] = []
    closest = [0.0] * len(candidates)  # max similarity to anything picked so far
    while left and len(picked) < k:
        best = max(
            left, key=lambda i: ((1 - diversity) * relevance[i] - diversity * closest[i], -i)
        )
        picked.append(best)
        left.remove(best)
        for i in left:
            closest[i] = max(closest[i], similarity(candidates[i], candidates[best]))
    return [candidates[i] for i in picked]
