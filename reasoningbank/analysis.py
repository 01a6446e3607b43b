"""Statistics and near-duplicates over a bank's patterns: what ``reasoning_analyze`` answers.

Why a module of its own: the numbers (success rates with intervals, trends, contradictions)
are pure functions of the patterns, testable without the MCP SDK, and the near-duplicate
search must use the one definition the bank merges by: the cosine of the lexical index's
tf-idf vectors (``LexicalIndex``), within a task category. A second, private definition
would report pairs the bank never merges and miss pairs it does.

Near-duplicates are found in time close to linear in the bank for real text:

* patterns whose analysed texts are identical (within a category) form one *text*, counted
  combinatorially, never pair by pair: a task retried 1,000 times costs one entry, not
  half a million pairs;
* distinct texts are paired by exact all-pairs similarity search with prefix filtering: in
  one order of terms, rarest first, each vector's prefix is just long enough that the rest
  of it could not reach the threshold alone; two texts can only qualify if their prefixes
  share a term, so only prefixes are indexed and probed, and they hold rare terms;
* a budget of verified candidate pairs bounds the work even for adversarial banks (very long
  texts of common words); past it the answer says ``complete: false``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import chain, combinations, islice, product
from typing import Any

from .index import LexicalIndex, term_weights
from .model import Pattern, format_time
from .text import analyze as analyze_text

__all__ = [
    "NEAR_DUPLICATE_CHECKS",
    "NearDuplicates",
    "analyze_patterns",
    "beta_interval",
    "near_duplicates",
    "wilson_interval",
]

#: Candidate pairs of distinct texts whose cosine is computed, at most, per analysis.
NEAR_DUPLICATE_CHECKS = 2_000_000

_Z95 = 1.959963984540054


# -- intervals -----------------------------------------------------------------------------
def wilson_interval(successes: float, n: float, z: float = _Z95) -> tuple[float, float]:
    """95% Wilson score interval of a success rate; (0, 1) with no observations.
    ``n`` may be fractional: graded outcomes count as partial successes."""
    if n <= 0:
        return 0.0, 1.0
    p = min(max(successes / n, 0.0), 1.0)
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2.0 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def beta_interval(alpha: float, beta: float, z: float = _Z95) -> tuple[float, float]:
    """Normal approximation of the central interval of Beta(alpha, beta), clipped to [0, 1]."""
    total = alpha + beta
    mean = alpha / total
    sd = math.sqrt(alpha * beta / (total * total * (total + 1.0)))
    return max(0.0, mean - z * sd), min(1.0, mean + z * sd)


# -- near-duplicates -----------------------------------------------------------------------
@dataclass
class _Text:
    """Patterns of one category whose analysed task descriptions are identical."""

    members: list[int] = field(default_factory=list)  # positions in the pattern list, in order
    won: list[int] = field(default_factory=list)  # the members whose outcome was a success
    lost: list[int] = field(default_factory=list)  # and the others
    vector: dict[str, float] = field(default_factory=dict)  # the index's unit tf-idf vector
    prefix: list[str] = field(default_factory=list)  # its rarest terms, enough to pair it


@dataclass
class NearDuplicates:
    """Pairs of patterns in one category whose tf-idf cosine is at least ``threshold``.

    ``total`` and ``conflicting`` (pairs whose outcomes disagree) count every pair; ``pairs``
    and ``conflicting_pairs`` list ``(i, j, cosine)`` positions, most similar first, at most
    ``limit`` each. ``complete`` is False when the work budget ran out: the counts are then
    lower bounds.
    """

    threshold: float
    total: int = 0
    conflicting: int = 0
    pairs: list[tuple[int, int, float]] = field(default_factory=list)
    conflicting_pairs: list[tuple[int, int, float]] = field(default_factory=list)
    complete: bool = True


def _texts(
    patterns: Sequence[Pattern], category: str | None, threshold: float
) -> tuple[list[_Text], dict[str, list[int]]]:
    """Distinct texts (with their index vectors and prefixes) and, per category, their
    text numbers.

    The index holds every pattern, so IDF is the whole bank's, as in the bank's own index.
    A prefix is a vector's rarest terms (highest IDF first, one order for every vector), just
    enough that the rest of the vector has a norm below ``threshold``."""
    index = LexicalIndex()
    keys: dict[tuple[str, tuple[tuple[str, float], ...]], int] = {}
    texts: list[_Text] = []
    terms_of: list[list[str]] = []
    by_category: dict[str, list[int]] = {}
    for i, p in enumerate(patterns):
        terms = analyze_text(p.task_description)
        index.add(i, terms, p.task_category)
        if not terms or (category is not None and p.task_category != category):
            continue
        key = (p.task_category, tuple(sorted(term_weights(terms).items())))
        number = keys.get(key)
        if number is None:
            number = keys[key] = len(texts)
            texts.append(_Text())
            terms_of.append(terms)
            by_category.setdefault(p.task_category, []).append(number)
        text = texts[number]
        text.members.append(i)
        (text.won if p.outcome.success else text.lost).append(i)
    index.refresh(force=True)
    idf: dict[str, float] = {}
    bound = threshold * threshold - 1e-12
    for text, terms in zip(texts, terms_of, strict=True):
        weights = term_weights(terms)
        for term in weights:
            if term not in idf:
                idf[term] = index.idf(term)
        norm = math.sqrt(sum((tf * idf[t]) ** 2 for t, tf in weights.items()))
        text.vector = {t: tf * idf[t] / norm for t, tf in weights.items()}
        left = 1.0
        for term in sorted(weights, key=lambda t: (-idf[t], t)):
            if left < bound:
                break
            text.prefix.append(term)
            left -= text.vector[term] ** 2
    return texts, by_category


def _similar_texts(
    texts: list[_Text], numbers: list[int], threshold: float, budget: list[int]
) -> Iterator[tuple[float, int, int]]:
    """``(cosine, a, b)`` for distinct texts ``a < b`` of one category at or above
    ``threshold``.

    Exact: if two prefixes share no term, say the one ending first in the common order is
    ``x``'s, then every shared term lies after ``x``'s prefix, so the cosine is at most the
    norm of ``x``'s rest, below the threshold. Only prefixes are indexed and probed, and
    they hold rare terms. ``budget[0]`` counts down the cosines still allowed."""
    postings: dict[str, list[int]] = {}
    for b in numbers:
        text = texts[b]
        candidates = {a for term in text.prefix for a in postings.get(term, ())}
        budget[0] -= len(candidates)
        if budget[0] < 0:
            return
        vector = text.vector
        for a in sorted(candidates):
            other = texts[a].vector
            small, big = (vector, other) if len(vector) <= len(other) else (other, vector)
            cos = sum(w * big.get(term, 0.0) for term, w in small.items())
            if cos >= threshold - 1e-12:
                yield min(cos, 1.0), a, b
        for term in text.prefix:
            postings.setdefault(term, []).append(b)


def near_duplicates(
    patterns: Sequence[Pattern],
    threshold: float,
    *,
    task_category: str | None = None,
    limit: int = 20,
    budget: int = NEAR_DUPLICATE_CHECKS,
) -> NearDuplicates:
    """Near-duplicate pairs of ``patterns`` (only within ``task_category`` when given)."""
    texts, by_category = _texts(patterns, task_category, threshold)
    left = [budget]
    found: list[tuple[float, int, int]] = [
        (1.0, n, n) for n, text in enumerate(texts) if len(text.members) > 1
    ]
    for numbers in by_category.values():
        found.extend(_similar_texts(texts, numbers, threshold, left))
    result = NearDuplicates(threshold, complete=left[0] >= 0)
    for _, a, b in found:
        ta, tb = texts[a], texts[b]
        if a == b:
            result.total += len(ta.members) * (len(ta.members) - 1) // 2
            result.conflicting += len(ta.won) * len(ta.lost)
        else:
            result.total += len(ta.members) * len(tb.members)
            result.conflicting += len(ta.won) * len(tb.lost) + len(ta.lost) * len(tb.won)
    found.sort(key=lambda f: (-f[0], texts[f[1]].members[0], texts[f[2]].members[0]))
    for cos, a, b in found:
        for listed, conflicting in ((result.pairs, False), (result.conflicting_pairs, True)):
            if len(listed) < limit:
                pairs = _member_pairs(texts[a], texts[b], a == b, conflicting)
                listed.extend(
                    (min(i, j), max(i, j), cos) for i, j in islice(pairs, limit - len(listed))
                )
        if len(result.pairs) >= limit and len(result.conflicting_pairs) >= limit:
            break
    return result


def _member_pairs(a: _Text, b: _Text, same: bool, conflicting: bool) -> Iterator[tuple[int, int]]:
    """Pattern pairs of two texts (or within one), lazily; only those whose outcomes
    disagree when ``conflicting``."""
    if conflicting:
        return chain(product(a.won, b.lost), () if same else product(a.lost, b.won))
    return combinations(a.members, 2) if same else product(a.members, b.members)


# -- statistics ----------------------------------------------------------------------------
def _bucket_start(ts: float, bucket: str) -> float:
    dt = datetime.fromtimestamp(ts, tz=timezone.utc).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    if bucket == "week":
        dt -= timedelta(days=dt.weekday())
    elif bucket == "month":
        dt = dt.replace(day=1)
    return dt.timestamp()


def _trend(series: list[dict[str, Any]]) -> tuple[str, float | None]:
    """Least-squares slope of the per-bucket mean score; 'improving' / 'declining' past
    ±0.02 per bucket, else 'flat'. Fewer than 3 buckets: 'insufficient data'."""
    if len(series) < 3:
        return "insufficient data", None
    xs = list(range(len(series)))
    ys = [s["avg_success_score"] for s in series]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var
    direction = "improving" if slope > 0.02 else "declining" if slope < -0.02 else "flat"
    return direction, slope


def _strategies(patterns: Sequence[Pattern]) -> list[dict[str, Any]]:
    """Per strategy: its record, a 95% Wilson interval and the Beta posterior, ranked by what
    the evidence can defend (the interval's lower bound), then by the evidence."""
    per: dict[str, dict[str, Any]] = {}
    for p in patterns:
        m = p.metadata
        s = per.setdefault(
            p.strategy,
            {"patterns": 0, "successes": 0.0, "failures": 0.0, "usage": 0, "categories": set(),
             "last_updated": 0.0},
        )  # fmt: skip
        s["patterns"] += 1
        s["successes"] += m.success_count
        s["failures"] += m.failure_count
        s["usage"] += m.usage_count
        s["categories"].add(p.task_category)
        s["last_updated"] = max(s["last_updated"], m.updated_at)
    out = []
    for name, s in per.items():
        n = s["successes"] + s["failures"]
        a, b = 1.0 + s["successes"], 1.0 + s["failures"]
        out.append(
            {
                "strategy": name,
                "patterns": s["patterns"],
                "observations": n,
                "successes": s["successes"],
                "success_rate": s["successes"] / n if n else None,
                "wilson_95": list(wilson_interval(s["successes"], n)),
                "posterior_mean": a / (a + b),
                "posterior_95": list(beta_interval(a, b)),
                "usage": s["usage"],
                "categories": sorted(s["categories"]),
                "last_updated": format_time(s["last_updated"]) if s["last_updated"] else None,
            }
        )
    out.sort(key=lambda s: (-s["wilson_95"][0], -s["observations"], s["strategy"]))
    return out


def _series(patterns: Sequence[Pattern], bucket: str) -> list[dict[str, Any]]:
    buckets: dict[float, list[Pattern]] = {}
    for p in patterns:
        buckets.setdefault(_bucket_start(p.metadata.created_at, bucket), []).append(p)
    return [
        {
            "start": format_time(start),
            "patterns": len(group),
            "success_rate": sum(1 for p in group if p.outcome.success) / len(group),
            "avg_success_score": sum(p.outcome.success_score for p in group) / len(group),
        }
        for start, group in sorted(buckets.items())
    ]


def analyze_patterns(
    patterns: Sequence[Pattern],
    *,
    task_category: str | None = None,
    bucket: str = "week",
    near_duplicate_threshold: float = 0.9,
    limit: int = 20,
    now: float,
) -> dict[str, Any]:
    """The ``reasoning_analyze`` answer over ``patterns`` (the whole bank: near-duplicates
    weigh terms by the whole bank's IDF), restricted to ``task_category`` when given."""
    scope = [p for p in patterns if task_category in (None, p.task_category)]
    categories: dict[str, int] = {}
    for p in scope:
        categories[p.task_category] = categories.get(p.task_category, 0) + 1
    successes = sum(p.metadata.success_count for p in scope)
    failures = sum(p.metadata.failure_count for p in scope)
    strategies = _strategies(scope)
    series = _series(scope, bucket)
    direction, slope = _trend(series)
    recorded = sorted(
        (p for p in scope if p.metadata.contradictions > 0),
        key=lambda p: (-p.metadata.contradictions, p.id),
    )
    dups = near_duplicates(
        patterns, near_duplicate_threshold, task_category=task_category, limit=limit
    )

    def pair(i: int, j: int, sim: float) -> dict[str, Any]:
        a, b = patterns[i], patterns[j]
        return {"a": a.id, "b": b.id, "similarity": sim, "same_strategy": a.strategy == b.strategy}

    return {
        "scope": {"task_category": task_category, "patterns": len(scope), "as_of": format_time(now)},
        "counts": {
            "patterns": len(scope),
            "categories": dict(sorted(categories.items(), key=lambda kv: (-kv[1], kv[0]))),
            "strategies": len(strategies),
            "observations": successes + failures,
            "successes": successes,
            "failures": failures,
            "success_rate": successes / (successes + failures) if successes + failures else None,
        },
        "strategies": strategies[:limit],
        "trends": {"bucket": bucket, "direction": direction, "slope_per_bucket": slope,
                   "series": series[-limit:]},
        "contradictions": {
            "recorded": [
                {"id": p.id, "strategy": p.strategy, "task_category": p.task_category,
                 "contradictions": p.metadata.contradictions, "confidence": p.metadata.confidence}
                for p in recorded[:limit]
            ],
            "conflicting_pairs": [
                {**pair(i, j, sim), "strategy_a": patterns[i].strategy,
                 "strategy_b": patterns[j].strategy, "success_a": patterns[i].outcome.success,
                 "success_b": patterns[j].outcome.success}
                for i, j, sim in dups.conflicting_pairs
            ],
            "total_recorded": sum(p.metadata.contradictions for p in scope),
            "total_conflicting_pairs": dups.conflicting,
        },
        "near_duplicates": {
            "threshold": near_duplicate_threshold,
            "definition": "tf-idf cosine of task descriptions within a task_category",
            "total": dups.total,
            "complete": dups.complete,
            "pairs": [pair(i, j, sim) for i, j, sim in dups.pairs],
        },
    }  # fmt: skip
