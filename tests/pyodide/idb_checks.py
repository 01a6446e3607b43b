# IndexedDB chunk-layout checks, run inside Pyodide by test_pyodide_idb_chunks.py (appended
# to checks.py; importable on its own too).

import json

from reasoningbank.errors import StorageError

T_BASE = 1_700_000_000.0


def _rec(i, tag="", cat=None):
    from reasoningbank.storage.base import Record

    vec = [float(i), 0.5, -1.25] if i % 2 else None
    body = {"i": i, "tag": tag, "text": f"line one\nline two {i}"}
    return Record(
        f"r{i}", cat or f"c{i % 3}", "s", T_BASE + i, T_BASE + i, body, ["t", str(i)], vec
    )


def _view(records):
    return [
        (r.id, r.task_category, r.body, r.terms, None if r.embedding is None else list(r.embedding))
        for r in records
    ]


async def _layout(store):
    from storage_idb.store import _js_api

    return [n for _, n in await _js_api().layout(store._db)]


async def check_idb_chunked_round_trip(name):
    """A batch is one chunk value (one per chunkMax records); load, get, by_category, count
    and a second connection read back every record of it exactly, in order, with its vector."""
    from storage_idb import open_idb_store
    from storage_idb.store import _js_api

    api = _js_api()
    api.COMPACT.chunkMax = 1000
    s = await open_idb_store(name)
    try:
        recs = [_rec(i) for i in range(2500)]
        await s.put(recs[:700])
        await s.put(recs[700:])
        assert await _layout(s) == [700, 1000, 800]
        assert _view(await s.load()) == _view(recs)
        assert _view([await s.get("r1234")]) == _view([recs[1234]])
        assert await s.get("r2500") is None
        assert [r.id for r in await s.by_category("c1", 3)] == ["r2497", "r2494", "r2491"]
        assert await s.count() == 2500
        fresh = await open_idb_store(name)
        try:
            assert _view(await fresh.load()) == _view(recs)
        finally:
            await fresh.close()
        return "ok"
    finally:
        api.COMPACT.chunkMax = 4096
        await s.close()


async def check_idb_update_chunked(name):
    """Updating records that live in a chunk writes only the new copies; the newest copy
    wins everywhere; compaction later drops the chunk's dead copies, and a connection that
    caught up in the middle still gets exactly the updates after its point."""
    from storage_idb import open_idb_store
    from storage_idb.store import _js_api

    api = _js_api()
    api.COMPACT.small, api.COMPACT.smallCount = 8, 4
    s = await open_idb_store(name)
    other = await open_idb_store(name)
    try:
        await s.put([_rec(i) for i in range(10)])
        await s.load()
        await s.put([_rec(5, "v2")])
        assert await _layout(s) == [10, 1]  # the 10-record chunk was not rewritten
        assert (await s.get("r5")).body["tag"] == "v2" and await s.count() == 10
        assert [r.body["tag"] for r in await s.by_category("c2", 10)] == ["", "v2", ""]
        for i in (0, 1, 2):
            await s.put([_rec(i, "v2")])
        await other.changes()  # caught up here
        for i in (3, 4):
            await s.put([_rec(i, "v2")])
        expected = [_rec(i) for i in range(6, 10)] + [_rec(i, "v2") for i in (5, 0, 1, 2, 3, 4)]
        assert _view(await s.load()) == _view(expected)
        # 4 of the 10 copies in the first chunk are live, and 6 one-record chunks: all go.
        assert await api.compacted(s._db) == 7
        assert await _layout(s) == [10]
        assert _view(await s.load()) == _view(expected)
        assert await api.compacted(s._db) == 0
        ch = await other.changes()
        assert [r.id for r in ch.upserted] == ["r3", "r4"] and ch.deleted == [], ch
        return "ok"
    finally:
        api.COMPACT.small, api.COMPACT.smallCount = 512, 32
        await s.close()
        await other.close()


async def check_idb_delete_chunked(name):
    """Deleting records that live in a chunk: gone for this connection, a new one and
    another connection's changes(); stored again, live again."""
    from storage_idb import open_idb_store

    s = await open_idb_store(name)
    other = await open_idb_store(name)
    try:
        recs = [_rec(i) for i in range(100)]
        await s.put(recs)
        await other.changes()
        await s.delete(["r7", "r50", "r99"])
        assert await s.get("r50") is None and await s.count() == 97
        keep = [r for r in recs if r.id not in ("r7", "r50", "r99")]
        assert _view(await s.load()) == _view(keep)
        ch = await other.changes()
        assert ch.upserted == [] and sorted(ch.deleted) == ["r50", "r7", "r99"], ch
        await s.put([_rec(50, "back")])
        ch = await other.changes()
        assert [r.id for r in ch.upserted] == ["r50"] and ch.deleted == [], ch
        fresh = await open_idb_store(name)
        try:
            assert _view(await fresh.load()) == _view(keep + [_rec(50, "back")])
        finally:
            await fresh.close()
        return "ok"
    finally:
        await s.close()
        await other.close()


async def check_idb_changes_after_chunked_write(name):
    """Another connection's changes() after a 1,000-record write: all of them, in order,
    with vectors, and then nothing more."""
    from storage_idb import open_idb_store

    s = await open_idb_store(name)
    other = await open_idb_store(name)
    try:
        await s.put([_rec(i) for i in range(5)])
        await other.load()
        batch = [_rec(i, "b") for i in range(3, 1003)]
        await s.put(batch, delete=["r0"])
        ch = await other.changes()
        assert _view(ch.upserted) == _view(batch) and ch.deleted == ["r0"]
        ch = await other.changes()
        assert ch.upserted == [] and ch.deleted == []
        return "ok"
    finally:
        await s.close()
        await other.close()


def _old_put_args(records, delete=()):
    """Arguments of the schema-2 idb.js put(): rows, blob, vector bytes, deleted ids."""
    from array import array

    from pyodide.ffi import to_js

    rows, lines, vectors = [], [], array("f")
    for r in records:
        dim = len(r.embedding) if r.embedding is not None else 0
        vectors.extend(r.embedding or [])
        rows.append([r.id, r.task_category, r.created_at, r.updated_at, dim])
        lines.append(
            json.dumps(
                [r.id, r.task_category, r.strategy, r.created_at, r.updated_at, r.body, r.terms],
                separators=(",", ":"),
            )
        )
    payload = to_js(vectors.tobytes()) if vectors else None
    return json.dumps(rows), "\n".join(lines), payload, json.dumps(list(delete))


async def check_idb_migration_from_schema2(name, old_source):
    """A database written by the schema-2 code (one value per record and per vector, a load
    snapshot, tombstones) opens with the chunk layout with nothing lost: records, order,
    vectors, deletions, meta, and changes() from a sequence number of the old database."""
    from pyodide.code import run_js

    from storage_idb import open_idb_store

    old = run_js(old_source)
    old.setSnapshotMin(1)
    h = await old.open(name, 10_000)
    recs = [_rec(i) for i in range(30)]
    await old.put(h, *_old_put_args(recs[:20]))
    await old.put(h, *_old_put_args(recs[20:], delete=["r4"]))
    await old.load(h)  # writes its snapshot
    await old.put(h, *_old_put_args([_rec(2, "v2")]))  # seq 3
    await old.setMeta(h, "analyzer", "a1")
    old.close(h)
    expected = [r for r in recs if r.id not in ("r2", "r4")] + [_rec(2, "v2")]

    s = await open_idb_store(name)
    try:
        assert _view(await s.load()) == _view(expected)
        assert await s.count() == 29 and await s.get("r4") is None
        assert await s.get_meta("analyzer") == "a1"
        assert _view([await s.get("r21")]) == _view([recs[21]])
        ch = await s._call("changes", "changes", 1)  # what a tab at seq 1 had not seen
        assert sorted(json.loads(ch.deleted)) == ["r4"]
        ids = [row[0] for row in json.loads(ch.json)]
        assert ids == [f"r{i}" for i in range(20, 30)] + ["r2"], ids
        await s.put([_rec(40)])
        assert _view(await s.load()) == _view(expected + [_rec(40)])
        return "ok"
    finally:
        await s.close()


async def check_idb_aborted_batch(name):
    """A batch whose transaction aborts after its chunk was queued (an id IndexedDB cannot
    key) stores none of its records: count, load, the sequence number and other
    connections see nothing of it."""
    from storage_idb import open_idb_store

    s = await open_idb_store(name)
    other = await open_idb_store(name)
    try:
        await s.put([_rec(i) for i in range(10)])
        await other.changes()
        seq = await s._call("currentSeq", "x")
        try:
            await s.put([_rec(i, "new") for i in range(5, 1005)], delete=[None])
        except StorageError as exc:
            assert exc.__cause__ is not None and "DataError" in str(exc), exc
        else:
            raise AssertionError("an invalid key must abort the batch")
        assert await s._call("currentSeq", "x") == seq
        assert await s.count() == 10 and await _layout(s) == [10]
        assert _view(await s.load()) == _view([_rec(i) for i in range(10)])
        ch = await other.changes()
        assert ch.upserted == [] and ch.deleted == []
        return "ok"
    finally:
        await s.close()
        await other.close()


def _numbers(table):
    """Each pattern's numbers and context flag, by id (reopening may renumber the order)."""
    ids, floats, contradictions, flags, _ = table.snapshot_columns()
    return {
        pid: (*(column[i] for column in floats), contradictions[i], flags[i])
        for i, pid in enumerate(ids)
    }


async def check_idb_open_reads_numbers_in_js(name):
    """A bank reopened from IndexedDB (numbers read out of the bodies by idb.js) holds the
    same per-pattern numbers and contexts as the bank that wrote them, and as a table built
    by parsing every body in Python (on open, Python parses only bodies with a context)."""
    from reasoningbank import ReasoningBank
    from reasoningbank._table import SlotTable
    from reasoningbank.vectors import make_dense_index

    location = f"idb://{name}"
    bank = await ReasoningBank.open(location, dedup_threshold=None)
    tasks = ["add oauth token refresh", "refresh expired oauth tokens", "rotate oauth keys",
             "fix connection pool leak", "paginate query results", "debounce search input"]  # fmt: skip
    items = [
        {
            "id": f"p{i:03d}",
            "task_description": f"{tasks[i % len(tasks)]} round {i // len(tasks)}",
            "task_category": ("backend", "frontend")[i % 2],
            "strategy": ("test-driven", "spec-first", "pair review")[i % 3],
            "outcome": {"success": i % 4 != 0, "success_score": (i * 37 % 100) / 100},
            **({} if i % 3 == 0 else {"context": {"lang": "python", "i": i}}),
        }
        for i in range(48)
    ]
    await bank.store_patterns(items)
    for i, p in enumerate(items[:20]):
        await bank.record_outcome(p["id"], success=i % 2 == 0, score=(i % 5) / 4)
    written = _numbers(bank._table)
    stats = await bank.get_stats()
    found = [m.pattern.id for m in await bank.find_similar("oauth token refresh", top_k=10)]
    await bank.close()

    again = await ReasoningBank.open(location, dedup_threshold=None)
    try:
        assert _numbers(again._table) == written
        assert await again.get_stats() == stats
        again_found = await again.find_similar("oauth token refresh", top_k=10)
        assert [m.pattern.id for m in again_found] == found
        store = again._store
        parsed = SlotTable(make_dense_index(None))
        columns = await store.load_columns()
        await store.load_snapshot()
        parsed.load(columns, None)  # every body parsed in Python
        assert _numbers(parsed) == written
    finally:
        await again.close()
    # Records stored with their bodies as objects (not text) open the same way.
    from reasoningbank._table import compact
    from storage_idb import open_idb_store

    store = await open_idb_store(name + "-objects")
    try:
        recs = [_rec(i) for i in range(30)]
        await store.put(recs)
        (columns,) = await store.load_columns()
        assert columns.ids == [r.id for r in recs]
        assert columns.body == [compact(r.body) for r in recs]
        assert columns.terms == [tuple(r.terms) for r in recs]
        assert sorted(columns.embedding) == [i for i, r in enumerate(recs) if r.embedding]
    finally:
        await store.close()
    return "ok"


_CHUNKS_JS = """
async (h) => {
  const all = await new Promise((resolve, reject) => {
    const r = h.db.transaction("chunks").objectStore("chunks").getAll();
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  return JSON.stringify(all.map((ch) => ({
    c: ch.c, s: ch.s, ids: ch.ids, cats: ch.cats, created: ch.created, j: ch.j, dims: ch.dims,
    ss: Array.from(ch.ss), ns: Array.from(ch.ns), vec: Array.from(ch.vec),
  })));
}
"""


async def check_idb_put_heads_as_lines(name):
    """``put`` hands idb.js each record's id, category and time beside its line, so that
    idb.js need not parse the lines; a put without them (an older caller) parses the lines.
    Both store the same chunks, byte for byte, read back the same everywhere (JSON-text
    bodies with non-ASCII, U+2028 and escapes, whole-number times)."""
    from array import array

    from pyodide.code import run_js
    from pyodide.ffi import to_js

    from storage_idb import open_idb_store
    from storage_idb.store import _encode

    recs = [_rec(i, cat=f"c{i % 4}") for i in range(300)]
    for r in recs[::2]:  # bodies as JSON text, as the bank writes them
        r.body = json.dumps(
            {**r.body, "text": r.body["text"] + ' naïve — \u2028 "q" \\ \t'},
            separators=(",", ":"),
            ensure_ascii=False,
        )
    for r in recs[::3]:
        r.created_at = int(r.created_at)
    heads = await open_idb_store(name + "-heads")
    lines = await open_idb_store(name + "-lines")
    try:
        await heads.put(recs[:120])
        await heads.put(recs[120:], delete=["r3"])
        for part, gone in ((recs[:120], []), (recs[120:], ["r3"])):
            vectors = array("f", [x for r in part for x in (r.embedding or [])])
            await lines._call(
                "put",
                "put",
                "\n".join(
                    _encode(
                        [
                            r.id,
                            r.task_category,
                            r.strategy,
                            r.created_at,
                            r.updated_at,
                            r.body,
                            r.terms,
                        ]
                    )
                    for r in part
                ),  # fmt: skip
                _encode([len(r.embedding or []) for r in part]),
                to_js(vectors.tobytes()),
                _encode(gone),
                None,
            )
        dump = run_js(_CHUNKS_JS)
        assert await dump(heads._db) == await dump(lines._db)
        for store in (heads, lines):
            assert _view(await store.load()) == _view(recs[:3] + recs[4:])
            assert [r.id for r in await store.by_category("c1", 3)] == ["r297", "r293", "r289"]
            assert await store.count() == 299
        return "ok"
    finally:
        await heads.close()
        await lines.close()


async def check_idb_read_ahead(name):
    """A bank opened from the page's read-ahead (idb.js read it while Python started) holds
    what a bank opened by itself holds, including what another bank committed after the
    read-ahead was read; the read-ahead is adopted once, by the first store of that name."""
    from reasoningbank import ReasoningBank
    from storage_idb.store import _js_api

    location = f"idb://{name}"
    writer = await ReasoningBank.open(location, dedup_threshold=None)
    items = [
        {
            "id": f"p{i:02d}",
            "task_description": f"rotate the oauth signing keys of service {i}",
            "task_category": ("backend", "ops")[i % 2],
            "strategy": ("test-driven", "canary")[i % 3 % 2],
            "outcome": {"success": i % 4 != 0, "success_score": (i * 37 % 100) / 100},
            **({"context": {"lang": "go"}} if i % 5 == 0 else {}),
        }
        for i in range(40)
    ]
    await writer.store_patterns(items)
    assert await _js_api().readAhead(name, 10000) is True
    # Committed after the read-ahead read the bank: must still reach the adopting bank.
    await writer.store_pattern(
        {"id": "late", "task_description": "rotate oauth keys late", "task_category": "ops",
         "strategy": "canary", "outcome": {"success": True, "success_score": 0.9}}
    )  # fmt: skip
    await writer.record_outcome("p03", success=False, score=0.1)
    await writer.delete_pattern("p04")
    want = (await writer.get_pattern("p03")).to_dict()
    assert want["metadata"]["failure_count"] > 0
    adopted = await ReasoningBank.open(location, dedup_threshold=None)
    itself = await ReasoningBank.open(location, dedup_threshold=None)
    try:
        assert adopted._store.read_ahead and not itself._store.read_ahead
        for bank in (adopted, itself):
            found = await bank.find_similar("rotate oauth keys", "ops", top_k=50)
            assert "late" in [m.pattern.id for m in found]
            assert (await bank.get_pattern("p03")).to_dict() == want
            assert await bank.get_pattern("p04") is None
        assert _numbers(adopted._table) == _numbers(writer._table) == _numbers(itself._table)
        assert await adopted.get_stats() == await writer.get_stats()
        query = ("rotate the oauth signing keys", None, 20)
        assert [m.to_dict() for m in await adopted.find_similar(*query)] == [
            m.to_dict() for m in await itself.find_similar(*query)
        ]
        # Nothing left to adopt: a read-ahead is taken once.
        assert await _js_api().adopt(name) is None
        every = sorted(p.id for p in await itself.all_patterns())
    finally:
        for bank in (writer, adopted, itself):
            await bank.close()
    # A read-ahead holds the columns a bank opens from, not the records' JSON text: a store
    # asked for its records reads them again.
    from storage_idb import open_idb_store

    assert await _js_api().readAhead(name, 10000) is True
    store = await open_idb_store(name)
    try:
        assert store.read_ahead
        assert sorted(r.id for r in await store.load()) == every and len(every) == 40
    finally:
        await store.close()
    return "ok"
