"""Exact sparse tf-idf with an inverted index: the default text similarity.

Why this shape:
- *Exact vocabulary*: every distinct term keeps its own dimension (no hashing collisions).
- *Inverted index*: a query touches only the postings of its own terms, so search cost
  grows with how many documents share the query's words, not with the bank's size.
- *Incremental IDF without re-embedding*: documents store only their sublinear term
  frequencies. IDF is a snapshot (``refresh``) taken from the live document frequencies;
  postings hold ``tf * idf / norm`` under that snapshot. When the bank has grown or shrunk
  by more than ``drift`` since the snapshot, the next search re-weights every posting from
  the stored frequencies: nothing is re-tokenised. Between snapshots a new term gets the
  idf an unseen term had at snapshot time, so scores are always exact cosines under the
  current snapshot (``idf`` tells which).

IDF is the smooth form ``ln((N + 1) / (df + 1)) + 1``: with an almost empty bank every term
weighs about the same, which degrades gracefully to plain tf cosine.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable

__all__ = ["LexicalIndex", "term_weights"]


def term_weights(terms: Iterable[str]) -> dict[str, float]:
    """Sublinear term frequency ``1 + ln(tf)`` per distinct term."""
    return {t: 1.0 + math.log(c) for t, c in Counter(terms).items()}


class LexicalIndex:
    """Documents are addressed by integer slots chosen by the caller."""

    def __init__(self, *, drift: float = 0.05) -> None:
        self._drift = drift
        self._tid: dict[str, int] = {}
        self._df: list[int] = []
        self._idf: list[float] = []  # snapshot
        self._postings: list[dict[int, float]] = []  # tid -> {slot: tf*idf/norm}
        self._docs: dict[int, dict[int, float]] = {}  # slot -> {tid: tf}
        self._snapshot_n = -1
        self._unseen_idf = 1.0

    # -- maintenance -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._docs)

    @property
    def vocabulary_size(self) -> int:
        return sum(1 for df in self._df if df > 0)

    @property
    def postings_count(self) -> int:
        return sum(len(d) for d in self._docs.values())

    def add(self, slot: int, terms: Iterable[str]) -> None:
        """Index (or re-index) a document under ``slot``."""
        if slot in self._docs:
            self.remove(slot)
        tfs: dict[int, float] = {}
        for term, tf in term_weights(terms).items():
            tid = self._tid.get(term)
            if tid is None:
                tid = self._tid[term] = len(self._df)
                self._df.append(0)
                self._idf.append(self._unseen_idf)
                self._postings.append({})
            self._df[tid] += 1
            tfs[tid] = tf
        self._docs[slot] = tfs
        if not self._stale():
            self._post(slot, tfs)  # else the next refresh() weighs every posting anyway

    def remove(self, slot: int) -> None:
        tfs = self._docs.pop(slot, None)
        if tfs is None:
            return
        for tid in tfs:
            self._df[tid] -= 1
            self._postings[tid].pop(slot, None)

    def _post(self, slot: int, tfs: dict[int, float]) -> None:
        idf = self._idf
        norm = math.sqrt(sum((tf * idf[tid]) ** 2 for tid, tf in tfs.items()))
        if norm == 0.0:
            return
        for tid, tf in tfs.items():
            self._postings[tid][slot] = tf * idf[tid] / norm

    def _stale(self) -> bool:
        snap = self._snapshot_n
        return snap < 0 or abs(len(self._docs) - snap) > self._drift * max(snap, 1)

    def refresh(self, *, force: bool = False) -> bool:
        """Re-take the IDF snapshot if the document count drifted; True if it did."""
        if not force and not self._stale():
            return False
        n = len(self._docs)
        self._snapshot_n = n
        log_n1 = math.log(n + 1)
        self._idf = [log_n1 - math.log(df + 1) + 1.0 for df in self._df]
        self._unseen_idf = log_n1 + 1.0
        for postings in self._postings:
            postings.clear()
        for slot, tfs in self._docs.items():
            self._post(slot, tfs)
        return True

    # -- queries -----------------------------------------------------------------------
    def idf(self, term: str) -> float:
        """IDF of ``term`` under the current snapshot (what searches use)."""
        tid = self._tid.get(term)
        return self._unseen_idf if tid is None else self._idf[tid]

    def query_vector(self, terms: Iterable[str]) -> dict[int, float]:
        """Normalised query weights over known term ids (unknown terms still count in the
        norm: a query with many words the bank never saw is less similar to everything)."""
        weights = term_weights(terms)
        if not weights:
            return {}
        tid_of = self._tid
        out: dict[int, float] = {}
        sq = 0.0
        for term, tf in weights.items():
            tid = tid_of.get(term)
            w = tf * (self._unseen_idf if tid is None else self._idf[tid])
            sq += w * w
            if tid is not None and self._df[tid] > 0:
                out[tid] = w
        norm = math.sqrt(sq)
        return {tid: w / norm for tid, w in out.items()}

    def scores(self, terms: Iterable[str]) -> dict[int, float]:
        """Exact cosine of the query against every document sharing a term (others are 0)."""
        self.refresh()
        query = self.query_vector(terms)
        if not query:
            return {}
        postings = self._postings
        items = sorted(query.items(), key=lambda kv: len(postings[kv[0]]), reverse=True)
        tid, qw = items[0]
        acc = {slot: qw * w for slot, w in postings[tid].items()}
        get = acc.get
        for tid, qw in items[1:]:
            for slot, w in postings[tid].items():
                acc[slot] = get(slot, 0.0) + qw * w
        return acc

    def near_duplicates(
        self, terms: Iterable[str], threshold: float, accept: Callable[[int], bool]
    ) -> list[tuple[int, float]]:
        """Accepted documents whose cosine with ``terms`` is at least ``threshold``.

        Cheap enough for every write: a document missing query term t has cosine at most
        sqrt(1 - q_t^2), so when the heaviest query term alone rules out documents without
        it, only that term's postings are candidates.
        """
        self.refresh()
        query = self.query_vector(terms)
        if not query:
            return []
        postings = self._postings
        heavy, weight = max(query.items(), key=lambda kv: kv[1])
        if 1.0 - weight * weight < threshold * threshold:
            candidates: Iterable[int] = postings[heavy].keys()
        else:
            candidates = self.scores(terms).keys()
        out = []
        for slot in candidates:
            if not accept(slot):
                continue
            cos = sum(qw * postings[tid].get(slot, 0.0) for tid, qw in query.items())
            if cos >= threshold - 1e-12:
                out.append((slot, cos))
        return out

    def similarity(self, terms_a: Iterable[str], terms_b: Iterable[str]) -> float:
        """Cosine of two term lists under the current IDF snapshot (neither needs indexing)."""
        self.refresh()
        a, b = self._vector(terms_a), self._vector(terms_b)
        if not a or not b:
            return 0.0
        dot = sum(w * b.get(t, 0.0) for t, w in a.items())
        return dot / math.sqrt(sum(w * w for w in a.values()) * sum(w * w for w in b.values()))

    def _vector(self, terms: Iterable[str]) -> dict[str, float]:
        return {t: tf * self.idf(t) for t, tf in term_weights(terms).items()}

    def document_vector(self, slot: int) -> dict[str, float]:
        """Un-normalised tf-idf vector of an indexed document, keyed by term (for tests/tools)."""
        names = {tid: t for t, tid in self._tid.items()}
        return {names[tid]: tf * self._idf[tid] for tid, tf in self._docs.get(slot, {}).items()}
