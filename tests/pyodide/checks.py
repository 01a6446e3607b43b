"""Core behaviour checks that run unchanged in every runtime.

The same source runs under CPython (the reference), in Pyodide under Node (fake-indexeddb),
Chromium, Firefox and WebKitGTK. Each check asserts what must hold everywhere and returns
a JSON string of what must be *equal* everywhere (rankings, scores), which the host test
compares with the CPython result.
"""

import json

from reasoningbank import ReasoningBank, runtime
from reasoningbank.errors import NotFound, StorageError

T0 = 1_700_000_000.0
TASKS = {
    "backend": [
        "add oauth token refresh",
        "fix database connection pool leak",
        "paginate query results",
        "cache expensive lookups in redis",
        "retry failed webhook deliveries",
    ],
    "frontend": [
        "build responsive login form",
        "lazy load product images",
        "debounce search input",
        "add dark mode toggle",
    ],
    "devops": [
        "set up ci pipeline for tests",
        "rotate tls certificates",
        "containerize python service",
    ],
}
STRATEGIES = ["test-driven", "spec-first", "feature flag", "pair review"]
QUERIES = [
    ("refresh oauth tokens", "backend"),
    ("leak in the connection pool", None),
    ("search input debounce", "frontend"),
    ("tls certificate rotation", "devops"),
    ("nothing matches this at all", None),
]


def patterns():
    """A deterministic set of 48 patterns with explicit ids and embeddings."""
    out = []
    i = 0
    for round_ in range(4):
        for cat, tasks in TASKS.items():
            for t, task in enumerate(tasks):
                score = ((i * 37) % 100) / 100.0
                out.append(
                    {
                        "id": f"p{i:03d}",
                        "task_description": f"{task} round {round_}",
                        "task_category": cat,
                        "strategy": STRATEGIES[(i + t) % len(STRATEGIES)],
                        "context": {"lang": "python" if i % 2 else "typescript"},
                        "outcome": {"success": score >= 0.5, "success_score": score},
                        "embedding": [((i * k) % 7) / 7.0 + 0.01 * k for k in range(1, 9)],
                    }
                )
                i += 1
    return out


def clock():
    return T0


async def open_bank(location, **kw):
    return await ReasoningBank.open(location, clock=clock, **kw)


async def check_runtime(expected):
    assert runtime.detect() == expected, runtime.detect()
    return runtime.detect()


async def check_store(location):
    bank = await open_bank(location)
    try:
        ids = await bank.store_patterns(patterns())
        assert ids == [p["id"] for p in patterns()]
        one = await bank.store_pattern(
            {
                "task_description": "write the release notes",
                "task_category": "docs",
                "strategy": "checklist",
                "success_score": 0.7,
            }
        )
        got = await bank.get_pattern("p005")
        assert got is not None and got.task_description == patterns()[5]["task_description"]
        assert [round(x, 5) for x in got.embedding] == [
            round(x, 5) for x in patterns()[5]["embedding"]
        ]
        assert (await bank.get_pattern("nope")) is None
        docs = await bank.search_by_category("docs", 10)
        assert [p.id for p in docs] == [one]
        backend = await bank.search_by_category("backend", 3)
        stats = await bank.get_stats()
        assert stats["total_patterns"] == 49, stats
        kind = (
            "memory"
            if location == ":memory:"
            else ("idb" if location.startswith("idb://") else "sqlite")
        )
        assert stats["storage"]["backend"] == kind, stats["storage"]
        return json.dumps(
            {
                "backend_newest": [p.id for p in backend],
                "categories": stats["categories"],
                "strategies": stats["strategies"],
            },
            sort_keys=True,
        )
    finally:
        await bank.close()


async def check_find(location):
    """Text and vector search on a fresh bank; returns ids and scores to compare."""
    bank = await open_bank(location)
    try:
        await bank.store_patterns(patterns())
        out = []
        for text, cat in QUERIES:
            ms = await bank.find_similar(text, cat, top_k=5)
            out.append([[m.pattern.id, m.score, m.similarity] for m in ms])
        query = [0.3, 0.1, 0.9, 0.2, 0.5, 0.7, 0.4, 0.6]
        ms = await bank.find_similar("oauth", None, top_k=5, embedding=query)
        out.append([[m.pattern.id, m.score, m.similarity] for m in ms])
        assert out[0] and out[0][0][0].startswith("p"), out[0]
        assert out[4] == [], out[4]
        return json.dumps(out)
    finally:
        await bank.close()


async def check_learning(location):
    """Outcomes move confidence and the recommended strategy."""
    bank = await open_bank(location)
    try:
        a = await bank.store_pattern(
            {
                "id": "a",
                "task_description": "migrate user table schema",
                "task_category": "backend",
                "strategy": "big bang",
                "outcome": {"success": True, "success_score": 0.6},
            }
        )
        b = await bank.store_pattern(
            {
                "id": "b",
                "task_description": "migrate the user table schema safely",
                "task_category": "backend",
                "strategy": "expand contract",
                "outcome": {"success": True, "success_score": 0.6},
            }
        )
        for _ in range(4):
            await bank.record_outcome(a, success=False, score=0.1)
            await bank.record_outcome(b, success=True, score=0.95)
        rec = await bank.recommend_strategy("migrate user table schema", "backend")
        assert rec.strategy == "expand contract", rec.to_dict()
        pa, pb = await bank.get_pattern(a), await bank.get_pattern(b)
        assert pb.metadata.confidence > pa.metadata.confidence
        try:
            await bank.record_outcome("missing", success=True)
        except NotFound:
            pass
        else:
            raise AssertionError("record_outcome on a missing id must raise NotFound")
        return json.dumps(
            {
                "strategy": rec.strategy,
                "confidence": rec.confidence,
                "a": pa.metadata.confidence,
                "b": pb.metadata.confidence,
            }
        )
    finally:
        await bank.close()


async def check_persist_write(location):
    bank = await open_bank(location)
    try:
        await bank.store_patterns(patterns())
        await bank.record_outcome("p001", success=True, score=1.0)
    finally:
        await bank.close()
    return "ok"


async def check_persist_read(location):
    """After close (or reload, or restart): everything is there and searchable."""
    bank = await open_bank(location)
    try:
        stats = await bank.get_stats()
        assert stats["total_patterns"] == 48, stats
        p = await bank.get_pattern("p001")
        assert p is not None and p.metadata.usage_count >= 1, p
        ms = await bank.find_similar("refresh oauth tokens", "backend", top_k=3)
        assert ms and "oauth" in ms[0].pattern.task_description
        return json.dumps([[m.pattern.id, m.score] for m in ms])
    finally:
        await bank.close()


async def check_idb_store(name):
    """The IndexedDB store itself: order, categories, meta, deletes, vectors, changes
    between two connections, and an aborted write leaving nothing behind."""
    from reasoningbank.storage.base import Record
    from storage_idb import open_idb_store

    s = await open_idb_store(name)
    other = await open_idb_store(name)
    try:
        recs = [
            Record(
                f"r{i}",
                f"c{i % 3}",
                "s",
                T0 + i,
                T0 + i,
                {"i": i, "big": 2**60 + i},
                ["t", str(i)],
                [float(i), 0.5, -1.25] if i % 2 else None,
            )
            for i in range(12)
        ]
        await s.put(recs[:6])
        await s.put(recs[6:])
        await s.put([recs[0]])  # replace: moves to the end, like INSERT OR REPLACE
        loaded = await s.load()
        assert [r.id for r in loaded] == [f"r{i}" for i in range(1, 12)] + ["r0"]
        assert loaded[0].body == {"i": 1, "big": 2**60 + 1}  # no float round trip
        assert list(loaded[0].embedding) == [1.0, 0.5, -1.25] and loaded[1].embedding is None
        assert [r.id for r in await s.by_category("c1", 3)] == ["r10", "r7", "r4"]
        assert await s.count() == 12
        assert (await s.get("r3")).terms == ["t", "3"] and await s.get("zz") is None
        await s.set_meta("analyzer", "x")
        assert await s.get_meta("analyzer") == "x" and await s.get_meta("none") is None
        assert (await other.changes()).upserted  # other saw our writes
        await other.put([Record("o1", "c0", "s", T0, T0, {}, [], None)], delete=["r2"])
        from storage_idb.store import _js_api

        dbg = (
            s._seen_seq,
            other._seen_seq,
            _js_api().isDirty(s._db),
            await s._call("currentSeq", "x"),
        )
        ch = await s.changes()
        assert [r.id for r in ch.upserted] == ["o1"] and ch.deleted == ["r2"], (ch, dbg)
        ch = await s.changes()
        assert ch.upserted == [] and ch.deleted == []
        try:
            await s.put(
                [
                    Record("ok", "c", "s", T0, T0, {}, [], None),
                    Record(None, "c", "s", T0, T0, {}, [], None),
                ]
            )
        except StorageError as exc:
            assert exc.__cause__ is not None
        else:
            raise AssertionError("an invalid key must raise StorageError")
        assert await s.get("ok") is None and await s.count() == 12
        # A full disk: the browser rejects the write with QuotaExceededError.
        from pyodide.code import run_js

        run_js("""globalThis.__rbAdd = IDBObjectStore.prototype.add;
            IDBObjectStore.prototype.add = function (...a) {
              if (this.name === "chunks") throw new DOMException("quota reached", "QuotaExceededError");
              return globalThis.__rbAdd.apply(this, a);
            };""")
        try:
            await s.put([Record("q", "c", "s", T0, T0, {}, [], None)])
        except StorageError as exc:
            assert "quota" in str(exc) and exc.__cause__ is not None, exc
        else:
            raise AssertionError("QuotaExceededError must raise StorageError")
        finally:
            run_js("IDBObjectStore.prototype.add = globalThis.__rbAdd;")
        assert await s.get("q") is None and await s.count() == 12
        return "ok"
    finally:
        await s.close()
        await other.close()


async def check_idb_replace_and_revive(name):
    """Writes skip deletes that have nothing to delete; the ones that do must still happen:
    a pattern re-stored without its vector loses it, a deleted id stored again is live again
    (for this connection and for another one's changes())."""
    from reasoningbank.storage.base import Record
    from storage_idb import open_idb_store

    def rec(i, vec=None):
        return Record(f"p{i}", "c", "s", T0 + i, T0 + i, {"i": i}, ["t"], vec)

    s = await open_idb_store(name)
    other = await open_idb_store(name)
    late = await open_idb_store(name)  # catches up only at the end
    try:
        await s.put([rec(i) for i in range(5)])  # no vectors, no tombstones yet
        await s.put([rec(1, [1.0, 2.0])])
        await s.put([rec(1)])  # re-stored without a vector: the old one must go
        assert (await s.get("p1")).embedding is None
        await other.changes()
        await late.changes()
        await s.put([], delete=["p2", "p3"])
        ch = await other.changes()
        assert sorted(ch.deleted) == ["p2", "p3"], ch
        await s.put([rec(2), rec(9)])  # p2 revived: its tombstone must go
        ch = await other.changes()
        assert sorted(r.id for r in ch.upserted) == ["p2", "p9"] and ch.deleted == [], ch
        ch = await late.changes()  # saw neither the delete nor the revival
        assert sorted(r.id for r in ch.upserted) == ["p2", "p9"] and ch.deleted == ["p3"], ch
        assert sorted(r.id for r in await s.load()) == ["p0", "p1", "p2", "p4", "p9"]
        fresh = await open_idb_store(name)
        try:
            assert sorted(r.id for r in await fresh.load()) == ["p0", "p1", "p2", "p4", "p9"]
            assert (await fresh.get("p1")).embedding is None
        finally:
            await fresh.close()
    finally:
        for store in (s, other, late):
            await store.close()
    return "ok"


async def check_default_location():
    """With no location, Pyodide banks live in IndexedDB where it exists."""
    bank = await ReasoningBank.open(clock=clock)
    try:
        stats = await bank.get_stats()
        return json.dumps(stats["storage"])
    finally:
        await bank.close()


def _dense_data(n=3000, dim=48, seed=11):
    import random

    rnd = random.Random(seed)
    rows = [[rnd.uniform(-1, 1) for _ in range(dim)] for _ in range(n)]
    queries = [[rnd.uniform(-1, 1) for _ in range(dim)] for _ in range(5)]
    return rows, queries


async def check_dense(backend):
    """Dense top-k and cosines from ``backend`` ("js" kernel in Pyodide; "numpy" or "python"
    under CPython), on seeded data with some slots removed and re-added."""
    if backend == "js":
        from reasoningbank.vectors.js import JsDenseIndex

        index = JsDenseIndex()
    else:
        from reasoningbank.vectors import DenseIndex

        index = DenseIndex(backend)
    rows, queries = _dense_data()
    index.add(0, rows[0])
    assert index.top_k(queries[0], 3)[0][0] == 0  # first query right after the first add
    for slot, row in enumerate(rows):
        index.add(slot, row)
    for slot in range(0, len(rows), 7):
        index.remove(slot)
    index.add(14, rows[0])  # re-add over a removed slot
    assert len(index) == len(rows) - len(range(0, len(rows), 7)) + 1
    out = {"top": [index.top_k(q, 10) for q in queries]}
    scores = index.scores(queries[0])
    out["some_scores"] = [[s, scores[s]] for s in sorted(scores)[:50]]
    out["count"] = len(scores)
    out["vector14"] = [round(x, 6) for x in index.vector(14)]
    return json.dumps(out)


async def check_idb_compaction(name):
    """Reading after compaction (which load() starts in the background) gives exactly what
    reading before it gave: same records, order, bodies and vectors."""
    from reasoningbank.storage.base import Record
    from storage_idb import open_idb_store
    from storage_idb.store import _js_api

    def rec(i, tag=""):
        vec = [float(i), 1.0, -0.5] if i % 3 else None
        return Record(f"r{i}", f"c{i % 2}", "s", T0 + i, T0 + i, {"i": i, "tag": tag}, ["t"], vec)

    def view(records):
        emb = [None if r.embedding is None else list(r.embedding) for r in records]
        return [(r.id, r.body, e) for r, e in zip(records, emb, strict=True)]

    api = _js_api()
    api.COMPACT.small, api.COMPACT.smallCount = 4, 3
    try:
        s = await open_idb_store(name)
        await s.put([rec(i) for i in range(10)])
        first = await s.load()
        assert await api.compacted(s._db) == 0  # one chunk, all live: nothing to do
        await s.put([rec(3, "v2"), rec(10)], delete=["r5"])
        other = await open_idb_store(name)
        await other.put([rec(1, "v2")])
        await other.put([rec(11)])
        await other.close()
        expected = [rec(i) for i in (0, 2, 4, 6, 7, 8, 9)] + [
            rec(3, "v2"),
            rec(10),
            rec(1, "v2"),
            rec(11),
        ]
        assert view(first) == view([rec(i) for i in range(10)])
        assert view(await s.load()) == view(expected)  # before compaction
        assert await api.compacted(s._db) == 3  # the three small chunks merged
        assert [n for _, n in await api.layout(s._db)] == [10, 4], await api.layout(s._db)
        assert view(await s.load()) == view(expected)  # after it
        await s.close()
        return "ok"
    finally:
        api.COMPACT.small, api.COMPACT.smallCount = 512, 32


async def check_bank_with_js_dense():
    """The JS kernel as the bank's dense index gives the pure-Python backend's answers."""
    from reasoningbank.vectors.js import JsDenseIndex

    res = {}
    query = [0.3, 0.1, 0.9, 0.2, 0.5, 0.7, 0.4, 0.6]
    for kind in ("python", "js"):
        bank = await ReasoningBank.open(":memory:", vector_backend="python", clock=clock)
        if kind == "js":
            bank._table.dense = JsDenseIndex()  # what a "js" vector backend plugs in
        await bank.store_patterns(patterns())
        ms = await bank.find_similar("oauth", None, top_k=5, embedding=query)
        first = [(m.pattern.id, round(m.score, 6)) for m in ms]
        await bank.record_outcome("p003", success=True)
        await bank.delete_pattern("p004")
        ms = await bank.find_similar("oauth", None, top_k=5, embedding=query)
        emb = (await bank.get_pattern("p003")).embedding
        res[kind] = [
            first,
            [(m.pattern.id, round(m.score, 6)) for m in ms],
            [round(x, 5) for x in emb],
        ]
        await bank.close()
    assert res["js"] == res["python"], res
    return "ok"
