"""Correlation and ranking metrics, numpy only (no scipy needed)."""

from __future__ import annotations

import numpy as np


def pearson(x, y) -> float:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x = x - x.mean()
    y = y - y.mean()
    d = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / d) if d > 0 else 0.0


def rankdata(a) -> np.ndarray:
    """Average ranks (ties share the mean of their positions), like scipy.stats.rankdata."""
    a = np.asarray(a, dtype=np.float64)
    order = np.argsort(a, kind="mergesort")
    ranks = np.empty(len(a), dtype=np.float64)
    sa = a[order]
    i = 0
    n = len(a)
    while i < n:
        j = i
        while j + 1 < n and sa[j + 1] == sa[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def spearman(x, y) -> float:
    return pearson(rankdata(x), rankdata(y))


def ranking(scores: np.ndarray, relevant: list[set[int]], ks=(1, 5, 10)) -> dict:
    """scores: (n_queries, n_corpus) -> recall@k and MRR (of the first relevant hit).

    Ties are broken against the relevant documents (pessimistic), so an embedder that gives
    everything the same score earns nothing. recall@k = |relevant in top k| / min(|relevant|, k).
    """
    scores = np.asarray(scores, dtype=np.float64)
    out = {f"recall@{k}": 0.0 for k in ks}
    mrr = 0.0
    for qi, rel in enumerate(relevant):
        s = scores[qi]
        isrel = np.zeros(len(s), dtype=bool)
        isrel[list(rel)] = True
        best = s[isrel].max()
        mrr += 1.0 / (1 + int((~isrel & (s >= best)).sum()))
        order = np.lexsort((isrel, -s))  # by score desc, non-relevant first among ties
        for k in ks:
            out[f"recall@{k}"] += isrel[order[:k]].sum() / min(len(rel), k)
    n = max(1, len(relevant))
    out = {k: float(v / n) for k, v in out.items()}
    out["mrr"] = mrr / n
    return out
