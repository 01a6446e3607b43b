"""The bank's in-memory view: one slot per pattern, kept as columns.

Why columns: rankers read one field of many patterns at a time (category, strategy,
quality), so parallel lists indexed by slot are compact and fast, and numpy can view them
at once. A slot is never reused: a deleted pattern leaves ``None`` in its columns, so slot
numbers order patterns oldest first and stay valid in every index.
"""

from __future__ import annotations

import json
from array import array
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, TypeAlias

from .errors import InvalidPattern
from .index import LexicalIndex, extend_packed
from .model import Pattern, seeded_counts
from .storage.base import Columns, Record
from .storage.snapshot import Rows, Snapshot
from .text import ANALYZER_VERSION

__all__ = ["KnownColumns", "SlotTable", "as_dict", "compact"]


compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False).encode


def as_dict(body: dict[str, Any] | str) -> dict[str, Any]:
    """Stores hand back the pattern body as a dict (or, compactly, as its JSON text)."""
    return json.loads(body) if isinstance(body, str) else body


#: A store's ``read_bodies``: stored bodies by id and row number (see
#: ``SqliteStore.read_bodies``).
BodyReader: TypeAlias = "Callable[[Sequence[str], Sequence[int]], dict[str, str | Record]]"

#: ``index_known``'s numbers as columns: confidence, successes, failures, average,
#: contradictions.
KnownColumns: TypeAlias = "tuple[Sequence[float], ...]"


def _known(body: dict[str, Any]) -> tuple[float, float, float, float, int]:
    """The numbers ``index_known`` takes, read from a parsed body (one without metadata:
    the new pattern's its outcome decides, see ``model.is_seeded``)."""
    meta = body.get("metadata")
    if meta is None:
        try:
            successes, failures, average, confidence = seeded_counts(
                float(body["outcome"]["success_score"])
            )
        except (KeyError, TypeError, ValueError):
            meta = {}
        else:
            return confidence, successes, failures, average, 0
    return (
        float(meta.get("confidence", 0.5)),
        float(meta.get("success_count", 0.0)),
        float(meta.get("failure_count", 0.0)),
        float(meta.get("avg_success_score", 0.0)),
        int(meta.get("contradictions", 0)),
    )


class _Entry(NamedTuple):
    """What the table holds of one pattern, read from its columns (``SlotTable.records``);
    the body, its JSON text, is None when the store reads it back on demand."""

    body: str | None
    terms: tuple[str, ...]
    task_category: str
    created_at: float
    updated_at: float


class _Records(Mapping[str, _Entry]):
    """id -> ``_Entry``, a view of the table's columns. Why a view: one dict from id to
    slot is all the table keeps per pattern besides its columns; an object per pattern was
    ~100 bytes more, and the cyclic garbage collector walked every one of them (at 1M
    patterns a full collection took tens of milliseconds in the middle of a search)."""

    __slots__ = ("_table",)

    def __init__(self, table: SlotTable) -> None:
        self._table = table

    def __getitem__(self, pid: str) -> _Entry:
        t = self._table
        s = t.slot[pid]
        body = None if t.bodies is None else t.bodies[s]
        terms = t.terms[s]
        assert terms is not None  # a live slot's
        return _Entry(body, terms, t.category[s] or "", t.created[s], t.updated[s])

    def __contains__(self, pid: object) -> bool:
        return pid in self._table.slot

    def __iter__(self) -> Iterator[str]:
        return iter(self._table.slot)

    def __len__(self) -> int:
        return len(self._table.slot)


class SlotTable:
    """Every pattern's slot, its columns, and the lexical and dense indexes over them."""

    def __init__(self, dense: Any, read_bodies: BodyReader | None = None) -> None:
        self.lex = LexicalIndex()
        self.dense = dense
        #: Reads bodies back from the store (SQLite): then no body stays in memory, only
        #: the columns searches and statistics read (bodies were ~60 % of a bank's memory).
        #: Without it (memory, IndexedDB) each body's JSON text is kept, parsed only when a
        #: pattern is returned.
        self.read_bodies = read_bodies
        self.records = _Records(self)
        self.contexts: dict[int, dict[str, Any]] = {}  # slot -> non-empty context
        self.slot: dict[str, int] = {}
        self.ids: list[str | None] = []
        self.category: list[str | None] = []
        self.strategy: list[str | None] = []
        self.terms: list[tuple[str, ...] | None] = []
        self.created = array("d")
        self.updated = array("d")
        #: Where the store holds each pattern (``Record.rowid``; 0: not numbered, or deleted).
        #: Why: SQLite finds a row by its number (the id has no index), 8 bytes a pattern.
        self.rowids = array("q")
        #: Each body's JSON text, unless the store reads bodies back (then None).
        self.bodies: list[str | None] | None = None if read_bodies else []
        # The body's numbers, as float64 / int64 columns: 8 bytes a pattern each, filled in
        # C from the index snapshot on open. A deleted slot's counts are zeroed (its quality
        # is masked by ``arrays()``), so totals are plain sums.
        self.quality = array("d")
        self.wins = array("d")
        self.losses = array("d")
        self.average = array("d")
        self.contradictions = array("q")
        #: Whether slots are in the store's row order (SQLite's rowid): a pattern rewritten
        #: in place keeps its slot but its row moves to the end. See ``snapshot_columns``.
        self.in_row_order = True
        self.version = 0  # bumped by every change; invalidates ``arrays()`` and ``stats()``
        self._stats: tuple[int, dict[str, Any]] | None = None
        self._arrays: tuple[Any, ...] | None = None

    def __contains__(self, pid: object) -> bool:
        return pid in self.slot

    def index(self, record: Record) -> None:
        """Index ``record`` (parsing its body for the numbers and context it holds)."""
        body = as_dict(record.body)
        self.index_known(record, _known(body), body.get("context"))

    def index_known(
        self,
        record: Record,
        known: tuple[float, float, float, float, int],
        context: dict[str, Any] | None = None,
    ) -> None:
        """Index ``record`` whose body's numbers are already known (``known``: confidence,
        successes, failures, average, contradictions; see ``snapshot_columns``) and whose
        context is ``context``: opening a bank from a snapshot need not parse the body."""
        self.version += 1
        pid = record.id
        slot = self.slot.get(pid)
        fresh = slot is None
        if slot is None:
            slot = self.slot[pid] = len(self.ids)
        terms = record.terms if type(record.terms) is tuple else tuple(record.terms)
        # A document re-indexed with its text unchanged (a merge, an outcome) keeps its entry.
        same_text = (
            not fresh and terms == self.terms[slot] and record.task_category == self.category[slot]
        )
        body: str | None = None
        if self.bodies is not None:
            body = record.body if isinstance(record.body, str) else compact(record.body)
        if fresh:  # appended column by column: a single store's common case
            self.ids.append(pid)
            self.category.append(record.task_category)
            self.strategy.append(record.strategy)
            self.terms.append(terms)
            self.created.append(record.created_at)
            self.updated.append(record.updated_at)
            self.rowids.append(record.rowid)
            if self.bodies is not None:
                self.bodies.append(body)
            self.quality.append(known[0])
            self.wins.append(known[1])
            self.losses.append(known[2])
            self.average.append(known[3])
            self.contradictions.append(known[4])
        else:
            row: tuple[Any, ...] = (
                record.task_category, record.strategy, terms, record.created_at, record.updated_at
            )  # fmt: skip
            if self.bodies is not None:
                row = (*row, body)
            columns = (*self._rows(), *self._numbers())
            self.in_row_order = False
            self.rowids[slot] = record.rowid
            for column, value in zip(columns, (*row, *known), strict=True):
                column[slot] = value
        if same_text:
            self.lex.reweigh(slot)
        else:
            self.lex.add(slot, terms, record.task_category)
        if record.embedding is not None:
            try:
                self.dense.add(slot, record.embedding)  # the only in-memory copy of the vector
            except InvalidPattern:  # one an older version let in (NaN, ±inf): text only
                self.dense.remove(slot)
        elif not fresh:
            self.dense.remove(slot)
        if context:
            self.contexts[slot] = context
        elif not fresh:
            self.contexts.pop(slot, None)

    def _rows(self) -> tuple[list[Any] | array[Any], ...]:
        """The columns of what each row holds besides the numbers (see ``_Records``)."""
        rows: tuple[list[Any] | array[Any], ...] = (
            self.category, self.strategy, self.terms, self.created, self.updated
        )  # fmt: skip
        return rows if self.bodies is None else (*rows, self.bodies)

    def _numbers(self) -> tuple[array[Any], ...]:
        """The number columns, in ``index_known``'s order."""
        return self.quality, self.wins, self.losses, self.average, self.contradictions

    def add_fresh(
        self,
        cols: Columns,
        known: KnownColumns,
        contexts: dict[int, Any],
        memo: dict[tuple[Hashable, tuple[str, ...]], int] | None = None,
    ) -> None:
        """Index patterns the table does not hold yet, column by column: ``known`` holds
        ``index_known``'s numbers as columns; ``contexts`` and ``cols.embedding`` are keyed
        by position; ``memo`` as ``LexicalIndex.add_many`` takes it. Why: per-pattern calls
        cost most of opening a large bank."""
        if not cols.ids:
            return
        self.version += 1
        base = len(self.ids)
        slots = list(range(base, base + len(cols.ids)))  # one int object per slot, shared
        self.slot.update(zip(cols.ids, slots, strict=True))
        self.ids.extend(cols.ids)
        self.category.extend(cols.task_category)
        self.strategy.extend(cols.strategy)
        self.terms.extend(cols.terms)
        extend_packed(self.created, cols.created_at)
        extend_packed(self.updated, cols.updated_at)
        rowids = cols.rowids
        if isinstance(rowids, array):  # from the index snapshot: copied in C
            self.rowids.extend(rowids)
        else:
            extend_packed(self.rowids, [0] * len(cols.ids) if rowids is None else rowids)
        if self.bodies is not None:
            self.bodies.extend(cols.body)
        for column, values in zip(self._numbers(), known, strict=True):
            extend_packed(column, values)
        self.lex.add_many(slots, cols.terms, cols.task_category, memo)
        for i, context in contexts.items():
            if context:
                self.contexts[base + i] = context
        for i, vector in cols.embedding.items():
            try:
                self.dense.add(base + i, vector)  # the only in-memory copy of the vector
            except InvalidPattern:  # one an older version let in (NaN, ±inf): text only
                self.dense.remove(base + i)

    def load(self, chunks: Iterable[Columns], snap: Snapshot | None) -> bool:
        """Index a whole bank read as columns (``SqliteStore.load_columns``: a few thousand
        rows at a time, so nothing per pattern is held twice) into an empty table; True if
        ``snap`` held the numbers of every pattern. Only bodies the snapshot does not cover,
        or with a context to keep, are parsed. The snapshot covers rows only in its own
        order, which is the store's row order (``snapshot_columns``)."""
        memo: dict[tuple[Hashable, tuple[str, ...]], int] = {}  # texts weighed so far
        covered = snap is not None  # an empty bank's snapshot covers it
        offset = 0
        for cols in chunks:
            n = len(cols.ids)
            if not n:  # an empty bank's (its snapshot covers it)
                continue
            where = None
            if snap is not None and snap[0][offset : offset + n] == cols.ids:
                where = range(offset, offset + n)
            offset += n
            covered = self._load_chunk(cols, snap, where, memo) and covered
        self.in_row_order = True
        self.rank_texts()
        return covered

    def rank_texts(self) -> None:
        """Rank every large text's slots by quality now (``LexicalIndex.rank_all``), after
        an open or a large bulk store, rather than in the first search meeting each."""
        self.lex.rank_all(self.quality)

    def _load_chunk(
        self,
        cols: Columns,
        snap: Snapshot | None,
        where: range | None,
        memo: dict[tuple[Hashable, tuple[str, ...]], int],
    ) -> bool:
        """``where``: the rows' entries in ``snap``; None: take nothing from ``snap``."""
        n = len(cols.ids)
        zeros = array("d", [0.0]) * n
        known: tuple[array[Any], ...] = (
            array("d", [0.5]) * n,
            zeros,
            zeros[:],
            zeros[:],
            array("q", [0]) * n,
        )
        parse: Iterable[int] = range(n)
        covered = False
        if snap is not None and where is not None:  # slices copy the numbers in C
            covered = True
            lo, hi, flags = where.start, where.stop, snap[3]
            known = (*(column[lo:hi] for column in snap[1]), snap[2][lo:hi])
            some = flags.count(0, lo, hi) < hi - lo  # any with a context to keep
            parse = [i for i, flag in enumerate(flags[lo:hi]) if flag] if some else ()
        contexts: dict[int, Any] = {}
        texts = cols.body
        left_out = [i for i in parse if texts[i] is None]
        stored = {}
        if left_out and self.read_bodies:
            rowids = cols.rowids or [0] * n
            ids = [cols.ids[i] for i in left_out]
            stored = self.read_bodies(ids, [rowids[i] for i in left_out])
        for i in parse:
            text: str | dict[str, Any] | None = texts[i]
            if text is None:
                found = stored.get(cols.ids[i])
                if found is None:  # deleted since: the next catch-up unindexes it
                    continue
                text = found if isinstance(found, str) else found.body
            body = as_dict(text)
            for column, value in zip(known, _known(body), strict=True):
                column[i] = value
            if body.get("context"):
                contexts[i] = body["context"]
        self.add_fresh(cols, known, contexts, memo)
        return covered

    def snapshot_columns(
        self, row_order: Sequence[str] | None = None
    ) -> tuple[list[str], list[Sequence[float]], Sequence[int], bytearray, Rows | None]:
        """What ``index_known`` needs per live pattern, oldest first: ids, the float columns
        (confidence, successes, failures, average), contradictions, whether it has a context,
        and the rest of its row (category, strategy, times, terms) unless some pattern has a
        vector (which only the rows hold, so an open reads them anyway). ``row_order``: the
        store's ids in row order, to list patterns in (ids the table lacks are skipped).
        Why: an open from the rows makes slots in row order, and one from the snapshot must
        give the same order."""
        if row_order is None:
            ids = [pid for pid in self.ids if pid is not None]
        else:
            ids = [pid for pid in row_order if pid in self.slot]
        columns: tuple[Sequence[Any], ...] = (
            self.quality, self.wins, self.losses, self.average, self.contradictions,
            self.category, self.strategy, self.created, self.updated, self.terms, self.rowids,
        )  # fmt: skip
        if ids == self.ids:  # every slot live, in order (the usual case): copy in C
            picked = [column[:] for column in columns]
            flags = bytearray(len(ids))
            for slot in self.contexts:
                flags[slot] = 1
        else:
            slots = list(map(self.slot.__getitem__, ids))
            picked = [list(map(column.__getitem__, slots)) for column in columns]
            flags = bytearray(s in self.contexts for s in slots)
        q, w, lo, avg, contradictions, category, strategy, created, updated, terms, rowids = picked
        rows = None if len(self.dense) else (category, strategy, created, updated, terms, rowids)
        return ids, [q, w, lo, avg], contradictions, flags, rows

    def unindex(self, pid: str) -> None:
        self.version += 1
        slot = self.slot.pop(pid, None)
        if slot is None:
            return
        self.contexts.pop(slot, None)
        self.lex.remove(slot)
        self.dense.remove(slot)
        self.ids[slot] = None
        self.rowids[slot] = 0
        self.category[slot] = None
        self.strategy[slot] = None
        self.terms[slot] = None
        if self.bodies is not None:
            self.bodies[slot] = None
        for column in (self.wins, self.losses, self.average, self.contradictions):
            column[slot] = 0  # totals sum every slot

    def renumber(self, records: Iterable[Record]) -> None:
        """Take the row numbers of held patterns the store just wrote again, unchanged."""
        slot, rowids = self.slot, self.rowids
        for record in records:
            rowids[slot[record.id]] = record.rowid

    def rowids_of(self, pids: Sequence[str]) -> list[int]:
        """Where the store holds each of ``pids`` (``SqliteStore.rowids_of``); 0 where the
        table does not hold it."""
        slot, rowids = self.slot, self.rowids
        return [rowids[slot[pid]] if pid in slot else 0 for pid in pids]

    def pattern(self, pid: str) -> Pattern | None:
        """The pattern ``pid`` (held by the table), or None if the store no longer has it."""
        return self.patterns([pid])[0]

    def patterns(self, pids: Sequence[str]) -> list[Pattern | None]:
        """The patterns ``pids`` (held by the table), their bodies read from the store in
        one go when not in memory. None where the store no longer has one; a pattern
        another process rewrote after our last catch-up comes whole from its stored row.
        Why: a returned pattern is the current one, never a body of one version paired
        with columns of another."""
        bodies, slot_of = self.bodies, self.slot
        stored = {}
        if bodies is None and pids and self.read_bodies:
            stored = self.read_bodies(pids, self.rowids_of(pids))
        out: list[Pattern | None] = []
        for pid in pids:
            slot = slot_of[pid]
            text = stored.get(pid) if bodies is None else bodies[slot]
            if text is None:
                out.append(None)
            elif isinstance(text, str):
                category, strategy = self.category[slot], self.strategy[slot]
                assert category is not None and strategy is not None  # a live slot's
                out.append(
                    Pattern.from_stored(
                        json.loads(text),
                        id=pid,
                        task_category=category,
                        strategy=strategy,
                        created_at=self.created[slot],
                        updated_at=self.updated[slot],
                        embedding=self.dense.vector(slot),
                    )
                )
            else:
                out.append(
                    Pattern.from_stored(
                        as_dict(text.body),
                        id=text.id,
                        task_category=text.task_category,
                        strategy=text.strategy,
                        created_at=text.created_at,
                        updated_at=text.updated_at,
                        embedding=None if text.embedding is None else list(text.embedding),
                    )
                )
        return out

    def arrays(self) -> tuple[Any, Any, Any, dict[str | None, int]]:
        """numpy views of the columns (live, category code, quality), rebuilt only after a
        change."""
        if self._arrays is None or self._arrays[0] != self.version:
            import numpy as np

            n = len(self.ids)
            code_of: dict[str | None, int] = {None: -1}
            codes = np.fromiter(
                (code_of.setdefault(c, len(code_of)) for c in self.category),
                dtype=np.int64,
                count=n,
            )
            live = codes >= 0
            quality = np.fromiter(self.quality, dtype=np.float64, count=n)
            self._arrays = (self.version, live, codes, quality, code_of)
        return self._arrays[1:]

    def stats(self) -> dict[str, Any]:
        """Totals over every pattern: O(N), so computed once per change."""
        if self._stats is None or self._stats[0] != self.version:
            self._stats = (self.version, self._count())
        return self._stats[1]

    def _count(self) -> dict[str, Any]:
        live = len(self.slot)
        categories = Counter(c for c in self.category if c is not None)
        strategies = Counter(s for s in self.strategy if s is not None)
        wins = sum(self.wins)
        observations = wins + sum(self.losses)
        avg = sum(self.average) / live if live else 0.0
        return {
            "total_patterns": live,
            "categories": dict(categories.most_common()),
            "strategies": dict(strategies.most_common()),
            "avg_success_score": avg,
            "success_rate": wins / observations if observations else 0.0,
            "observations": observations,
            "contradictions": sum(self.contradictions),
            "index": {
                "analyzer": ANALYZER_VERSION,
                "vocabulary": self.lex.vocabulary_size,
                "postings": self.lex.postings_count,
                "dense_vectors": len(self.dense),
                "dense_dim": self.dense.dim,
                "vector_backend": self.dense.backend,
            },
        }
