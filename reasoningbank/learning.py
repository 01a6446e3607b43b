"""Outcomes → confidence, strategy choice, decay, merging: pure and deterministic.

Every function takes the time (``now``, epoch seconds) and any randomness (a seeded
``random.Random``) as arguments, so the same inputs give the same answers in every runtime.

Model. Each outcome is one Bernoulli-ish observation with a graded score ``s`` in [0, 1]:
it adds ``s`` to a pattern's successes and ``1 - s`` to its failures. A pattern's
confidence is the posterior mean of Beta(1 + successes, 1 + failures). Failures are
evidence too (as in the ReasoningBank paper): they lower a strategy's posterior wherever
similar tasks failed with it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .model import Metadata, Outcome, Pattern, Recommendation
from .posterior import PRIOR_ALPHA, PRIOR_BETA, confidence, fold

__all__ = [
    "Evidence",
    "absorb",
    "evidence_weight",
    "StrategyScore",
    "decay_weight",
    "initialise",
    "is_contradiction",
    "merge_into",
    "observe",
    "rank_strategies",
    "recommend",
]

_DAY = 86_400.0


def decay_weight(age_seconds: float, half_life_days: float | None) -> float:
    """``0.5 ** (age / half_life)``; 1.0 when decay is off (``None``) or age ≤ 0."""
    if half_life_days is None or age_seconds <= 0:
        return 1.0
    return float(0.5 ** (age_seconds / (half_life_days * _DAY)))


def observe(meta: Metadata, score: float, now: float) -> bool:
    """Fold one outcome into ``meta``; True if it contradicts the established record.

    A contradiction is an outcome on the other side of 0.5 from a record whose average is
    clearly on one side (≥0.65 or ≤0.35): the same task and strategy, opposite results.
    """
    n = meta.success_count + meta.failure_count
    contradicts = is_contradiction(meta.avg_success_score, n, score)
    meta.success_count, meta.failure_count, meta.avg_success_score, meta.confidence = fold(
        meta.success_count, meta.failure_count, score
    )
    meta.usage_count += 1
    meta.updated_at = now
    if contradicts:
        meta.contradictions += 1
    return contradicts


def is_contradiction(avg: float, observations: float, score: float) -> bool:
    if observations < 1:
        return False
    return (avg >= 0.65 and score < 0.5) or (avg <= 0.35 and score >= 0.5)


def initialise(meta: Metadata, outcome: Outcome, now: float) -> None:
    """Seed the bookkeeping of a new pattern from its own outcome (unless it has history,
    as imported patterns do: then their counts are kept as they are)."""
    if meta.success_count + meta.failure_count > 0:
        meta.confidence = confidence(meta.success_count, meta.failure_count)
        return
    if meta.usage_count > 0 and meta.avg_success_score > 0:
        # History without counts (e.g. agentic-flow / Rust rows): trust usage × average.
        meta.success_count = meta.avg_success_score * meta.usage_count
        meta.failure_count = (1.0 - meta.avg_success_score) * meta.usage_count
        meta.confidence = confidence(meta.success_count, meta.failure_count)
        return
    usage = meta.usage_count
    observe(meta, outcome.success_score, meta.updated_at if meta.updated_at else now)
    meta.usage_count = usage


def merge_into(target: Pattern, incoming: Pattern, now: float) -> bool:
    """Fold a near-duplicate into ``target``; True if its outcome contradicted the record.

    The target keeps its id; the newest outcome becomes its ``outcome``; context and tags
    are unioned (the target's values win on conflicting keys).
    """
    contradicts = observe(target.metadata, incoming.outcome.success_score, now)
    target.metadata.merged_count += 1
    target.outcome = incoming.outcome
    for key, value in incoming.context.items():
        target.context.setdefault(key, value)
    target.metadata.tags = list(dict.fromkeys(target.metadata.tags + incoming.metadata.tags))
    if target.embedding is None and incoming.embedding is not None:
        target.embedding = incoming.embedding
    return contradicts


def absorb(target: Pattern, other: Pattern) -> None:
    """Fold a whole duplicate pattern (all its observations) into ``target``."""
    t, o = target.metadata, other.metadata
    t.success_count += o.success_count
    t.failure_count += o.failure_count
    total = t.success_count + t.failure_count
    if total > 0:
        t.avg_success_score = t.success_count / total
        t.confidence = confidence(t.success_count, t.failure_count)
    t.usage_count += o.usage_count
    t.merged_count += 1 + o.merged_count
    t.contradictions += o.contradictions
    if o.success_count + o.failure_count > 0 and total - (o.success_count + o.failure_count) > 0:
        mine = (t.success_count - o.success_count) / (total - o.success_count - o.failure_count)
        if is_contradiction(mine, 1, o.avg_success_score):
            t.contradictions += 1
    if o.updated_at > t.updated_at:
        t.updated_at = o.updated_at
        target.outcome = other.outcome
    for key, value in other.context.items():
        target.context.setdefault(key, value)
    t.tags = list(dict.fromkeys(t.tags + o.tags))


def evidence_weight(meta: Metadata, now: float, half_life_days: float | None) -> float:
    """Observations discounted by age: what consolidation weighs before pruning."""
    n = meta.success_count + meta.failure_count
    return n * decay_weight(now - meta.updated_at, half_life_days)


@dataclass(frozen=True, slots=True)
class Evidence:
    """One similar past pattern as seen by the recommender."""

    pattern_id: str
    strategy: str
    similarity: float
    successes: float
    failures: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class StrategyScore:
    strategy: str
    alpha: float
    beta: float
    weight: float
    evidence: tuple[str, ...]

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    def interval(self, z: float = 1.96) -> tuple[float, float]:
        """Normal approximation of the Beta posterior's central interval, clipped to [0, 1]."""
        a, b = self.alpha, self.beta
        sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
        return max(0.0, self.mean - z * sd), min(1.0, self.mean + z * sd)

    def to_dict(self) -> dict[str, object]:
        lo, hi = self.interval()
        return {
            "strategy": self.strategy,
            "confidence": self.mean,
            "interval": [lo, hi],
            "weight": self.weight,
            "evidence": list(self.evidence),
        }


def rank_strategies(
    evidence: Iterable[Evidence], *, now: float, half_life_days: float | None
) -> list[StrategyScore]:
    """Beta posterior per strategy from similarity- and recency-weighted outcomes, best first.

    Ties break by total evidence weight, then by name, so the order is deterministic.
    """
    acc: dict[str, list[Any]] = {}
    for ev in evidence:
        w = max(ev.similarity, 0.0) * decay_weight(now - ev.updated_at, half_life_days)
        if w <= 0:
            continue
        slot = acc.setdefault(ev.strategy, [PRIOR_ALPHA, PRIOR_BETA, 0.0, []])
        slot[0] += w * ev.successes
        slot[1] += w * ev.failures
        slot[2] += w
        slot[3].append((w, ev.pattern_id))
    ranked = [
        StrategyScore(
            strategy=name,
            alpha=a,
            beta=b,
            weight=w,
            evidence=tuple(pid for _, pid in sorted(items, key=lambda x: (-x[0], x[1]))),
        )
        for name, (a, b, w, items) in acc.items()
    ]
    ranked.sort(key=lambda s: (-s.mean, -s.weight, s.strategy))
    return ranked


def recommend(
    evidence: Iterable[Evidence],
    *,
    now: float,
    half_life_days: float | None,
    rng: random.Random | None = None,
) -> Recommendation:
    """Greedy by posterior mean, or Thompson sampling when an ``rng`` is given."""
    ranked = rank_strategies(evidence, now=now, half_life_days=half_life_days)
    if not ranked:
        return Recommendation(strategy=None, confidence=0.0, evidence=[])
    best = ranked[0]
    explored = False
    if rng is not None:
        draws = [(rng.betavariate(s.alpha, s.beta), s) for s in ranked]
        pick = max(draws, key=lambda d: d[0])[1]
        explored = pick.strategy != best.strategy
        best = pick
    return Recommendation(
        strategy=best.strategy,
        confidence=best.mean,
        evidence=list(best.evidence),
        alternatives=[s.to_dict() for s in ranked],
        explored=explored,
    )
