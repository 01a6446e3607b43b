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

IDF is the smooth form ``ln((N + M + 1) / (df + M * prior + 1)) + 1``: the bank's own counts
plus ``M`` pseudo-documents drawn from general English (``idf_prior.txt``: the chance that a
short text contains the term). An almost empty bank thus already knows that "make" says less
than "oauth"; as it grows its own statistics take over. Terms the prior does not list count
as rare there.
"""

from __future__ import annotations

import heapq
import math
import struct
import sys
from array import array
from collections import Counter
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from importlib import resources
from itertools import repeat
from operator import add, mul
from typing import Any

__all__ = ["LexicalIndex", "extend_packed", "term_weights"]

#: ``group`` default of queries: search every group.
ANY_GROUP: Hashable = object()
_ANY = ANY_GROUP


#: Pseudo-documents the prior stands for: a bank's own counts dominate from a few thousand.
PRIOR_DOCS = 1000.0
_prior: dict[str, float] | None = None


def english_prior() -> dict[str, float]:
    """term -> chance that a short English text contains it (the 1,000 commonest terms)."""
    global _prior
    if _prior is None:
        text = resources.files(__package__).joinpath("idf_prior.txt").read_text("utf-8")
        _prior = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                bucket, *terms = line.split()
                _prior.update(dict.fromkeys(terms, math.exp(-int(bucket) / 8)))
    return _prior


def term_weights(terms: Iterable[str]) -> dict[str, float]:
    """Sublinear term frequency ``1 + ln(tf)`` per distinct term."""
    terms = terms if isinstance(terms, (list, tuple)) else list(terms)
    weights = dict.fromkeys(terms, 1.0)
    if len(weights) == len(terms):  # the common case: no term repeats
        return weights
    return {t: 1.0 + math.log(c) for t, c in Counter(terms).items()}


#: Up to this many texts are scored one by one (``LexicalIndex._cosines``), more by columns.
_FEW_TEXTS = 16

#: Texts ``LexicalIndex`` remembers by their terms (then it starts over): a task stored
#: again (another attempt, another strategy; one a bulk store or an open just indexed)
#: skips weighing its terms, a fifth of a store.
_RECENT_TEXTS = 4096

#: A text held by more documents than this keeps its slots in order once
#: ``near_duplicate_texts`` sorted them (a few are sorted again each time: no list is kept
#: for each of a large bank's many small texts).
_KEEP_ORDER = 8

#: Identity of a distinct text: its group and its sorted (term id, tf) pairs.
_Key = tuple[Hashable, tuple[tuple[int, float], ...]]


class _Text:
    """Documents with identical analysed text in one group share one posting entry."""

    __slots__ = ("tfs", "group", "slots", "key", "ranked", "ordered")

    def __init__(self, tfs: dict[int, float], group: Hashable, key: _Key) -> None:
        self.tfs = tfs
        self.group = group
        self.slots: set[int] = set()
        self.key = key
        self.ranked: list[int] | None = None  # slots by quality, best first (top_texts)
        self.ordered: list[int] | None = None  # slots ascending (near_duplicate_texts)


def extend_packed(column: array[Any], values: Iterable[Any]) -> None:
    """``column.extend(values)`` in one C call: ``extend`` converts item by item through the
    iterator protocol (~30 ns an item, a few percent of a bulk store over its columns)."""
    values = values if isinstance(values, (list, tuple)) else tuple(values)
    column.frombytes(struct.pack(f"{len(values)}{column.typecode}", *values))


class LexicalIndex:
    """Documents are addressed by integer slots chosen by the caller.

    Each document may belong to a *group* (the bank uses the task category). Postings are
    kept per term *and* group, so a search restricted to one group touches only that
    group's postings; an unrestricted search walks all groups. Documents whose analysed
    text is identical within a group (the same task tried with different strategies is
    common in agent memory) share one posting entry, so a query pays per distinct text.
    IDF counts every document.
    """

    def __init__(
        self,
        *,
        drift: float = 0.05,
        prior: Mapping[str, float] | None = None,
        prior_docs: float = PRIOR_DOCS,
    ) -> None:
        self._drift = drift
        self._prior = english_prior() if prior is None else prior
        self._prior_docs = prior_docs
        self._log_n1 = math.log(prior_docs + 1)  # ln(N + M + 1) at the snapshot
        self._tid: dict[str, int] = {}
        self._terms: list[str] = []  # tid -> term
        self._df: list[int] = []
        self._idf: list[float] = []  # snapshot
        # tid -> group -> {text id: tf*idf/norm}
        self._postings: list[dict[Hashable, dict[int, float]]] = []
        # tid -> group -> an upper bound of that bucket's weights (pruning; never too low)
        self._max_weight: list[dict[Hashable, float]] = []
        self._texts: dict[int, _Text] = {}
        self._text_of_key: dict[_Key, int] = {}
        # (group, terms) -> text id, for the texts indexed lately (``_RECENT_TEXTS``)
        self._recent: dict[tuple[Hashable, tuple[str, ...]], int] = {}
        # slot -> text id (-1: no document): by slot rather than a dict, 8 bytes a slot
        # instead of ~50 (it is the inverse of the texts' slot sets).
        self._text_of_slot = array("q")
        self._documents = 0
        self._next_text = 0
        self._snapshot_n = -1

    # -- maintenance -------------------------------------------------------------------
    def __len__(self) -> int:
        return self._documents

    def _text_id(self, slot: int) -> int:
        """The text id of the document at ``slot``; -1 if there is none."""
        held = self._text_of_slot
        return held[slot] if 0 <= slot < len(held) else -1

    def _hold(self, slots: Sequence[int], text_ids: Iterable[int]) -> None:
        """Record ``slots``' text ids (slots holding no document yet)."""
        held = self._text_of_slot
        if list(slots) == list(range(len(held), len(held) + len(slots))):
            extend_packed(held, text_ids)  # the usual case: slots appended in order
        else:
            for slot, text_id in zip(slots, text_ids, strict=True):
                if slot >= len(held):
                    held.extend(array("q", [-1]) * (slot + 1 - len(held)))
                held[slot] = text_id
        self._documents += len(slots)

    @property
    def vocabulary_size(self) -> int:
        return sum(1 for df in self._df if df > 0)

    @property
    def postings_count(self) -> int:
        return sum(len(t.tfs) * len(t.slots) for t in self._texts.values())

    def add(self, slot: int, terms: Iterable[str], group: Hashable = None) -> None:
        """Index (or re-index) a document under ``slot``, in ``group``."""
        if self._text_id(slot) >= 0:
            self.remove(slot)
        key = (group, terms) if type(terms) is tuple else None
        text_id = self._recent.get(key, -1) if key is not None else -1
        text = self._texts.get(text_id)
        if text is not None:  # a text stored lately: its terms weighed already
            is_new = False
            df = self._df
            for tid in text.tfs:
                df[tid] += 1
        else:
            text_id, is_new = self._weigh(terms, group, 1)
            text = self._texts[text_id]
            if key is not None:
                self._remember({key: text_id})
        text.slots.add(slot)
        text.ranked = text.ordered = None
        held = self._text_of_slot
        if slot == len(held):  # the usual case: a new slot at the end
            held.append(text_id)
            self._documents += 1
        else:
            self._hold([slot], [text_id])
        # Decided after the slot counts again: re-adding a document must not leave it unposted.
        if is_new and not self._stale():
            self._post(text_id)  # else the next refresh() weighs every posting anyway

    def reweigh(self, slot: int) -> None:
        """``slot``'s document changed but not its text (a merge, an outcome): its text's
        order by quality (``top_texts``) is made again; what ``add`` would redo is the same.
        Why: re-adding removes and re-counts every term, and forgets the text's slot order."""
        text = self._texts.get(self._text_id(slot))
        if text is not None:
            text.ranked = None

    def add_many(
        self,
        slots: Sequence[int],
        terms: Sequence[tuple[str, ...]],
        groups: Sequence[Hashable],
        memo: dict[tuple[Hashable, tuple[str, ...]], int] | None = None,
    ) -> None:
        """``add`` for many slots no document holds yet (opening a bank, a bulk store): each
        distinct text is weighed once, whatever the number of documents sharing it. Leaves
        the same index as adding them one by one (postings are exact under one snapshot).
        ``memo``: a dict the caller passes to every call of one bulk (a bank opened a few
        thousand rows at a time), so a text is weighed once in the whole bulk."""
        texts, df = self._texts, self._df
        members: dict[tuple[Hashable, tuple[str, ...]], list[int]] = {}
        # Keys are zipped twice rather than kept in a list: a pair per document that most
        # documents (those sharing a text) would hold only to be looked up once more.
        for slot, key in zip(slots, zip(groups, terms, strict=True), strict=True):
            same = members.get(key)
            if same is None:
                members[key] = [slot]
            else:
                same.append(slot)
        fresh = []
        text_of: dict[tuple[Hashable, tuple[str, ...]], int] = {}
        for key, same in members.items():
            text_id = memo.get(key) if memo is not None else None
            if text_id is not None and text_id in texts:  # text ids are never reused
                is_new = False
                for tid in texts[text_id].tfs:
                    df[tid] += len(same)
            else:
                text_id, is_new = self._weigh(key[1], key[0], len(same))
                if memo is not None:
                    memo[key] = text_id
            text = texts[text_id]
            text.slots.update(same)
            text.ranked = text.ordered = None
            text_of[key] = text_id
            if is_new:
                fresh.append(text_id)
        self._hold(slots, map(text_of.__getitem__, zip(groups, terms, strict=True)))
        self._remember(text_of)
        if not self._stale():
            for text_id in fresh:
                self._post(text_id)

    def _remember(self, text_of: dict[tuple[Hashable, tuple[str, ...]], int]) -> None:
        """Add ``text_of`` to the recent texts (its last ``_RECENT_TEXTS`` if larger)."""
        recent = self._recent
        if len(recent) + len(text_of) > _RECENT_TEXTS:
            recent.clear()
        if len(text_of) > _RECENT_TEXTS:
            text_of = dict(list(text_of.items())[-_RECENT_TEXTS:])
        recent.update(text_of)

    def rank_all(self, quality: Sequence[float]) -> None:
        """Rank the slots of every text of many documents not ranked yet by ``quality``
        now, as ``top_texts`` would when it first meets the text, with numpy when it is
        installed. Why: on a freshly opened or bulk-loaded bank of 1M patterns, sorting them
        in Python at the first search meeting each text (~0.4 ms a text of ~1,700 patterns)
        was most of the slowest searches. Small texts are left to that first search (cheap
        there)."""
        np = sys.modules.get("numpy")  # imported by the dense index when installed
        if np is None:
            return
        values = None
        for text in self._texts.values():
            if text.ranked is None and len(text.slots) >= 64:
                if values is None:  # a copy: ``quality`` may grow later
                    values = np.array(quality, dtype=np.float64)
                held = list(text.slots)  # the slot objects the index holds already
                order = np.argsort(-values[held], kind="stable").tolist()
                text.ranked = list(map(held.__getitem__, order))

    def _weigh(self, terms: Iterable[str], group: Hashable, count: int) -> tuple[int, bool]:
        """The text id of ``terms`` in ``group`` (and whether it is new), counting ``count``
        more documents in each of its terms' document frequencies."""
        tfs: dict[int, float] = {}
        tid_of, df = self._tid, self._df
        for term, tf in term_weights(terms).items():
            tid = tid_of.get(term)
            if tid is None:
                tid = tid_of[term] = len(df)
                df.append(0)
                self._terms.append(term)
                self._idf.append(self._unseen_idf(term))
                self._postings.append({})
                self._max_weight.append({})
            df[tid] += count
            tfs[tid] = tf
        key = (group, tuple(sorted(tfs.items())))
        text_id = self._text_of_key.get(key)
        if text_id is not None:
            return text_id, False
        text_id = self._text_of_key[key] = self._next_text
        self._next_text += 1
        self._texts[text_id] = _Text(tfs, group, key)
        return text_id, True

    def remove(self, slot: int) -> None:
        text_id = self._text_id(slot)
        if text_id < 0:
            return
        self._text_of_slot[slot] = -1
        self._documents -= 1
        text = self._texts[text_id]
        for tid in text.tfs:
            self._df[tid] -= 1
        text.slots.discard(slot)
        text.ranked = text.ordered = None
        if not text.slots:
            del self._texts[text_id]
            del self._text_of_key[text.key]
            for tid in text.tfs:
                bucket = self._postings[tid].get(text.group)
                if bucket is not None:
                    bucket.pop(text_id, None)

    def _post(self, text_id: int) -> None:
        text, idf = self._texts[text_id], self._idf
        norm = math.sqrt(sum((tf * idf[tid]) ** 2 for tid, tf in text.tfs.items()))
        if norm == 0.0:
            return
        group, postings, max_weight = text.group, self._postings, self._max_weight
        for tid, tf in text.tfs.items():
            bucket = postings[tid].get(group)
            if bucket is None:
                bucket = postings[tid][group] = {}
            w = bucket[text_id] = tf * idf[tid] / norm
            if w > max_weight[tid].get(group, 0.0):
                max_weight[tid][group] = w

    def _stale(self) -> bool:
        snap = self._snapshot_n
        return snap < 0 or abs(self._documents - snap) > self._drift * max(snap, 1)

    def refresh(self, *, force: bool = False) -> bool:
        """Re-take the IDF snapshot if the document count drifted; True if it did."""
        if not force and not self._stale():
            return False
        n = self._documents
        self._snapshot_n = n
        self._log_n1 = log_n1 = math.log(n + self._prior_docs + 1)
        m, prior, log = self._prior_docs, self._prior, math.log
        self._idf = [
            log_n1 - log(df + m * prior.get(term, 0.0) + 1) + 1.0
            for term, df in zip(self._terms, self._df, strict=True)
        ]
        for postings in self._postings:
            postings.clear()
        for bounds in self._max_weight:
            bounds.clear()
        for text_id in self._texts:
            self._post(text_id)
        return True

    def _unseen_idf(self, term: str) -> float:
        """IDF of a term no document had at the snapshot (df = 0)."""
        return self._log_n1 - math.log(self._prior_docs * self._prior.get(term, 0.0) + 1) + 1.0

    # -- queries -----------------------------------------------------------------------
    def idf(self, term: str) -> float:
        """IDF of ``term`` under the current snapshot (what searches use)."""
        tid = self._tid.get(term)
        return self._unseen_idf(term) if tid is None else self._idf[tid]

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
            w = tf * (self._unseen_idf(term) if tid is None else self._idf[tid])
            sq += w * w
            if tid is not None and self._df[tid] > 0:
                out[tid] = w
        norm = math.sqrt(sq)
        return {tid: w / norm for tid, w in out.items()}

    def _buckets(self, tid: int, group: Hashable) -> list[dict[int, float]]:
        by_group = self._postings[tid]
        if group is _ANY:
            return list(by_group.values())
        bucket = by_group.get(group)
        return [bucket] if bucket else []

    def _text_scores(self, query: dict[int, float], group: Hashable) -> dict[int, float]:
        acc: dict[int, float] = {}
        for tid, qw in query.items():
            for bucket in self._buckets(tid, group):
                if not acc:
                    acc = {text_id: qw * w for text_id, w in bucket.items()}
                    continue
                get = acc.get
                for text_id, w in bucket.items():
                    acc[text_id] = get(text_id, 0.0) + qw * w
        return acc

    def scored_texts(
        self, terms: Iterable[str], group: Hashable = _ANY
    ) -> list[tuple[float, set[int]]]:
        """``(cosine, slots)`` per distinct matching text: what ``scores`` expands per slot."""
        self.refresh()
        texts = self._texts
        return [
            (score, texts[text_id].slots)
            for text_id, score in self._text_scores(self.query_vector(terms), group).items()
        ]

    def top_texts(
        self,
        terms: Iterable[str],
        k: int,
        group: Hashable = _ANY,
        quality: Sequence[float] | None = None,
        gain: float = 0.0,
    ) -> list[tuple[float, Collection[int]]]:
        """``(cosine, slots)`` of every text that may hold one of the ``k`` best slots when
        a slot scores ``cosine + gain * quality[slot]`` (qualities in [0, 1]), best
        cosine first; the same exact cosines as ``scored_texts`` (summed in another order).
        With ``quality``, a text's slots come best quality first, ranked once and kept until
        the text's slots change: pass the same sequence every time and re-``add`` a slot
        whose quality changed.

        MaxScore-style pruning, term at a time: the query's terms go heaviest first; once
        the terms left (plus ``gain``) could not lift an unseen text to the k-th best slot
        score found so far, the remaining (usually long, low-idf) postings are looked up for
        the candidates held instead of walked, and hopeless candidates are dropped.
        """
        self.refresh()
        query = self.query_vector(terms)
        plan = []
        for tid, qw in query.items():
            buckets = self._buckets(tid, group)
            if buckets:
                bounds = self._max_weight[tid]
                top = max(bounds.values(), default=0.0) if group is _ANY else bounds.get(group, 0.0)
                plan.append((qw * top, qw, buckets))
        plan.sort(key=lambda p: p[0], reverse=True)
        rest = sum(p[0] for p in plan)
        texts = self._texts

        def ranked(text_id: int) -> list[int]:
            text = texts[text_id]
            if text.ranked is None:
                assert quality is not None
                text.ranked = sorted(text.slots, key=quality.__getitem__, reverse=True)
            return text.ranked

        def floor(acc: dict[int, float]) -> float:
            """The k-th best slot score among the best texts so far: a lower bound of the
            final k-th best (scores only grow)."""
            candidates: list[float] = []
            for text_id in heapq.nlargest(k, acc, key=acc.__getitem__):
                v = acc[text_id]
                if quality is None:
                    candidates.extend([v] * min(k, len(texts[text_id].slots)))
                else:
                    candidates.extend(v + gain * quality[s] for s in ranked(text_id)[:k])
            return heapq.nlargest(k, candidates)[-1] if len(candidates) >= k else -math.inf

        acc: dict[int, float] = {}
        walking = True
        for bound, qw, buckets in plan:
            rest -= bound
            for bucket in buckets:
                if walking:
                    get = acc.get
                    for text_id, w in bucket.items():
                        acc[text_id] = get(text_id, 0.0) + qw * w
                else:
                    lookup = bucket.get
                    for text_id in acc:
                        held = lookup(text_id)
                        if held is not None:
                            acc[text_id] += qw * held
            if walking and (not acc or rest >= max(acc.values())):
                continue  # the floor is at most the best cosine + gain: no switch yet
            need = floor(acc) - gain - 1e-9  # what a text must still reach by cosine
            walking = walking and rest >= need  # else no unseen text can reach it any more
            if not walking:
                acc = {t: v for t, v in acc.items() if v + rest >= need}
        need = floor(acc) - gain - 1e-9
        kept = sorted((t for t, v in acc.items() if v >= need), key=acc.__getitem__, reverse=True)
        if quality is None:
            return [(acc[t], texts[t].slots) for t in kept]
        return [(acc[t], ranked(t)) for t in kept]

    def scores(self, terms: Iterable[str], group: Hashable = _ANY) -> dict[int, float]:
        """Exact cosine of the query against every document sharing a term (others are 0),
        optionally only within ``group``."""
        self.refresh()
        texts = self._texts
        return {
            slot: score
            for text_id, score in self._text_scores(self.query_vector(terms), group).items()
            for slot in texts[text_id].slots
        }

    def near_duplicates(
        self,
        terms: Iterable[str],
        threshold: float,
        accept: Callable[[int], bool],
        group: Hashable = _ANY,
    ) -> list[tuple[int, float]]:
        """Accepted documents (in ``group``) whose cosine with ``terms`` is ≥ ``threshold``,
        each text's in slot order (see ``near_duplicate_texts``)."""
        return [
            (slot, cos)
            for slots, cos in self.near_duplicate_texts(terms, threshold, group)
            for slot in slots
            if accept(slot)
        ]

    def near_duplicate_texts(
        self, terms: Iterable[str], threshold: float, group: Hashable = _ANY
    ) -> list[tuple[list[int], float]]:
        """The texts (in ``group``) whose cosine with ``terms`` is ≥ ``threshold``: each
        as the slots of its documents, ascending (for a text of more than ``_KEEP_ORDER``,
        the index's own list, kept until the text's slots change: read it before any
        change), and that cosine. Why kept: a task stored again merges into the oldest copy
        with its strategy, and the slots of a text held by thousands lie all over memory.

        Cheap enough for every write: a document holding only the query terms in ``held``
        has cosine at most sqrt(sum of q_t^2 over ``held``) (Cauchy-Schwarz; words no
        document has count in the query's norm, never in a document's). So nothing
        qualifies when the known terms' share is below the threshold (a task with a new
        word), and every term whose absence alone rules a document out is required: only
        the texts holding all of them are scored.
        """
        self.refresh()
        query = self.query_vector(terms)
        if not query:
            return []
        floor = threshold - 1e-12  # what counts as reaching it (below)
        bound = floor * floor if floor > 0.0 else 0.0
        known = sum(w * w for w in query.values())
        if known < bound:
            return []
        required = [tid for tid, w in query.items() if known - w * w < bound]
        if required:
            by_group = self._candidate_texts(required, group)
        else:
            by_group = {}
            for text_id in self._text_scores(query, group):
                by_group.setdefault(self._texts[text_id].group, []).append(text_id)
        out: list[tuple[list[int], float]] = []
        texts = self._texts
        for g, text_ids in by_group.items():
            for text_id, cos in zip(text_ids, self._cosines(query, g, text_ids), strict=True):
                if cos >= floor:
                    text = texts[text_id]
                    ordered = text.ordered
                    if ordered is None:
                        ordered = sorted(text.slots)
                        if len(ordered) > _KEEP_ORDER:
                            text.ordered = ordered
                    out.append((ordered, cos))
        return out

    def _cosines(
        self, query: dict[int, float], group: Hashable, text_ids: list[int]
    ) -> list[float]:
        """The exact cosine of each text of ``group`` with ``query``, summed term by term in
        the query's order: text by text for a few, else one map per term (no interpreted
        step per text: a common task's words can be held by thousands)."""
        postings = self._postings
        terms = [(qw, b) for tid, qw in query.items() if (b := postings[tid].get(group))]
        if len(text_ids) <= _FEW_TEXTS:
            out = []
            for text_id in text_ids:
                cos = 0.0
                for qw, bucket in terms:
                    cos += qw * bucket.get(text_id, 0.0)
                out.append(cos)
            return out
        sums = [0.0] * len(text_ids)
        for qw, bucket in terms:
            sums = list(
                map(add, sums, map(mul, repeat(qw), map(bucket.get, text_ids, repeat(0.0))))
            )
        return sums

    def _candidate_texts(self, tids: list[int], group: Hashable) -> dict[Hashable, list[int]]:
        """The posted texts (in ``group``) that may hold every term of ``tids``, by group:
        those of the smallest of their buckets, kept only if each other bucket holds them
        too unless they are few (scoring them is then cheaper than the tests)."""
        postings = self._postings
        groups = postings[tids[0]].keys() if group is _ANY else (group,)
        out: dict[Hashable, list[int]] = {}
        for g in groups:
            buckets: list[dict[int, float]] = []
            for tid in tids:
                bucket = postings[tid].get(g)
                if not bucket:
                    break
                buckets.append(bucket)
            else:
                buckets.sort(key=len)
                held: Iterable[int] = buckets[0]
                if len(buckets[0]) > _FEW_TEXTS:
                    for bucket in buckets[1:]:  # membership tests chained in C, smallest first
                        held = filter(bucket.__contains__, held)
                found = list(held)
                if found:
                    out[g] = found
        return out
