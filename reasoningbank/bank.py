"""``ReasoningBank``: orchestrates a Store, the text and vector indexes, and learning.

The bank keeps one in-memory view of every pattern (records, a lexical inverted index and
an optional dense index) and writes through to its store: a call that returns has
committed. Validation happens before anything is written, so bad input never costs
stored data. Scoring and learning live in pure modules; this class only awaits the store.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import heapq
import inspect
import math
import os
import random
import time
from bisect import bisect_left
from collections.abc import AsyncIterator, Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from functools import lru_cache, partial
from itertools import compress
from json.encoder import encode_basestring
from operator import itemgetter
from typing import Any

from . import learning, runtime
from ._ranking import DIVERSITY_POOL, Hits, Ranker, ScoreWeights, diversify
from ._table import KnownColumns, SlotTable, as_dict, compact
from .errors import BankClosed, InvalidPattern, NotFound, ReasoningBankError
from .model import (
    Draft,
    Match,
    Metadata,
    Outcome,
    Pattern,
    Recommendation,
    check_limit,
    common_draft,
    format_time,
    seeded_counts,
    validate_all,
)
from .storage import default_location, open_store
from .storage.base import Columns, Record, Store
from .text import ANALYZER_VERSION, analyze, terms_of
from .vectors import check_vector, cosine, make_dense_index

__all__ = ["ReasoningBank", "default_location"]

Embedder = Callable[[str], Any]

#: A new pattern whose text has at least this cosine with a stored one of the same category
#: and strategy is merged into it (``dedup_threshold``; None stores every pattern apart).
DEFAULT_DEDUP_THRESHOLD = 0.95


class ReasoningBank:
    """Agent memory: store attempts, find similar ones, recommend strategies, learn."""

    def __init__(
        self,
        store: Store,
        *,
        embedder: Embedder | None = None,
        weights: ScoreWeights | dict[str, float] | None = None,
        dedup_threshold: float | None = DEFAULT_DEDUP_THRESHOLD,
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
        self.dedup_threshold = dedup_threshold
        self.half_life_days = half_life_days
        self._clock = clock
        self._fallback = fallback
        self._closed = False
        self._mutex = asyncio.Lock()  # one read-modify-write at a time in this process
        # A store that reads bodies back (SQLite) spares the table keeping them.
        self._table = SlotTable(
            make_dense_index(vector_backend), getattr(store, "read_bodies", None)
        )
        if hasattr(store, "rowids_of"):  # a store that finds rows by number asks the table
            store.rowids_of = self._table.rowids_of
        #: Bodies are written in ``Pattern.stored_dict``'s form when nothing keeps them in
        #: memory (they are read back and parsed, never spliced into a reply as they are).
        self._stored_form = self._table.bodies is None
        #: The table's version that the store's index snapshot describes (None: none does).
        self._snapshot_version: int | None = None
        self._ranker = Ranker(self._table, ScoreWeights.from_any(weights))

    @property
    def weights(self) -> ScoreWeights:
        """The composite score's weights (read-only; pass ``weights=`` to ``open``)."""
        return self._ranker.weights

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
        commands use it). Of missing folders, only the default location's is created.
        """
        loc = os.fspath(location) if location is not None else default_location()
        store, fallback = await open_store(loc, backend, durability, create)
        try:
            bank = cls(store, fallback=fallback, **options)
            with _collector_paused():
                await bank._load(progress)
        except BaseException:
            await store.close()
            raise
        return bank

    async def _load(self, progress: Callable[[int, int], None] | None) -> None:
        stale = (await self._store.get_meta("analyzer")) not in (None, ANALYZER_VERSION)
        load_columns = getattr(self._store, "load_columns", None)
        snap = None
        if load_columns is not None and not stale:
            lazy = self._table.read_bodies is not None
            columns = await (load_columns(bodies=False) if lazy else load_columns())
            snap = await self._store.load_snapshot()  # type: ignore[attr-defined]
        else:
            records = list(await self._store.load())
            if stale:
                for record in records:
                    record.terms = analyze(as_dict(record.body).get("task_description", ""))
            columns = [_columns(records)]
        covered = self._table.load(columns, snap)
        # A snapshot that covered every row needs no new one until something changes,
        # unless it lacks the rows an open without vectors could take from it instead.
        rows_wanted = not getattr(self._store, "snapshot_has_rows", True) and not len(
            self._table.dense
        )
        self._snapshot_version = self._table.version if covered and not rows_wanted else None
        if getattr(self._store, "read_only", False):
            return
        if stale and records:
            # The analyzer changed: store the new terms once so later opens are fast again.
            total = len(records)
            for start in range(0, total, 1000):
                await self._store.put(records[start : start + 1000])
                if progress:
                    progress(min(start + 1000, total), total)
            self._table.renumber(records)  # their rows are new (SQLite numbers them)
        if stale or await self._store.get_meta("analyzer") is None:
            await self._store.set_meta("analyzer", ANALYZER_VERSION)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                await self._save_snapshot()
            except ReasoningBankError:
                pass  # the snapshot only saves time on the next open: never fail a close for it
            finally:
                await self._store.close()

    async def _save_snapshot(self) -> None:
        """Leave an index snapshot for the next open when this one changed anything."""
        save = getattr(self._store, "save_snapshot", None)
        if save is None or getattr(self._store, "read_only", False):
            return
        await self._sync_now()
        table = self._table
        if table.version != self._snapshot_version:
            # In the store's row order: an open uses the snapshot only in that order.
            order = None if table.in_row_order else await self._store.row_ids()  # type: ignore[attr-defined]
            await save(*table.snapshot_columns(order))

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
        await self._sync_now()

    async def _sync_now(self) -> None:
        changes = await self._store.changes()
        if changes is None:
            return
        for pid in changes.deleted:
            self._table.unindex(pid)
        for record in changes.upserted:
            self._table.index(record)
        if changes.upserted:  # their rows' order among ours is the store's to tell
            self._table.in_row_order = False

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
                    await self._store.put([r for r, _, _ in batch.staged], delete=batch.delete)
            self._index_staged(batch.staged)
            for pid in batch.delete:
                self._table.unindex(pid)

    def _index_staged(self, staged: list[_Staged]) -> None:
        """Index what a write committed: new patterns together (``SlotTable.add_fresh``),
        updated ones one by one."""
        slot, bulk = self._table.slot, len(staged) > 1
        fresh = []
        for item in staged:
            if bulk and item[0].id not in slot:
                fresh.append(item)
            else:
                self._table.index_known(*item)
        if fresh:
            records = [record for record, _, _ in fresh]
            numbers = [list(c) for c in zip(*(known for _, known, _ in fresh), strict=True)]
            self._table.add_fresh(
                _columns(records),
                (numbers[0], numbers[1], numbers[2], numbers[3], numbers[4]),
                {i: context for i, (_, _, context) in enumerate(fresh) if context},
            )

    def _stamp(self, stamped: float) -> tuple[str, float, float]:
        """New patterns' times stamped ``stamped``: as their body's text (none in the stored
        form), created and updated."""
        if self._stored_form:
            return "", stamped, stamped
        t = encode_basestring(format_time(stamped))
        return _TIMES % (t, t), stamped, stamped

    def _record(self, pattern: Pattern, terms: Sequence[str] | None = None) -> _Staged:
        """The store's view of ``pattern`` (its body as compact JSON text, encoded once here)
        and what indexing reads from the body, so nothing parses it back."""
        meta = pattern.metadata
        record = Record(
            pattern.id,
            pattern.task_category,
            pattern.strategy,
            meta.created_at,
            meta.updated_at,
            pattern.body_json(stored=self._stored_form),
            terms_of(pattern.task_description) if terms is None else terms,
            pattern.embedding,
        )
        # A copy: a caller's Pattern object must not reach into the index.
        return record, _known(meta), dict(pattern.context) if pattern.context else None

    # -- writing -----------------------------------------------------------------------
    async def _embed(self, text: str) -> list[float] | None:
        if self._embedder is None:
            return None
        vector = self._embedder(text)
        if inspect.isawaitable(vector):
            vector = await vector
        return [float(x) for x in vector]

    def _near_duplicate(
        self, cat: str, strategy: str, embedding: list[float] | None, terms: Sequence[str]
    ) -> str | None:
        if self.dedup_threshold is None or not terms:
            return None
        table, threshold = self._table, self.dedup_threshold
        strategies, dense = table.strategy, table.dense
        best: tuple[float, int] | None = None  # the most similar, then the oldest slot
        texts = table.lex.near_duplicate_texts(terms, threshold, cat)
        for slots, sim in sorted(texts, key=itemgetter(1), reverse=True):
            if best is not None and sim < best[0]:
                break  # the rest are less similar still
            if embedding is None:  # the first of its slots (ascending) with the strategy
                same = map(strategy.__eq__, map(strategies.__getitem__, slots))
                slot = next(compress(slots, same), -1)
            else:  # the oldest whose vector (if it has one) is near enough too
                slot = next(
                    (
                        s
                        for s in slots
                        if strategies[s] == strategy
                        and not (
                            dense.has(s) and cosine(embedding, dense.vector(s) or []) < threshold
                        )
                    ),
                    -1,
                )
            if slot < 0:
                continue
            if best is None or (sim, -slot) > (best[0], -best[1]):
                best = (sim, slot)
        return table.ids[best[1]] if best else None

    async def store_pattern(self, pattern: dict[str, Any] | Pattern) -> str:
        """Validate and store one pattern; returns its id.

        A pattern without an explicit ``id`` that nearly duplicates an existing one (same
        category and strategy, text cosine ≥ ``dedup_threshold``) is merged into it, and the
        existing id is returned: its outcome counts as one more observation.
        """
        self._check_open()
        stamped = self._clock()
        # The common case, a new pattern of the common shape (see ``_store_all``), takes a
        # path with no batch around it: a third of a single store was that bookkeeping.
        made = None
        if type(pattern) is dict and self._embedder is None and stamped > 0:
            made = [_new_id()]
            draft = common_draft(pattern, made[0])
            if draft is not None:
                return await self._store_draft(draft, stamped)
        return (await self._store_all([pattern], stamped, made))[0]

    async def _store_draft(self, draft: Draft, stamped: float) -> str:
        """``_store_all([draft])``, step for step, without its lists and layers."""
        terms = terms_of(draft[1])
        async with self._mutex:
            async with self._store.write_lock():
                await self._sync()  # also refuses a bank closed while this waited
                now = self._clock()
                target_id = None
                if self.dedup_threshold is not None and self._table.records:
                    target_id = self._near_duplicate(draft[2], draft[3], None, terms)
                if target_id is None:
                    staged = _draft_record(draft, terms, self._stamp(stamped))
                else:
                    target = self._held(target_id)
                    learning.merge_into(target, Pattern.from_draft(draft, stamped), now)
                    staged = self._record(target)
                await self._store.put([staged[0]])
            self._table.index_known(*staged)
        return draft[0] if target_id is None else target_id

    async def store_patterns(self, patterns: Iterable[dict[str, Any] | Pattern]) -> list[str]:
        """Validate all, then store all in one transaction; returns ids in input order.

        The near-duplicate check (``dedup_threshold``) merges a pattern into one the bank
        held before the call, not into another of the same batch: a batch keeps its items
        apart (``consolidate`` folds such duplicates later)."""
        self._check_open()
        items = list(patterns)
        if len(items) > 1:
            with _collector_paused():
                return await self._store_all(items)
        return await self._store_all(items)

    async def _store_all(
        self,
        items: list[dict[str, Any] | Pattern],
        stamped: float | None = None,
        made: list[str] | None = None,
    ) -> list[str]:
        """``stamped``: the validation time when the caller read the clock already;
        ``made``: the ids made for ``items`` already (see ``_all_fresh``)."""
        if stamped is None:
            stamped = self._clock()
        # Drafts (new patterns of the common shape) skip the general validation; an embedder
        # must see each one as a Pattern; at time 0 ``learning.initialise`` stamps "now".
        if made is None:
            made = _new_ids(len(items))
        entries, given = validate_all(
            items, now=stamped, ids=made, drafts=self._embedder is None and stamped > 0
        )
        terms: list[tuple[str, ...]] = []  # embedding and terms first: they need no lock
        general: list[int] = []  # where the entries are Patterns, not drafts
        # A task repeated in a batch is analysed once; one the process met lately, not at all.
        analyzed: dict[str, tuple[str, ...]] = {}
        for i, entry in enumerate(entries):
            if isinstance(entry, tuple):
                text = entry[1]
            else:
                general.append(i)
                if entry.embedding is None and self._embedder is not None:
                    entry.embedding = await self._embed(entry.task_description)
                if entry.embedding is not None:
                    self._table.dense.check(entry.embedding)
                text = entry.task_description
            found = analyzed.get(text)
            if found is None:
                found = analyzed[text] = terms_of(text)
            terms.append(found)
        del analyzed
        self._check_open()
        async with self._mutex:
            async with self._store.write_lock():
                await self._sync()
                now = self._clock()
                # A draft's times: stamped at validation (a clock at 0 turns drafts off).
                stamp = self._stamp(stamped)
                fresh = self._all_fresh(entries, made, given)
                if fresh is not None:
                    parts = []
                    for start in range(0, len(entries), _WRITE_STEP):
                        stop = start + _WRITE_STEP
                        step = (entries[start:stop], terms[start:stop], fresh[start:stop])
                        if bisect_left(general, stop) > bisect_left(general, start):
                            cols, known, contexts = self._fresh_columns(*step, stamp, now)
                        else:  # drafts only
                            cols, known, contexts = _draft_columns(*step, stamp)  # type: ignore[arg-type]
                        await self._put_columns(cols)
                        parts.append((cols, known, contexts))
                    del entries
                else:
                    written, ids = self._stage(entries, terms, given, stamp, stamped, now)
                    await self._store.put([r for r, _, _ in written])
            if fresh is not None:
                memo: dict[tuple[Hashable, tuple[str, ...]], int] = {}  # texts weighed so far
                for cols, known, contexts in parts:
                    self._table.add_fresh(cols, known, contexts, memo)
                if len(fresh) >= _RANK_AFTER:  # as an open does (``SlotTable.load``)
                    self._table.rank_texts()
                return fresh
            self._index_staged(written)
        return ids

    async def _put_columns(self, cols: Columns) -> None:
        """Write new patterns given as columns; drop their bodies once written when the
        table reads them back from the store (a bulk store then holds one step's bodies at
        a time, not the whole batch's: ~600 bytes a pattern)."""
        put_columns = getattr(self._store, "put_columns", None)
        if put_columns is not None:
            await put_columns(cols)
        else:
            await self._store.put(_records(cols))
        if self._table.read_bodies is not None:
            cols.body = []  # ``add_fresh`` takes no body from a table that reads them back

    def _all_fresh(
        self, entries: list[Pattern | Draft], made: list[str], given: set[int]
    ) -> list[str] | None:
        """The ids of a batch of more than one pattern that are all new to the bank, with
        nothing to merge into (dedup off or an empty bank); None otherwise. Why: such a
        batch is written and indexed as columns, with no object per pattern. ``made``: the
        ids made for the batch, each entry's unless ``given`` holds its position."""
        if len(entries) < 2 or (self.dedup_threshold is not None and self._table.records):
            return None
        if not given:
            return made
        chosen = [entries[i].id for i in given]  # type: ignore[union-attr]  # Patterns
        if len(set(chosen)) < len(chosen) or not self._table.slot.keys().isdisjoint(chosen):
            return None  # an id repeated in the batch or already stored: updates, one by one
        ids = list(made)
        for i, pid in zip(given, chosen, strict=True):
            ids[i] = pid
        return ids

    def _fresh_columns(
        self,
        entries: list[Pattern | Draft],
        terms: list[tuple[str, ...]],
        ids: list[str],
        stamp: tuple[str, float, float],
        now: float,
    ) -> tuple[Columns, KnownColumns, dict[int, Any]]:
        """New patterns (``_all_fresh``), some of them Patterns, as the columns the store
        writes and the table indexes, with their numbers as columns and their contexts by
        position (``_draft_columns`` when all are drafts)."""
        cats: list[str] = []
        strategies: list[str] = []
        created: list[float] = []
        updated: list[float] = []
        bodies: list[str | None] = []
        known: list[_Known] = []
        contexts: dict[int, Any] = {}
        vectors: dict[int, Sequence[float]] = {}
        for i, (pattern, words) in enumerate(zip(entries, terms, strict=True)):
            if isinstance(pattern, tuple):
                _, _, cat, strategy, _, _ = pattern
                body, numbers = _draft_body(pattern, stamp[0])
                cats.append(cat)
                strategies.append(strategy)
                created.append(stamp[1])
                updated.append(stamp[2])
            else:
                learning.initialise(pattern.metadata, pattern.outcome, now)
                record, numbers, context = self._record(pattern, words)
                assert isinstance(record.body, str)
                body = record.body
                cats.append(record.task_category)
                strategies.append(record.strategy)
                created.append(record.created_at)
                updated.append(record.updated_at)
                if context:
                    contexts[i] = context
                if record.embedding is not None:
                    vectors[i] = record.embedding
            bodies.append(body)
            known.append(numbers)
        cols = Columns(ids, cats, strategies, created, updated, bodies, terms, vectors)
        return cols, tuple(zip(*known, strict=True)), contexts

    def _stage(
        self,
        entries: list[Pattern | Draft],
        terms: list[tuple[str, ...]],
        given: set[int],
        stamp: tuple[str, float, float],
        stamped: float,
        now: float,
    ) -> tuple[list[_Staged], list[str]]:
        """What a batch writes pattern by pattern (merges, updates of stored ids), and the
        ids it returns in input order; ``given``: the positions of the entries whose id the
        caller gave (never merged into another pattern)."""
        # Nothing to merge into when dedup is off or the bank is empty.
        check = self.dedup_threshold is not None and bool(self._table.records)
        writes: dict[str, Pattern | Draft] = {}
        terms_of: dict[str, Sequence[str]] = {}
        ids = []
        for i, (pattern, words) in enumerate(zip(entries, terms, strict=True)):
            target_id = None
            if check and i not in given:
                target_id = self._near_duplicate(
                    *((pattern[2], pattern[3], None) if isinstance(pattern, tuple) else
                      (pattern.task_category, pattern.strategy, pattern.embedding)),
                    words,
                )  # fmt: skip
            if target_id is not None:
                if isinstance(pattern, tuple):
                    pattern = Pattern.from_draft(pattern, stamped)
                target = writes.get(target_id)
                if not isinstance(target, Pattern):  # a draft is new: never a target
                    target = self._held(target_id)
                learning.merge_into(target, pattern, now)
                writes[target_id] = target
                ids.append(target_id)
                continue
            if isinstance(pattern, tuple):
                pid = pattern[0]
            else:
                learning.initialise(pattern.metadata, pattern.outcome, now)
                pid = pattern.id
            writes[pid] = pattern
            terms_of[pid] = words
            ids.append(pid)
        del entries[:]  # what is written is in ``writes`` (new patterns and merge targets)
        out = []
        for pid in list(writes):  # each Pattern freed once encoded: one copy at a time
            item = writes.pop(pid)
            if isinstance(item, tuple):
                out.append(_draft_record(item, terms_of.pop(pid), stamp))
            else:
                out.append(self._record(item, terms_of.pop(pid, None)))
        return out, ids

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
            pattern = self._held(pattern_id)
            learning.observe(pattern.metadata, outcome.success_score, self._clock())
            pattern.outcome = outcome
            batch.staged = [self._record(pattern, self._table.records[pattern_id].terms)]
        return pattern

    def _held(self, pattern_id: str) -> Pattern:
        """The pattern ``pattern_id`` as of now, read while holding the write lock (after
        catching up, so the store and the table agree); ``NotFound`` if there is none."""
        pattern = self._table.pattern(pattern_id) if pattern_id in self._table.records else None
        if pattern is None:
            raise NotFound(pattern_id)
        return pattern

    async def delete_pattern(self, pattern_id: str) -> None:
        async with self._writing() as batch:
            if pattern_id not in self._table.records:
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
            batch.staged = [
                self._record(p, self._table.records[p.id].terms) for p in updates.values()
            ]
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
        threshold = self.dedup_threshold or DEFAULT_DEDUP_THRESHOLD
        for slot, pid in enumerate(self._table.ids):
            if pid is None or pid in gone:
                continue
            cat, strategy = self._table.category[slot], self._table.strategy[slot]
            dups = self._table.lex.near_duplicates(
                self._table.records[pid].terms,
                threshold,
                partial(self._later_duplicate, slot, strategy, gone),
                cat,
            )
            if not dups:
                continue
            dup_ids = [self._table.ids[dup_slot] for dup_slot, _ in sorted(dups)]
            target, *copies = self._table.patterns([pid, *dup_ids])  # type: ignore[list-item]
            target = updates.get(pid) or target
            if target is None:  # deleted by another process just now (a dry run holds no lock)
                continue
            absorbed = []
            for dup_id, copy_ in zip(dup_ids, copies, strict=True):
                if copy_ is None:
                    continue
                assert dup_id is not None
                learning.absorb(target, copy_)
                gone.add(dup_id)
                absorbed.append(dup_id)
            updates[pid] = target
            merged.append({"into": pid, "ids": absorbed})
        pruned = []
        if self.half_life_days is not None:
            live = [pid for pid in self._table.ids if pid is not None and pid not in gone]
            for start in range(0, len(live), _READ_STEP):
                part = live[start : start + _READ_STEP]
                stored = self._table.patterns([pid for pid in part if pid not in updates])
                read = iter(stored)
                for pid in part:
                    pattern = updates[pid] if pid in updates else next(read)
                    if pattern is None:
                        continue
                    weight = learning.evidence_weight(pattern.metadata, now, self.half_life_days)
                    if weight < min_evidence:
                        pruned.append(pid)
                        gone.add(pid)
                        updates.pop(pid, None)
        report = {
            "dry_run": dry_run,
            "before": len(self._table.records),
            "after": len(self._table.records) - len(gone),
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
        return self._table.pattern(pattern_id) if pattern_id in self._table.records else None

    async def all_patterns(self) -> list[Pattern]:
        """Every pattern, oldest first."""
        await self._sync()
        found = self._table.patterns([pid for pid in self._table.ids if pid is not None])
        return [p for p in found if p is not None]

    async def search_by_category(self, category: str, limit: int = 10) -> list[Pattern]:
        """Newest first."""
        await self._sync()
        check_limit(limit, "limit")
        table = self._table
        rows = [
            (table.created[slot], slot, pid)
            for slot, (pid, cat) in enumerate(zip(table.ids, table.category, strict=True))
            if cat == category and pid is not None
        ]
        found = self._table.patterns([pid for _, _, pid in heapq.nlargest(limit, rows)])
        return [p for p in found if p is not None]

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
        diversity: float = 0.0,
    ) -> list[Match]:
        """Patterns most similar to ``task_description``, best composite score first.

        With ``task_category`` and ``strict_category`` (default) only that category is
        searched; with ``strict_category=False`` it is a boost. A pattern is a candidate
        when it shares a term with the query or (with dense vectors) has any similarity.
        ``diversity`` in (0, 1] re-picks the results by maximal marginal relevance, so
        near-copies give way to different patterns; 0 (default) is the plain ranking.
        """
        if diversity != 0.0:
            from .loop.engine import check_diversity

            check_diversity(diversity)
            check_limit(top_k, "top_k")
        pool = top_k if not diversity else min(10_000, top_k * DIVERSITY_POOL)
        hits = await self._search(
            task_description, task_category, pool, min_score,
            context=context, embedding=embedding, strict_category=strict_category,
        )  # fmt: skip
        matches = self._ranker.matches(hits)
        return diversify(matches, top_k, diversity) if diversity else matches

    async def _search(
        self,
        task_description: str,
        task_category: str | None,
        top_k: int,
        min_score: float = 0.0,
        *,
        context: dict[str, Any] | None = None,
        embedding: Sequence[float] | None = None,
        strict_category: bool = True,
    ) -> Hits:
        """``find_similar`` up to reading the patterns back (the JS API packs the stored
        bodies instead)."""
        await self._sync()
        if not isinstance(task_description, str):
            raise InvalidPattern("task_description must be a string")
        check_limit(top_k, "top_k")
        if embedding is not None:  # refused even when no stored pattern has a vector
            check_vector(embedding, None)
        if not isinstance(min_score, (int, float)) or not math.isfinite(min_score):
            raise InvalidPattern(f"min_score must be a finite number, got {min_score!r}")
        query_vector = embedding if embedding is not None else await self._embed(task_description)
        return self._ranker.find(
            analyze(task_description),
            query_vector,
            task_category,
            context,
            strict_category,
            top_k,
            min_score,
        )

    def _later_duplicate(self, slot: int, strategy: str | None, gone: set[str], other: int) -> bool:
        """Consolidation's filter: a later pattern with the same strategy, not merged yet."""
        return (
            other > slot
            and self._table.strategy[other] == strategy
            and self._table.ids[other] not in gone
        )

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

    # -- the closed loop (reasoningbank.loop) ------------------------------------------
    async def learn(
        self,
        task: str,
        trajectory: Any,
        *,
        category: str | None = None,
        outcome: Any = None,
        llm: Any = None,
        model: str | None = None,
        prompts: Any = None,
    ) -> Any:
        """Learn from what an agent did: judge → distill (≤3 items) → scrub → dedup → store.

        ``trajectory``: text, a list of ``{thought, action, observation}`` steps, or a
        ``Trajectory``. ``outcome`` (True/False/score/"success"/"failure") skips the judge;
        else ``llm`` (any callable ``prompt -> str``, sync or async) judges and distills;
        with neither, a heuristic judge and a template distiller do. ``model`` names the
        model for the items' provenance; ``prompts`` overrides prompt templates (a dict or
        folder). Returns a ``LearnReport``. An LLM failure stores nothing.
        """
        from .loop.engine import learn

        self._check_open()
        return await learn(
            self, task, trajectory, category=category, outcome=outcome, llm=llm,
            model=model, prompts=prompts,
        )  # fmt: skip

    async def retrieve(
        self, task: str, category: str | None = None, k: int = 5, diversity: float = 0.0
    ) -> list[Any]:
        """Memory items of the most similar past tasks (``MemoryItem``), MMR-diversified
        by ``diversity`` in [0, 1] (0: by relevance only)."""
        from .loop.engine import retrieve

        return await retrieve(self, task, category, k, diversity)

    async def memory_prompt(
        self,
        task: str,
        k: int = 5,
        *,
        category: str | None = None,
        diversity: float = 0.0,
    ) -> str:
        """A block for a system prompt with the ``k`` best memories for ``task``, quoted as
        data (delimited, escaped, with provenance); empty when nothing is remembered."""
        from .loop.engine import memory_prompt

        return await memory_prompt(self, task, k, category=category, diversity=diversity)

    async def matts_parallel(
        self,
        task: str,
        run: Any,
        k: int = 3,
        llm: Any = None,
        *,
        category: str | None = None,
        prompts: Any = None,
    ) -> Any:
        """Test-time scaling, parallel: ``k`` attempts of ``run(task, memory_prompt)``,
        each judged, then a self-contrast distill (≤5 items). Returns a ``MattsReport``."""
        from .loop.matts import matts_parallel

        self._check_open()
        return await matts_parallel(self, task, run, k, llm, category=category, prompts=prompts)

    async def matts_sequential(
        self,
        task: str,
        run: Any,
        steps: int = 3,
        llm: Any = None,
        *,
        category: str | None = None,
        prompts: Any = None,
    ) -> Any:
        """Test-time scaling, sequential: each of ``steps`` attempts sees the verdict on
        the previous one and refines it. Returns a ``MattsReport``."""
        from .loop.matts import matts_sequential

        self._check_open()
        return await matts_sequential(
            self, task, run, steps, llm, category=category, prompts=prompts
        )

    async def get_stats(self) -> dict[str, Any]:
        await self._sync()
        return {
            **copy.deepcopy(self._table.stats()),
            "storage": {
                "backend": self._store.kind,
                "location": self._store.location,
                "fallback": self._fallback,
            },
            "runtime": runtime.detect(),
        }


#: ``index_known``'s numbers: confidence, successes, failures, average, contradictions.
_Known = tuple[float, float, float, float, int]

#: Patterns read from the store per step when a whole bank is walked (bodies not in memory).
_READ_STEP = 4096

#: New patterns of a bulk store encoded and written per step (one transaction for all).
_WRITE_STEP = 8192
#: A bulk store of this many new patterns ranks the texts not ranked yet at once (with
#: numpy), as an open does, rather than leaving each to the first search that meets it.
_RANK_AFTER = 10_000

#: A record to write, with what ``SlotTable.index_known`` reads from its body (the numbers
#: and the context).
_Staged = tuple[Record, _Known, dict[str, Any] | None]


@dataclass(slots=True)
class _Batch:
    """What one ``_writing`` block writes: records (with their indexed values) and deletions."""

    staged: list[_Staged] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)


_DRAFT = '{"id":%s,"task_description":%s,"task_category":%s,"strategy":%s%s%s%s'
#: A draft's body in the stored form (``Pattern.stored_dict``): its text and its outcome's.
_STORED_DRAFT = '{"task_description":%s%s'
#: A draft's times in its body.
_TIMES = '"created_at":%s,"updated_at":%s'


def _known(meta: Metadata) -> _Known:
    return (
        float(meta.confidence),
        float(meta.success_count),
        float(meta.failure_count),
        float(meta.avg_success_score),
        int(meta.contradictions),
    )


#: Distinct numbers standing for a draft's own in ``_draft_layout`` (each found once there).
_MARKS = {
    "score": 0.1234567890123,
    "avg_success_score": 0.2345678901234,
    "success_count": 0.3456789012345,
    "failure_count": 0.4567890123456,
    "confidence": 0.5678901234567,
}


@lru_cache(maxsize=8)
def _draft_layout(success: bool, stored: bool) -> tuple[str, str]:
    """A draft's body after its four texts, around its times (none in the stored form),
    with ``%(name)s`` where its outcome's numbers go (as ``repr`` writes them). Made once
    per success and form from a real Pattern holding marks for the numbers, so byte for
    byte what the general path writes."""
    pattern = Pattern.from_draft(("", "", "", "", success, _MARKS["score"]), 1.0)
    marks = _MARKS
    if stored:  # the numbers its outcome decides, which the stored form leaves out
        learning.initialise(pattern.metadata, pattern.outcome, 1.0)
        marks = {"score": _MARKS["score"]}
    for name, mark in marks.items():
        if name != "score":
            setattr(pattern.metadata, name, mark)
    head = _STORED_DRAFT % ('""', "") if stored else _DRAFT % ('""', '""', '""', '""', "", "", "")
    body = pattern.body_json(stored=stored)[len(head) :]
    if "%" in body or any(body.count(repr(mark)) != 1 for mark in marks.values()):
        raise AssertionError(f"a draft's layout cannot be marked: {body}")
    for name, mark in marks.items():
        body = body.replace(repr(mark), f"%({name})s")
    t = encode_basestring(format_time(1.0))
    before, _, after = (body, "", "") if stored else body.partition(_TIMES % (t, t))
    return before, after


@lru_cache(maxsize=4096)
def _draft_parts(success: bool, score: float, stored: bool) -> tuple[str, str, _Known]:
    """A draft's body around its times (the stored form has none: all before them), after
    its four texts, and its numbers: they depend only on its outcome, folded in as
    ``learning.initialise`` does. Outcomes often repeat (true/false, a few scores); when
    they do not (any float), this is still a few formatting steps, not a Pattern's."""
    before, after = _draft_layout(success, stored)
    wins, losses, average, confidence = seeded_counts(score)
    text = repr(score)  # a float's repr costs more than the rest: the same one is reused
    if stored:  # only the score: the stored form leaves the rest out (``Pattern.stored_dict``)
        return before % {"score": text}, "", (confidence, wins, losses, average, 0)
    numbers = {
        "score": text,
        "avg_success_score": text if average == score else repr(average),
        "success_count": text if wins == score else repr(wins),
        "failure_count": repr(losses),
        "confidence": repr(confidence),
    }
    return before % numbers, after % numbers, (confidence, wins, losses, average, 0)


def _draft_record(draft: Draft, terms: Sequence[str], stamp: tuple[str, float, float]) -> _Staged:
    """``_record`` of the new pattern ``draft`` without building it: its body is its four
    texts, then what its outcome alone decides (``_draft_parts``) around the batch's times
    (``stamp``: see ``ReasoningBank._stamp``; no times text: the stored form)."""
    body, known = _draft_body(draft, stamp[0])
    return Record(draft[0], draft[2], draft[3], stamp[1], stamp[2], body, terms), known, None


def _draft_columns(
    drafts: list[Draft],
    terms: list[tuple[str, ...]],
    ids: list[str],
    stamp: tuple[str, float, float],
) -> tuple[Columns, KnownColumns, dict[int, Any]]:
    """``ReasoningBank._fresh_columns`` of drafts only, a column at a time: the bodies of
    ``_draft_body`` in either form, without a call or seven appends per pattern."""
    times, created, updated = stamp
    layouts = [_draft_parts(d[4], d[5], not times) for d in drafts]
    s = encode_basestring
    bodies: list[str | None]
    if times:
        bodies = [
            _DRAFT % (s(d[0]), s(d[1]), s(d[2]), s(d[3]), p[0], times, p[1])
            for d, p in zip(drafts, layouts, strict=True)
        ]
    else:
        bodies = [_STORED_DRAFT % (s(d[1]), p[0]) for d, p in zip(drafts, layouts, strict=True)]
    n = len(drafts)
    cols = Columns(
        ids, [d[2] for d in drafts], [d[3] for d in drafts], [created] * n, [updated] * n,
        bodies, terms, {},
    )  # fmt: skip
    return cols, tuple(zip(*[p[2] for p in layouts], strict=True)), {}


def _draft_body(draft: Draft, times: str) -> tuple[str, _Known]:
    """A new pattern's body and numbers from its draft and the batch's times text (none:
    the stored form, which holds neither the times nor the id, category and strategy)."""
    pid, desc, cat, strategy, success, score = draft
    before, after, known = _draft_parts(success, score, not times)
    s = encode_basestring
    if times:
        return _DRAFT % (s(pid), s(desc), s(cat), s(strategy), before, times, after), known
    return _STORED_DRAFT % (s(desc), before), known


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a bank opens or stores a batch.

    Why: both allocate objects for every pattern and free almost none, so the collector
    kept re-scanning the growing heap: a third of a 100,000-pattern bulk store. Nothing
    made there is cyclic garbage. The pause that found it running resumes it.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _columns(records: list[Record]) -> Columns:
    """Records as the columns ``SlotTable.load`` indexes (stores that hand out records)."""
    return Columns(
        [r.id for r in records],
        [r.task_category for r in records],
        [r.strategy for r in records],
        [r.created_at for r in records],
        [r.updated_at for r in records],
        [r.body if isinstance(r.body, str) else compact(r.body) for r in records],
        [r.terms if type(r.terms) is tuple else tuple(r.terms) for r in records],
        {i: r.embedding for i, r in enumerate(records) if r.embedding is not None},
        [r.rowid for r in records],
    )


def _records(cols: Columns) -> list[Record]:
    """``_columns`` reversed: for stores that write records (memory, IndexedDB)."""
    vectors = cols.embedding
    return [
        Record(pid, cat, strategy, created, updated, body, terms, vectors.get(i))
        for i, (pid, cat, strategy, created, updated, body, terms) in enumerate(
            zip(
                cols.ids, cols.task_category, cols.strategy, cols.created_at, cols.updated_at,
                cols.body, cols.terms, strict=True,
            )
        )
    ]  # fmt: skip


def _cpython_only(method: str) -> None:
    if runtime.is_pyodide():
        raise ReasoningBankError(
            f"bank.{method}() needs CPython (aioquic); in a browser link the bank with "
            "transport_webtransport.BusSync (web/sync.js does it for the PWA)"
        )


def _new_id() -> str:
    """One time-ordered (version 7, RFC 9562) UUID string: the Unix time in milliseconds and
    74 random bits (``_new_ids(1)`` in one expression: a single store makes one)."""
    h = "%032x" % (
        (time.time_ns() // 1_000_000) << 80
        | int.from_bytes(os.urandom(10), "big") & _RANDOM_BITS
        | _VERSION_AND_VARIANT
    )
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


#: Where a version 7 UUID's 74 random bits go (``_new_id``: 80 drawn, 6 masked out) and its
#: version (7) and variant (0b10) bits.
_RANDOM_BITS = 0xFFF << 64 | (1 << 62) - 1
_VERSION_AND_VARIANT = 0x7 << 76 | 0b10 << 62


def _new_ids(n: int) -> list[str]:
    """``n`` time-ordered (version 7, RFC 9562) UUID strings, ascending: the Unix time in
    milliseconds, 26 random bits per call, then a counter from a random 48-bit start (RFC
    9562's "monotonic random": 74 random bits in all, one ``os.urandom`` and no sort).
    Why ordered: ids sort by the millisecond they were made in, and a batch's in the order
    of its patterns; one draw and a counter is also the cheapest way to make many."""
    ms = f"{time.time_ns() // 1_000_000:012x}"
    r = int.from_bytes(os.urandom(10), "big")
    start = (r & 0xFFFF_FFFF_FFFF) % (0x1_0000_0000_0000 - n)  # room for n ids
    variant = "89ab"[(r >> 48) & 3]
    form = f"{ms[:8]}-{ms[8:]}-7{(r >> 50) & 0xFFF:03x}-{variant}{(r >> 62) & 0xFFF:03x}-%012x"
    return [form % c for c in range(start, start + n)]
