"""``ReasoningBank``: orchestrates a Store, the text and vector indexes, and learning.

The bank keeps one in-memory view of every pattern (records, a lexical inverted index and
an optional dense index) and writes through to its store: a call that returns has
committed. Validation happens before anything is written, so bad input never costs
stored data. Scoring and learning live in pure modules; this class only awaits the store.
"""

from __future__ import annotations

import asyncio
import copy
import heapq
import inspect
import json
import math
import os
import random
import time
from array import array
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from . import learning, runtime
from .embed import ANALYZER_VERSION, analyze
from .errors import BankClosed, InvalidPattern, NotFound, ReasoningBankError
from .index import ANY_GROUP, LexicalIndex
from .model import Match, Outcome, Pattern, Recommendation
from .similarity import ScoreWeights, check_vector, context_overlap, cosine, make_dense_index
from .storage.base import Record, Store

__all__ = ["ReasoningBank", "default_location"]

Embedder = Callable[[str], Any]


def default_location() -> str:
    """Where ``ReasoningBank.open()`` with no argument keeps the bank.

    CPython: ``$REASONINGBANK_DB``, else ``<user data dir>/reasoningbank/bank.db``.
    Browser or Worker: ``idb://reasoningbank``. Pyodide in Node: IndexedDB when the global
    exists (e.g. fake-indexeddb), else memory.
    """
    env = os.environ.get("REASONINGBANK_DB")
    if env:
        return env
    rt = runtime.detect()
    if rt in (runtime.PYODIDE_BROWSER, runtime.PYODIDE_WORKER):
        return "idb://reasoningbank"
    if rt == runtime.PYODIDE_NODE:
        return "idb://reasoningbank" if runtime.has_indexeddb() else ":memory:"
    if os.name == "nt":
        base = os.environ.get("APPDATA") or os.path.expanduser("~")
    elif os.uname().sysname == "Darwin":
        base = os.path.expanduser("~/Library/Application Support")
    else:
        base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(base, "reasoningbank", "bank.db")


async def _open_store(
    location: str, backend: str | None, durability: str, create: bool
) -> tuple[Store, str | None]:
    """Pick the store for ``location``; returns it and a note when it had to fall back."""
    if backend not in (None, "sqlite", "memory", "idb"):
        raise InvalidPattern(f"unknown backend {backend!r}; use 'sqlite', 'memory' or 'idb'")
    kind = backend or (
        "idb" if location.startswith("idb://") else "memory" if location == ":memory:" else "sqlite"
    )
    if kind == "idb":
        name = location[len("idb://") :] if location.startswith("idb://") else location
        try:
            from .storage.idb import open_idb_store

            return await open_idb_store(name or "reasoningbank"), None
        except ImportError as exc:
            from .storage.memory import MemoryStore

            return MemoryStore(), f"IndexedDB unavailable ({exc}); using memory"
    if kind == "memory":
        from .storage.memory import MemoryStore

        return MemoryStore(), None
    from .storage.sqlite import SqliteStore

    return SqliteStore.open(location, durability=durability, create=create), None


def _is_file_location(location: str, backend: str | None) -> bool:
    return backend in (None, "sqlite") and location != ":memory:" and "://" not in location


class ReasoningBank:
    """Agent memory: store attempts, find similar ones, recommend strategies, learn."""

    def __init__(
        self,
        store: Store,
        *,
        embedder: Embedder | None = None,
        weights: ScoreWeights | dict[str, float] | None = None,
        dedup_threshold: float | None = 0.95,
        half_life_days: float | None = 30.0,
        vector_backend: str | None = None,
        clock: Callable[[], float] = time.time,
        fallback: str | None = None,
    ) -> None:
        if dedup_threshold is not None and not 0.0 < dedup_threshold <= 1.0:
            raise InvalidPattern("dedup_threshold must be in (0, 1] or None")
        if half_life_days is not None and half_life_days <= 0:
            raise InvalidPattern("half_life_days must be positive or None")
        self._store = store
        self._embedder = embedder
        self.weights = ScoreWeights.from_any(weights)
        self.dedup_threshold = dedup_threshold
        self.half_life_days = half_life_days
        self._clock = clock
        self._fallback = fallback
        self._closed = False
        self._mutex = asyncio.Lock()  # one read-modify-write at a time in this process
        self._lex = LexicalIndex()
        self._dense = make_dense_index(vector_backend)
        # The in-memory copy of each pattern is compact: its JSON text (parsed only when a
        # pattern is returned) plus the few columns searches and statistics read.
        self._records: dict[str, _Entry] = {}
        self._contexts: dict[int, dict[str, Any]] = {}  # slot -> non-empty context
        self._slot: dict[str, int] = {}
        self._ids: list[str | None] = []
        self._category: list[str | None] = []
        self._strategy: list[str | None] = []
        self._quality: list[float] = []
        self._version = 0  # bumped by every index change; invalidates ``_arrays``, ``_stats``
        self._stats: tuple[int, dict[str, Any]] | None = None
        self._arrays: tuple[Any, ...] | None = None

    # -- lifecycle ---------------------------------------------------------------------
    @classmethod
    async def open(
        cls,
        location: str | os.PathLike[str] | None = None,
        *,
        backend: str | None = None,
        durability: str = "normal",
        create: bool = True,
        progress: Callable[[int, int], None] | None = None,
        **options: Any,
    ) -> ReasoningBank:
        """Open (creating if needed) the bank at ``location``.

        ``location``: a file path (SQLite), ``":memory:"``, or ``"idb://name"`` (IndexedDB in
        Pyodide); ``None`` picks ``default_location()``. ``backend`` forces a store kind.
        ``options``: ``embedder``, ``weights``, ``dedup_threshold``, ``half_life_days``,
        ``vector_backend`` ("numpy", "python" or "js": the JavaScript kernel under Pyodide), ``clock``.
        ``create=False`` raises ``NoBank`` instead of creating a missing bank file (read
        commands use it). Only the default location's folder is created when missing.
        """
        if location is None:
            loc = default_location()
            if create and _is_file_location(loc, backend):
                os.makedirs(os.path.dirname(os.path.abspath(loc)), exist_ok=True)
        else:
            loc = os.fspath(location)
        store, fallback = await _open_store(loc, backend, durability, create)
        try:
            bank = cls(store, fallback=fallback, **options)
            await bank._load(progress)
        except BaseException:
            await store.close()
            raise
        return bank

    async def _load(self, progress: Callable[[int, int], None] | None) -> None:
        stale = (await self._store.get_meta("analyzer")) not in (None, ANALYZER_VERSION)
        reindexed = []
        for record in await self._store.load():
            if stale:
                record.terms = analyze(_as_dict(record.body).get("task_description", ""))
                reindexed.append(record)
            self._index(record)
        if reindexed and not getattr(self._store, "read_only", False):
            # The analyzer changed: store the new terms once so later opens are fast again.
            total = len(reindexed)
            for start in range(0, total, 1000):
                await self._store.put(reindexed[start : start + 1000])
                if progress:
                    progress(min(start + 1000, total), total)
        if getattr(self._store, "read_only", False):
            return
        if stale or await self._store.get_meta("analyzer") is None:
            await self._store.set_meta("analyzer", ANALYZER_VERSION)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._store.close()

    async def __aenter__(self) -> ReasoningBank:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise BankClosed("this bank is closed; open it again with ReasoningBank.open()")

    async def _sync(self) -> None:
        """Apply what other processes committed to the same store since we last looked."""
        self._check_open()
        changes = await self._store.changes()
        if changes is None:
            return
        for pid in changes.deleted:
            self._unindex(pid)
        for record in changes.upserted:
            self._index(record)

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[_Batch]:
        """A read-modify-write that nobody can interleave with.

        Holds this bank's mutex (other coroutines) and the store's write lock (other
        processes and tabs), catches up on what others committed, and yields a batch to
        fill; the batch is written inside the lock and indexed only once it committed.
        Why: computing an outcome or a merge from a stale in-memory view and writing it back
        would silently drop what another process wrote in between.
        """
        self._check_open()
        async with self._mutex:
            batch = _Batch()
            async with self._store.write_lock():
                await self._sync()
                yield batch
                if batch.staged or batch.delete:
                    await self._store.put([r for r, _ in batch.staged], delete=batch.delete)
            for record, body in batch.staged:
                self._index(record, body)
            for pid in batch.delete:
                self._unindex(pid)

    # -- in-memory indexes -------------------------------------------------------------
    def _index(self, record: Record, body: dict[str, Any] | None = None) -> None:
        """Index ``record``; ``body`` is its parsed JSON when the caller already has it."""
        self._version += 1
        pid = record.id
        slot = self._slot.get(pid)
        if slot is None:
            slot = self._slot[pid] = len(self._ids)
            self._ids.append(pid)
            self._category.append(record.task_category)
            self._strategy.append(record.strategy)
            self._quality.append(0.0)
        self._category[slot] = record.task_category
        self._strategy[slot] = record.strategy
        if body is None:
            body = _as_dict(record.body)
        meta = body.get("metadata") or {}
        self._quality[slot] = float(meta.get("confidence", 0.5))
        self._lex.add(slot, record.terms, record.task_category)
        try:
            if record.embedding is None:
                raise InvalidPattern("no vector")
            self._dense.add(slot, record.embedding)  # the only in-memory copy of the vector
        except InvalidPattern:  # none, or one an older version let in (NaN, ±inf): text only
            self._dense.remove(slot)
        if body.get("context"):
            self._contexts[slot] = body["context"]
        else:
            self._contexts.pop(slot, None)
        self._records[pid] = _Entry(
            body=record.body if isinstance(record.body, str) else _compact(body),
            terms=record.terms,
            task_category=record.task_category,
            created_at=record.created_at,
            updated_at=record.updated_at,
            wins=float(meta.get("success_count", 0.0)),
            losses=float(meta.get("failure_count", 0.0)),
            average=float(meta.get("avg_success_score", 0.0)),
            contradictions=int(meta.get("contradictions", 0)),
        )

    def _unindex(self, pid: str) -> None:
        self._version += 1
        slot = self._slot.pop(pid, None)
        if slot is None:
            return
        self._records.pop(pid, None)
        self._contexts.pop(slot, None)
        self._lex.remove(slot)
        self._dense.remove(slot)
        self._ids[slot] = None
        self._category[slot] = None
        self._strategy[slot] = None

    def _pattern(self, pid: str) -> Pattern:
        record = self._records[pid]
        return Pattern.from_stored(
            json.loads(record.body),
            created_at=record.created_at,
            updated_at=record.updated_at,
            embedding=self._dense.vector(self._slot[pid]),
        )

    def _record(
        self, pattern: Pattern, terms: list[str] | None = None
    ) -> tuple[Record, dict[str, Any]]:
        """The store's view of ``pattern`` (its body as compact JSON text, encoded once here)
        and the body as a dict, so indexing need not parse it back."""
        body = pattern.to_dict(with_embedding=False)
        record = Record(
            id=pattern.id,
            task_category=pattern.task_category,
            strategy=pattern.strategy,
            created_at=pattern.metadata.created_at,
            updated_at=pattern.metadata.updated_at,
            body=_compact(body),
            terms=analyze(pattern.task_description) if terms is None else terms,
            embedding=pattern.embedding,
        )
        return record, body

    # -- writing -----------------------------------------------------------------------
    async def _embed(self, text: str) -> list[float] | None:
        if self._embedder is None:
            return None
        vector = self._embedder(text)
        if inspect.isawaitable(vector):
            vector = await vector
        return [float(x) for x in vector]

    def _validate(self, items: Sequence[Any]) -> list[tuple[Pattern, bool]]:
        now = self._clock()
        out = []
        for i, item in enumerate(items):
            try:
                explicit = isinstance(item, Pattern) or bool(
                    isinstance(item, dict) and item.get("id")
                )
                pattern = Pattern.from_dict(item, new_id=_new_id(), now=now)
                for free_form in (pattern.context, pattern.outcome.metrics, pattern.metadata.extra):
                    if free_form:  # stores persist JSON: refuse what would not round-trip
                        json.dumps(free_form)
            except (TypeError, ValueError) as exc:
                where = f"pattern #{i}: " if len(items) > 1 else ""
                field = getattr(exc, "field", None)
                if not isinstance(exc, InvalidPattern):
                    exc = InvalidPattern(f"contains a value that is not JSON: {exc}")
                raise InvalidPattern(f"{where}{exc}", field=field) from None
            out.append((pattern, explicit))
        return out

    def _near_duplicate(self, pattern: Pattern, terms: list[str]) -> str | None:
        if self.dedup_threshold is None or not terms:
            return None
        cat, strategy, ids = pattern.task_category, pattern.strategy, self._ids
        best: tuple[float, int] | None = None
        for slot, sim in self._lex.near_duplicates(
            terms, self.dedup_threshold, lambda s: self._strategy[s] == strategy, cat
        ):
            if pattern.embedding is not None and self._dense.has(slot):
                if cosine(pattern.embedding, self._dense.vector(slot) or []) < self.dedup_threshold:
                    continue
            if best is None or (sim, -slot) > (best[0], -best[1]):
                best = (sim, slot)
        return ids[best[1]] if best else None

    async def store_pattern(self, pattern: dict[str, Any] | Pattern) -> str:
        """Validate and store one pattern; returns its id.

        A pattern without an explicit ``id`` that nearly duplicates an existing one (same
        category and strategy, text cosine ≥ ``dedup_threshold``) is merged into it, and the
        existing id is returned: its outcome counts as one more observation.
        """
        return (await self.store_patterns([pattern]))[0]

    async def store_patterns(self, patterns: Iterable[dict[str, Any] | Pattern]) -> list[str]:
        """Validate all, then store all in one transaction; returns ids in input order."""
        self._check_open()
        items = list(patterns)
        staged = self._validate(items)
        prepared = []  # embedding and terms first: they need no lock
        for pattern, explicit in staged:
            if pattern.embedding is None:
                pattern.embedding = await self._embed(pattern.task_description)
            if pattern.embedding is not None:
                self._dense.check(pattern.embedding)
            prepared.append((pattern, explicit, analyze(pattern.task_description)))
        async with self._writing() as batch:
            now = self._clock()
            writes: dict[str, Pattern] = {}
            terms_of: dict[str, list[str]] = {}
            ids: list[str] = []
            for pattern, explicit, terms in prepared:
                target_id = None if explicit else self._near_duplicate(pattern, terms)
                if target_id is not None:
                    target = writes.get(target_id) or self._pattern(target_id)
                    learning.merge_into(target, pattern, now)
                    writes[target_id] = target
                    ids.append(target_id)
                    continue
                learning.initialise(pattern.metadata, pattern.outcome, now)
                writes[pattern.id] = pattern
                terms_of[pattern.id] = terms
                ids.append(pattern.id)
            batch.staged = [self._record(p, terms_of.get(pid)) for pid, p in writes.items()]
        return ids

    async def record_outcome(
        self,
        pattern_id: str,
        success: bool | None = None,
        score: float | None = None,
        **details: Any,
    ) -> Pattern:
        """Learn from applying a pattern again: updates usage, average, confidence.

        ``details`` may carry ``duration_seconds``, ``tokens_used``, ``error_message``,
        ``metrics``. Returns the updated pattern.
        """
        self._check_open()
        unknown = set(details) - {"duration_seconds", "tokens_used", "error_message", "metrics"}
        if unknown:
            raise InvalidPattern(f"unknown outcome fields: {', '.join(sorted(unknown))}")
        outcome = Outcome.from_dict(
            {"success": success, "success_score": score, **details}, fallback_score=None
        )
        async with self._writing() as batch:
            if pattern_id not in self._records:
                raise NotFound(pattern_id)
            pattern = self._pattern(pattern_id)
            learning.observe(pattern.metadata, outcome.success_score, self._clock())
            pattern.outcome = outcome
            batch.staged = [self._record(pattern, self._records[pattern_id].terms)]
        return self._pattern(pattern_id)

    async def delete_pattern(self, pattern_id: str) -> None:
        async with self._writing() as batch:
            if pattern_id not in self._records:
                raise NotFound(pattern_id)
            batch.delete = [pattern_id]

    async def consolidate(
        self, *, dry_run: bool = False, min_evidence: float = 0.1
    ) -> dict[str, Any]:
        """Merge near-duplicates that slipped in (bulk stores, imports, other peers) and
        prune patterns whose age-discounted evidence fell below ``min_evidence``.

        Duplicates fold into the oldest copy (its id survives). Pruning needs a half-life
        (``half_life_days``); failures are kept as long as successes. Returns what changed
        (``dry_run=True`` reports without changing anything).
        """
        if dry_run:
            await self._sync()
            return self._consolidation(min_evidence, dry_run=True)[0]
        async with self._writing() as batch:
            report, updates, gone = self._consolidation(min_evidence, dry_run=False)
            batch.staged = [self._record(p, self._records[p.id].terms) for p in updates.values()]
            batch.delete = sorted(gone)
        return report

    def _consolidation(
        self, min_evidence: float, *, dry_run: bool
    ) -> tuple[dict[str, Any], dict[str, Pattern], set[str]]:
        """What ``consolidate`` would do now: its report, the merged targets, the ids to drop."""
        now = self._clock()
        merged: list[dict[str, Any]] = []
        updates: dict[str, Pattern] = {}
        gone: set[str] = set()
        threshold = self.dedup_threshold or 0.95
        for slot, pid in enumerate(self._ids):
            if pid is None or pid in gone:
                continue
            cat, strategy = self._category[slot], self._strategy[slot]
            dups = self._lex.near_duplicates(
                self._records[pid].terms,
                threshold,
                partial(self._later_duplicate, slot, strategy, gone),
                cat,
            )
            if not dups:
                continue
            target = updates.get(pid) or self._pattern(pid)
            absorbed = []
            for dup_slot, _ in sorted(dups):
                dup_id = self._ids[dup_slot]
                assert dup_id is not None
                learning.absorb(target, self._pattern(dup_id))
                gone.add(dup_id)
                absorbed.append(dup_id)
            updates[pid] = target
            merged.append({"into": pid, "ids": absorbed})
        pruned = []
        for pid in self._ids:
            if pid is None or pid in gone:
                continue
            meta = (updates[pid] if pid in updates else self._pattern(pid)).metadata
            if self.half_life_days is not None and (
                learning.evidence_weight(meta, now, self.half_life_days) < min_evidence
            ):
                pruned.append(pid)
                gone.add(pid)
                updates.pop(pid, None)
        report = {
            "dry_run": dry_run,
            "before": len(self._records),
            "after": len(self._records) - len(gone),
            "merged": merged,
            "pruned": pruned,
        }
        return report, updates, gone

    # -- neural bus --------------------------------------------------------------------
    async def connect(
        self,
        url: str,
        *,
        cert_hash: str | None = None,
        timeout: float = 10.0,
        announce_trust: bool = False,
    ) -> Any:
        """Open a live neural-bus session with a hub (``reasoningbank hub``).

        ``cert_hash`` pins the hub's certificate (the SHA-256 it prints), as browsers do with
        ``serverCertificateHashes``. Returns a link: ``await link.sync()``,
        ``link.open_stream(...)``, ``await link.close()``. Needs the ``[bus]`` extra.
        """
        self._check_open()
        _cpython_only("connect")
        from .bus.sync import connect_bank

        return await connect_bank(
            self, url, cert_hash=cert_hash, timeout=timeout, announce_trust=announce_trust
        )

    async def sync(
        self, url: str, *, cert_hash: str | None = None, timeout: float = 30.0
    ) -> dict[str, Any]:
        """One round with a hub: share our signed patterns, catch up on trusted ones."""
        self._check_open()
        _cpython_only("sync")
        from .bus.sync import sync_bank

        return await sync_bank(self, url, cert_hash=cert_hash, timeout=timeout)

    # -- reading -----------------------------------------------------------------------
    async def get_pattern(self, pattern_id: str) -> Pattern | None:
        await self._sync()
        return self._pattern(pattern_id) if pattern_id in self._records else None

    async def all_patterns(self) -> list[Pattern]:
        """Every pattern, oldest first."""
        await self._sync()
        return [self._pattern(pid) for pid in self._ids if pid is not None]

    async def search_by_category(self, category: str, limit: int = 10) -> list[Pattern]:
        """Newest first."""
        await self._sync()
        _check_limit(limit, "limit")
        rows = [
            (entry.created_at, self._slot[pid], pid)
            for pid, entry in self._records.items()
            if entry.task_category == category
        ]
        return [self._pattern(pid) for _, _, pid in heapq.nlargest(limit, rows)]

    async def find_similar(
        self,
        task_description: str,
        task_category: str | None = None,
        top_k: int = 5,
        min_score: float = 0.0,
        *,
        context: dict[str, Any] | None = None,
        embedding: Sequence[float] | None = None,
        strict_category: bool = True,
    ) -> list[Match]:
        """Patterns most similar to ``task_description``, best composite score first.

        With ``task_category`` and ``strict_category`` (default) only that category is
        searched; with ``strict_category=False`` it is a boost. A pattern is a candidate
        when it shares a term with the query or (with dense vectors) has any similarity.
        """
        await self._sync()
        if not isinstance(task_description, str):
            raise InvalidPattern("task_description must be a string")
        _check_limit(top_k, "top_k")
        if embedding is not None:  # refused even when no stored pattern has a vector
            check_vector(embedding, None)
        if not isinstance(min_score, (int, float)) or not math.isfinite(min_score):
            raise InvalidPattern(f"min_score must be a finite number, got {min_score!r}")
        query_vector = embedding if embedding is not None else await self._embed(task_description)
        terms = analyze(task_description)
        if (
            (query_vector is None or not len(self._dense))
            and not context
            and (task_category is None or strict_category)
        ):
            return [
                self._match(score, -neg_slot, {-neg_slot: sim}, {}, task_category, None)
                for score, neg_slot, sim in self._rank_lexical(terms, task_category, top_k)
                if score >= min_score
            ]
        if task_category is not None and strict_category:
            lex = self._lex.scores(terms, task_category)  # only that category's postings
        else:
            lex = self._lex.scores(terms)
        if query_vector is not None and len(self._dense) > 0:
            if self._dense.backend == "numpy" and not context:
                ranked, sem = self._rank_numpy(
                    lex, query_vector, task_category, strict_category, top_k
                )
                return self._matches(ranked, lex, sem, task_category, context, min_score)
            ranked, sem = self._rank_nearest(
                lex, query_vector, task_category, context, strict_category, top_k
            )
            return self._matches(ranked, lex, sem, task_category, context, min_score)
        else:
            sem = {}
        ranked = heapq.nlargest(
            top_k, self._score(lex, sem, task_category, context, strict_category)
        )
        return self._matches(ranked, lex, sem, task_category, context, min_score)

    def _matches(
        self,
        ranked: list[tuple[float, int]],
        lex: dict[int, float],
        sem: dict[int, float],
        category: str | None,
        context: dict[str, Any] | None,
        min_score: float,
    ) -> list[Match]:
        return [
            self._match(score, -neg_slot, lex, sem, category, context)
            for score, neg_slot in ranked
            if score >= min_score
        ]

    def _later_duplicate(self, slot: int, strategy: str | None, gone: set[str], other: int) -> bool:
        """Consolidation's filter: a later pattern with the same strategy, not merged yet."""
        return other > slot and self._strategy[other] == strategy and self._ids[other] not in gone

    def _rank_lexical(
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
        qual = self._quality
        wsim, wout = w.similarity, w.outcome
        base = w.category if category is not None else 0.0
        group = ANY_GROUP if category is None else category
        if wsim <= 0.0:
            texts = self._lex.scored_texts(terms, group)
            return heapq.nlargest(
                top_k,
                (
                    (wsim * sim + base + wout * qual[slot], -slot, sim)
                    for sim, slots in texts
                    for slot in slots
                ),
            )
        best: list[tuple[float, int, float]] = []  # min-heap of the top_k so far
        for sim, slots in self._lex.top_texts(terms, top_k, group, qual, wout / wsim):
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

    def _score(
        self,
        lex: dict[int, float],
        sem: dict[int, float],
        category: str | None,
        context: dict[str, Any] | None,
        strict: bool,
    ) -> list[tuple[float, int]]:
        """``(composite score, -slot)`` per candidate: tuples order best-first, then oldest."""
        cats, wsim = self._category, self.weights.similarity
        out = []
        for slot in lex.keys() | sem.keys():
            if category is not None and strict and cats[slot] != category:
                continue
            sim = self._text_similarity(lex.get(slot, 0.0), sem.get(slot))
            out.append((wsim * sim + self._extras(slot, category, context), -slot))
        return out

    def _rank_numpy(
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
        n = len(self._ids)
        sem_all, has_vec = self._dense.similarities(query_vector, n)
        lex_all = np.zeros(n)
        if lex:
            lex_all[np.fromiter(lex.keys(), dtype=np.int64, count=len(lex))] = np.fromiter(
                lex.values(), dtype=np.float64, count=len(lex)
            )
        fused = (w.lexical * lex_all + w.semantic * sem_all) / (w.lexical + w.semantic)
        text = np.where(has_vec, fused, lex_all)
        live, codes, quality, code_of = self._slot_arrays()
        candidates = live & (has_vec | (lex_all > 0))
        in_cat = (
            codes == code_of.get(category, -2) if category is not None else np.zeros(n, dtype=bool)
        )
        if category is not None and strict:
            candidates &= in_cat
        score = w.similarity * text + w.category * in_cat + w.outcome * quality
        slots = np.flatnonzero(candidates)
        if slots.size > top_k:
            kth = np.partition(score[slots], slots.size - top_k)[slots.size - top_k]
            slots = slots[score[slots] >= kth]  # keeps ties, ordered below like _score's
        ranked = sorted(((float(score[s]), -int(s)) for s in slots), reverse=True)[:top_k]
        sem = {-neg: float(sem_all[-neg]) for _, neg in ranked if has_vec[-neg]}
        return ranked, sem

    def _rank_nearest(
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
        w, dense = self.weights, self._dense
        share = w.semantic / (w.lexical + w.semantic)
        cats = self._category
        q32 = array("f", query_vector)  # the indexes compare float32 rows with a float32 query
        want = max(4 * top_k, 32)

        def rank() -> tuple[list[tuple[float, int]], float]:
            ranked = heapq.nlargest(top_k, self._score(known, sem, category, context, strict))
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
                    + self._extras(s, category, context)
                    >= kth
                ],
            )
            if late:
                sem.update(late)
                known.update((s, lex[s]) for s in late)
                ranked, kth = rank()
            unseen = w.similarity * share * floor + w.category + w.outcome
            unseen += w.context if context else 0.0
            if len(near) < want or unseen < kth:
                return ranked, sem
            want *= 4

    def _extras(self, slot: int, category: str | None, context: dict[str, Any] | None) -> float:
        """A slot's category, context and outcome parts, weighted (what similarity adds to)."""
        w = self.weights
        in_category = category is not None and self._category[slot] == category
        return (
            w.category * in_category
            + w.context * self._context_part(slot, context)
            + w.outcome * self._quality[slot]
        )

    def _slot_arrays(self) -> tuple[Any, Any, Any, dict[str | None, int]]:
        """numpy views of the per-slot columns (live, category code, quality), rebuilt only
        after a write."""
        if self._arrays is None or self._arrays[0] != self._version:
            import numpy as np

            n = len(self._ids)
            code_of: dict[str | None, int] = {None: -1}
            codes = np.fromiter(
                (code_of.setdefault(c, len(code_of)) for c in self._category),
                dtype=np.int64,
                count=n,
            )
            live = codes >= 0
            quality = np.fromiter(self._quality, dtype=np.float64, count=n)
            self._arrays = (self._version, live, codes, quality, code_of)
        return self._arrays[1:]

    def _text_similarity(self, lexical: float, semantic: float | None) -> float:
        if semantic is None:
            return lexical
        w = self.weights
        return (w.lexical * lexical + w.semantic * semantic) / (w.lexical + w.semantic)

    def _context_part(self, slot: int, context: dict[str, Any] | None) -> float:
        if not context:
            return 0.0
        return context_overlap(context, self._contexts.get(slot) or {})

    def _match(
        self,
        score: float,
        slot: int,
        lex: dict[int, float],
        sem: dict[int, float],
        category: str | None,
        context: dict[str, Any] | None,
    ) -> Match:
        pattern = self._pattern(self._ids[slot])  # type: ignore[arg-type]
        semantic = sem.get(slot)
        sim = self._text_similarity(lex.get(slot, 0.0), semantic)
        parts = {"similarity": sim, "lexical": lex.get(slot, 0.0)}
        if semantic is not None:
            parts["semantic"] = semantic
        parts["category"] = (
            1.0 if category is not None and pattern.task_category == category else 0.0
        )
        parts["context"] = self._context_part(slot, context)
        parts["outcome"] = self._quality[slot]
        return Match(pattern=pattern, score=score, similarity=sim, parts=parts)

    async def recommend_strategy(
        self,
        task_description: str,
        task_category: str | None = None,
        *,
        explore: bool = False,
        seed: int | None = None,
        top_k: int = 50,
    ) -> Recommendation:
        """Best strategy for a task, from the outcomes of similar past tasks.

        Each similar pattern adds its successes and failures to its strategy's Beta
        posterior, weighted by similarity and recency (``half_life_days``). With no textual
        overlap, the category's recent patterns count at a low weight. ``explore=True`` uses
        Thompson sampling (seeded by ``seed`` for reproducibility).
        """
        matches = await self.find_similar(task_description, task_category, top_k=top_k)
        evidence = [self._evidence(m.pattern, m.similarity) for m in matches if m.similarity > 0]
        if not evidence and task_category is not None:
            recent = await self.search_by_category(task_category, limit=top_k)
            evidence = [self._evidence(p, 0.25) for p in recent]
        rng = random.Random(seed) if explore else None
        return learning.recommend(
            evidence, now=self._clock(), half_life_days=self.half_life_days, rng=rng
        )

    @staticmethod
    def _evidence(pattern: Pattern, similarity: float) -> learning.Evidence:
        meta = pattern.metadata
        return learning.Evidence(
            pattern_id=pattern.id,
            strategy=pattern.strategy,
            similarity=similarity,
            successes=meta.success_count,
            failures=meta.failure_count,
            updated_at=meta.updated_at,
        )

    async def get_stats(self) -> dict[str, Any]:
        await self._sync()
        if self._stats is None or self._stats[0] != self._version:
            self._stats = (self._version, self._pattern_stats())  # O(N): once per change
        return {
            **copy.deepcopy(self._stats[1]),
            "storage": {
                "backend": self._store.kind,
                "location": self._store.location,
                "fallback": self._fallback,
            },
            "runtime": runtime.detect(),
        }

    def _pattern_stats(self) -> dict[str, Any]:
        records = list(self._records.values())
        categories = Counter(r.task_category for r in records)
        strategies = Counter(s for s in self._strategy if s is not None)
        wins = sum(r.wins for r in records)
        observations = wins + sum(r.losses for r in records)
        avg = sum(r.average for r in records) / len(records) if records else 0.0
        return {
            "total_patterns": len(records),
            "categories": dict(categories.most_common()),
            "strategies": dict(strategies.most_common()),
            "avg_success_score": avg,
            "success_rate": wins / observations if observations else 0.0,
            "observations": observations,
            "contradictions": sum(r.contradictions for r in records),
            "index": {
                "analyzer": ANALYZER_VERSION,
                "vocabulary": self._lex.vocabulary_size,
                "postings": self._lex.postings_count,
                "dense_vectors": len(self._dense),
                "dense_dim": self._dense.dim,
                "vector_backend": self._dense.backend,
            },
        }


@dataclass(slots=True)
class _Batch:
    """What one ``_writing`` block writes: records (with their parsed bodies) and deletions."""

    staged: list[tuple[Record, dict[str, Any]]] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Entry:
    """What the bank keeps in memory per pattern (vectors live in the dense index)."""

    body: str
    terms: list[str]
    task_category: str
    created_at: float
    updated_at: float
    wins: float
    losses: float
    average: float
    contradictions: int


_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False).encode


def _as_dict(body: dict[str, Any] | str) -> dict[str, Any]:
    """Stores hand back the pattern body as a dict (or, compactly, as its JSON text)."""
    return json.loads(body) if isinstance(body, str) else body


def _cpython_only(method: str) -> None:
    if runtime.is_pyodide():
        raise ReasoningBankError(
            f"bank.{method}() needs CPython (aioquic); in a browser link the bank with "
            "transport_webtransport.BusSync (web/sync.js does it for the PWA)"
        )


def _new_id() -> str:
    """A random (version 4) UUID string; cheaper than ``str(uuid.uuid4())`` in bulk."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


def _check_limit(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidPattern(f"{name} must be a positive integer, got {value!r}")
    if value > 10_000:
        raise InvalidPattern(f"{name} must be at most 10000, got {value}")
