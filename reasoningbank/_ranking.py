"""Ranking: the composite score of every candidate, and the rankers that find the top k.

Why apart from the bank: ranking reads the slot table and never writes it, and the bank's
job is the order of reads and writes. Every ranker scores with ``ScoreWeights.composite``,
the one definition of the score; the lexical hot path only splits it so it can prune.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from ._table import SlotTable
from .errors import InvalidPattern
from .index import ANY_GROUP
from .model import Match, Pattern

__all__ = ["DIVERSITY_POOL", "Hits", "Ranker", "ScoreWeights", "context_overlap", "diversify"]


def context_overlap(query: dict[str, Any] | None, context: dict[str, Any]) -> float:
    """Share of the query's context entries that the pattern's context matches (0..1).

    Values compare as case-insensitive strings: ``{"lang": "Python"}`` matches ``"python"``.
    """
    if not query:
        return 0.0
    hits = sum(
        1 for k, v in query.items() if k in context and str(context[k]).lower() == str(v).lower()
    )
    return hits / len(query)


@dataclass(frozen=True, slots=True)
class ScoreWeights:
    """Weights of the composite score; ``Match.parts`` reports each part before weighting.

    ``lexical``/``semantic`` split the text similarity when dense vectors exist for both
    the query and the pattern; otherwise the lexical similarity is the text similarity.
    """

    similarity: float = 0.7
    category: float = 0.1
    context: float = 0.05
    outcome: float = 0.15
    # Equal shares: on the quality benchmark (docs/benchmarks.md) lexical shares 0.35-0.65
    # trade document-level (Lee) against sentence-level (STS-B) agreement; 0.5 sits between.
    lexical: float = 0.5
    semantic: float = 0.5

    def __post_init__(self) -> None:
        for name in ("similarity", "category", "context", "outcome", "lexical", "semantic"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise InvalidPattern(f"weight {name} must be a non-negative number", field=name)
        if self.similarity + self.category + self.context + self.outcome <= 0:
            raise InvalidPattern("at least one score weight must be positive", field="weights")

    @classmethod
    def from_any(cls, value: ScoreWeights | dict[str, float] | None) -> ScoreWeights:
        if value is None:
            return cls()
        if isinstance(value, ScoreWeights):
            return value
        unknown = set(value) - set(cls.__dataclass_fields__)
        if unknown:
            raise InvalidPattern(
                f"unknown score weights: {', '.join(sorted(unknown))}", field="weights"
            )
        return cls(**value)

    def composite(self, similarity: Any, in_category: Any, context: Any, outcome: Any) -> Any:
        """The composite score from its parts (floats, or numpy arrays of them alike):
        the one place it is written."""
        return (
            self.similarity * similarity
            + self.category * in_category
            + self.context * context
            + self.outcome * outcome
        )


class Hits(NamedTuple):
    """A search's result before any pattern is read back: ``Ranker.matches`` makes the
    ``Match`` objects, and the JS API packs the stored bodies as they are (building
    patterns it would not use is most of a small search's time)."""

    ranked: list[tuple[float, int]]  # (score, slot), best first, at min_score or above
    lex: dict[int, float]
    sem: dict[int, float]
    category: str | None
    context: dict[str, Any] | None


class Ranker:
    """Finds the best patterns of a ``SlotTable`` for a query, with ``weights``."""

    def __init__(self, table: SlotTable, weights: ScoreWeights) -> None:
        self.table = table
        self.weights = weights

    def find(
        self,
        terms: list[str],
        query_vector: Sequence[float] | None,
        category: str | None,
        context: dict[str, Any] | None,
        strict: bool,
        top_k: int,
        min_score: float,
    ) -> Hits:
        """The ``top_k`` best slots by composite score (ties: oldest first), picking the
        cheapest exact ranker for the query."""
        dense = self.table.dense
        if (
            (query_vector is None or not len(dense))
            and not context
            and (category is None or strict)
        ):
            found = self.rank_lexical(terms, category, top_k)
            sims = {-neg_slot: sim for _, neg_slot, sim in found}
            return self.hits([(s, n) for s, n, _ in found], min_score, sims, {}, category, None)
        if category is not None and strict:
            lex = self.table.lex.scores(terms, category)  # only that category's postings
        else:
            lex = self.table.lex.scores(terms)
        sem: dict[int, float] = {}
        if query_vector is not None and len(dense) > 0:
            if dense.backend == "numpy" and not context:
                ranked, sem = self.rank_numpy(lex, query_vector, category, strict, top_k)
            else:
                ranked, sem = self.rank_nearest(lex, query_vector, category, context, strict, top_k)
        else:
            ranked = heapq.nlargest(top_k, self.score(lex, sem, category, context, strict))
        return self.hits(ranked, min_score, lex, sem, category, context)

    @staticmethod
    def hits(
        ranked: Sequence[tuple[float, int]],
        min_score: float,
        lex: dict[int, float],
        sem: dict[int, float],
        category: str | None,
        context: dict[str, Any] | None,
    ) -> Hits:
        """``ranked`` (score, -slot) at ``min_score`` or above."""
        kept = [(score, -neg_slot) for score, neg_slot in ranked if score >= min_score]
        return Hits(kept, lex, sem, category, context)

    def matches(self, hits: Hits) -> list[Match]:
        """``hits`` as matches, their patterns read in one go; a pattern the store no longer
        has (another process deleted it just now) is left out."""
        ids = self.table.ids
        patterns = self.table.patterns([ids[slot] for _, slot in hits.ranked])  # type: ignore[misc]
        return [
            self.match(pattern, score, slot, hits)
            for (score, slot), pattern in zip(hits.ranked, patterns, strict=True)
            if pattern is not None
        ]

    def rank_lexical(
        self, terms: list[str], category: str | None, top_k: int
    ) -> list[tuple[float, int, float]]:
        """The hot path (lexical only; the category, if any, is a filter): top
        ``(score, -slot, similarity)``, scoring each distinct matching text once.

        In similarity units a slot's outcome part is a bonus of at most
        ``outcome / similarity``, which lets the index prune exactly; texts come best first:
        once a text's best possible score cannot beat the k-th found so far, no later text
        can either.
        """
        w = self.weights
        qual = self.table.quality
        wsim, wout = w.similarity, w.outcome
        base = w.composite(0.0, category is not None, 0.0, 0.0)
        group = ANY_GROUP if category is None else category
        if wsim <= 0.0:
            texts = self.table.lex.scored_texts(terms, group)
            return heapq.nlargest(
                top_k,
                (
                    (wsim * sim + base + wout * qual[slot], -slot, sim)
                    for sim, slots in texts
                    for slot in slots
                ),
            )
        best: list[tuple[float, int, float]] = []  # min-heap of the top_k so far
        for sim, slots in self.table.lex.top_texts(terms, top_k, group, qual, wout / wsim):
            part = wsim * sim + base
            if len(best) == top_k and part + wout < best[0][0]:
                break
            for slot in slots:  # best outcome first: the first that cannot enter ends the text
                item = (part + wout * qual[slot], -slot, sim)
                if len(best) < top_k:
                    heapq.heappush(best, item)
                elif item > best[0]:
                    heapq.heapreplace(best, item)
                elif item[0] < best[0][0]:
                    break
        return sorted(best, reverse=True)

    def score(
        self,
        lex: dict[int, float],
        sem: dict[int, float],
        category: str | None,
        context: dict[str, Any] | None,
        strict: bool,
    ) -> list[tuple[float, int]]:
        """``(composite score, -slot)`` per candidate: tuples order best-first, then oldest."""
        cats, wsim = self.table.category, self.weights.similarity
        out = []
        for slot in lex.keys() | sem.keys():
            if category is not None and strict and cats[slot] != category:
                continue
            sim = self.text_similarity(lex.get(slot, 0.0), sem.get(slot))
            out.append((wsim * sim + self.extras(slot, category, context), -slot))
        return out

    def rank_numpy(
        self,
        lex: dict[int, float],
        query_vector: Sequence[float],
        category: str | None,
        strict: bool,
        top_k: int,
    ) -> tuple[list[tuple[float, int]], dict[int, float]]:
        """Hybrid ranking over every slot at once (numpy): same scores as ``_score``."""
        import numpy as np

        w = self.weights
        n = len(self.table.ids)
        sem_all, has_vec = self.table.dense.similarities(query_vector, n)
        lex_all = np.zeros(n)
        if lex:
            lex_all[np.fromiter(lex.keys(), dtype=np.int64, count=len(lex))] = np.fromiter(
                lex.values(), dtype=np.float64, count=len(lex)
            )
        fused = (w.lexical * lex_all + w.semantic * sem_all) / (w.lexical + w.semantic)
        text = np.where(has_vec, fused, lex_all)
        live, codes, quality, code_of = self.table.arrays()
        candidates = live & (has_vec | (lex_all > 0))
        in_cat = (
            codes == code_of.get(category, -2) if category is not None else np.zeros(n, dtype=bool)
        )
        if category is not None and strict:
            candidates &= in_cat
        score = w.composite(text, in_cat, 0.0, quality)
        slots = np.flatnonzero(candidates)
        if slots.size > top_k:
            kth = np.partition(score[slots], slots.size - top_k)[slots.size - top_k]
            slots = slots[score[slots] >= kth]  # keeps ties, ordered below like _score's
        ranked = sorted(((float(score[s]), -int(s)) for s in slots), reverse=True)[:top_k]
        sem = {-neg: float(sem_all[-neg]) for _, neg in ranked if has_vec[-neg]}
        return ranked, sem

    def rank_nearest(
        self,
        lex: dict[int, float],
        query_vector: Sequence[float],
        category: str | None,
        context: dict[str, Any] | None,
        strict: bool,
        top_k: int,
    ) -> tuple[list[tuple[float, int]], dict[int, float]]:
        """Hybrid ranking from the vector index's nearest rows instead of every cosine (the
        WebAssembly kernel's top-k is one call; a dict of 10,000 cosines is not).

        Exact: a slot outside the ``want`` nearest has a cosine of at most the last one's, so
        once that bound (with every other part at its best) cannot reach the k-th score, no
        slot left out can; otherwise ``want`` grows. Lexical candidates outside the nearest
        get their cosine computed only when their own bound could reach the k-th score.
        """
        w, dense = self.weights, self.table.dense
        share = w.semantic / (w.lexical + w.semantic)
        cats = self.table.category
        q32 = array("f", query_vector)  # the indexes compare float32 rows with a float32 query
        want = max(4 * top_k, 32)

        def rank() -> tuple[list[tuple[float, int]], float]:
            ranked = heapq.nlargest(top_k, self.score(known, sem, category, context, strict))
            return ranked, ranked[-1][0] if len(ranked) == top_k else -math.inf

        while True:
            near = dense.top_k(query_vector, want)
            sem = dict(near)
            floor = near[-1][1] if near else -1.0
            known: dict[int, float] = {}
            outside = []  # lexical candidates whose vector is not among the nearest
            for s, v in lex.items():
                if s in sem or not dense.has(s):
                    known[s] = v
                elif not (category is not None and strict and cats[s] != category):
                    outside.append(s)
            ranked, kth = rank()
            late = dense.cosines(
                q32,
                [
                    s
                    for s in outside
                    if w.similarity * ((1 - share) * lex[s] + share * floor)
                    + self.extras(s, category, context)
                    >= kth
                ],
            )
            if late:
                sem.update(late)
                known.update((s, lex[s]) for s in late)
                ranked, kth = rank()
            unseen = w.composite(share * floor, 1.0, 1.0 if context else 0.0, 1.0)
            if len(near) < want or unseen < kth:
                return ranked, sem
            want *= 4

    def extras(self, slot: int, category: str | None, context: dict[str, Any] | None) -> float:
        """A slot's category, context and outcome parts, weighted (what similarity adds to)."""
        w = self.weights
        in_category = category is not None and self.table.category[slot] == category
        return float(
            w.composite(
                0.0, in_category, self.context_part(slot, context), self.table.quality[slot]
            )
        )

    def text_similarity(self, lexical: float, semantic: float | None) -> float:
        if semantic is None:
            return lexical
        w = self.weights
        return (w.lexical * lexical + w.semantic * semantic) / (w.lexical + w.semantic)

    def context_part(self, slot: int, context: dict[str, Any] | None) -> float:
        if not context:
            return 0.0
        return context_overlap(context, self.table.contexts.get(slot) or {})

    def match(self, pattern: Pattern, score: float, slot: int, hits: Hits) -> Match:
        parts = self.parts(slot, hits, pattern.task_category)
        return Match(pattern=pattern, score=score, similarity=parts["similarity"], parts=parts)

    def parts(self, slot: int, hits: Hits, task_category: str | None) -> dict[str, float]:
        """``Match.parts`` of ``slot`` (a pattern of ``task_category``) among ``hits``."""
        lexical = hits.lex.get(slot, 0.0)
        semantic = hits.sem.get(slot)
        parts = {"similarity": self.text_similarity(lexical, semantic), "lexical": lexical}
        if semantic is not None:
            parts["semantic"] = semantic
        parts["category"] = (
            1.0 if hits.category is not None and task_category == hits.category else 0.0
        )
        parts["context"] = self.context_part(slot, hits.context)
        parts["outcome"] = self.table.quality[slot]
        return parts


#: How many candidates per result a diversified search ranks before MMR re-picks.
DIVERSITY_POOL = 4


def diversify(matches: list[Match], top_k: int, diversity: float) -> list[Match]:
    """MMR over ``matches`` (relevance: the composite score; similarity: term cosine of
    task and strategy), so a diversified search shows different patterns, not near-copies."""
    from .loop.mmr import mmr, term_cosine
    from .text import analyze

    terms = [analyze(f"{m.pattern.task_description} {m.pattern.strategy}") for m in matches]
    picked = mmr(
        list(range(len(matches))),
        [m.score for m in matches],
        lambda a, b: term_cosine(terms[a], terms[b]),
        top_k,
        diversity,
    )
    return [matches[i] for i in picked]
