"""A SQLite bank writes each body in ``Pattern.stored_dict``'s form (no times, no optional
field at its default) and reads back exactly the patterns it was given; a bank written by
an older version (bodies in ``to_dict``'s form) reads back the same."""

import json
import sqlite3

from reasoningbank import ReasoningBank
from tests.conftest import pattern, run

BATCH = [
    pattern("rotate tls certificates on the edge", category="devops"),
    pattern("rotate tls certificates on the edge", category="devops", strategy="manual"),
    pattern("fix flaky login test", category="frontend", score=0.2, context={"env": "ci"}),
    {
        **pattern("tune database indexes", score=0.7),
        "id": "given-id",
        "outcome": {"success": True, "success_score": 0.7, "duration_seconds": 0.0,
                    "tokens_used": 12, "error_message": "", "metrics": {"rows": 3}},
        "metadata": {"tags": ["db"], "usage_count": 2, "contradictions": 1, "merged_count": 0,
                     "origin": "import"},
    },
]  # fmt: skip


def _rows(db_path: str) -> dict[str, tuple[str, float, float]]:
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute(
            "SELECT pattern_id, body, created_at, updated_at FROM patterns"
        ).fetchall()
    return {pid: (body, created, updated) for pid, body, created, updated in rows}


def _everything(db_path: str) -> tuple[list[dict], list[list[tuple[str, float]]]]:
    async def go() -> tuple[list[dict], list[list[tuple[str, float]]]]:
        async with await ReasoningBank.open(db_path) as bank:
            patterns = sorted((p.to_dict() for p in await bank.all_patterns()), key=str)
            finds = [
                [(m.pattern.id, m.score) for m in await bank.find_similar(q, top_k=5)]
                for q in ("rotate tls", "flaky login", "database indexes")
            ]
        return patterns, finds

    return run(go())


def _write(db_path: str) -> None:
    async def go() -> None:
        async with await ReasoningBank.open(db_path) as bank:
            first = await bank.store_pattern(pattern("rotate tls certificates on the edge"))
            again = await bank.store_pattern(pattern("rotate tls certificates on the edge"))
            assert again == first  # merged: the stored body is rewritten from a Pattern
            await bank.store_patterns(BATCH)  # merges, an explicit id, free-form fields
            await bank.record_outcome(first, success=False, score=0.1, tokens_used=5)

    run(go())

    async def fresh() -> None:  # a bulk store into an empty bank: the columns path
        async with await ReasoningBank.open(db_path + ".bulk", dedup_threshold=None) as bank:
            await bank.store_patterns(BATCH[:3] * 3)

    run(fresh())


def test_a_sqlite_bank_stores_the_stored_form_and_reads_back_every_field(db_path):
    _write(db_path)
    for path in (db_path, db_path + ".bulk"):
        rows = _rows(path)

        async def check(path: str = path, rows: dict = rows) -> None:
            async with await ReasoningBank.open(path) as bank:
                for pid, (body, created, updated) in rows.items():
                    p = await bank.get_pattern(pid)
                    assert json.loads(body) == p.stored_dict()
                    assert body == p.body_json(stored=True)  # byte for byte, every path
                    assert (created, updated) == (p.metadata.created_at, p.metadata.updated_at)
                    assert "created_at" not in body
                    assert ("duration_seconds" in body) == (p.outcome.duration_seconds is not None)

        run(check())
    full = {pid: json.loads(body) for pid, (body, _, _) in _rows(db_path).items()}
    given = full["given-id"]
    assert given["outcome"]["duration_seconds"] == 0.0 and given["outcome"]["error_message"] == ""
    assert given["outcome"]["tokens_used"] == 12 and given["outcome"]["metrics"] == {"rows": 3}
    assert given["metadata"]["origin"] == "import" and given["metadata"]["tags"] == ["db"]
    assert "merged_count" not in given["metadata"] and "context" not in given


def test_a_bank_with_bodies_in_the_older_full_form_reads_back_the_same(db_path):
    _write(db_path)
    before = _everything(db_path)

    async def full_bodies() -> dict[str, str]:
        async with await ReasoningBank.open(db_path) as bank:
            return {
                p.id: json.dumps(p.to_dict(with_embedding=False), separators=(",", ":"))
                for p in await bank.all_patterns()
            }

    bodies = run(full_bodies())
    with sqlite3.connect(db_path) as conn:  # as a version before the stored form wrote them
        conn.executemany("UPDATE patterns SET body = ? WHERE pattern_id = ?", list(
            (body, pid) for pid, body in bodies.items()
        ))  # fmt: skip
        conn.execute("DELETE FROM rb_meta WHERE key = 'index-snapshot'")
    assert all("created_at" in body for body, _, _ in _rows(db_path).values())
    assert _everything(db_path) == before
    _write(db_path)  # and it goes on storing in the stored form beside the old rows
    rows = _rows(db_path)
    assert sum("created_at" not in body for body, _, _ in rows.values()) >= 2
    assert len(rows) == len(bodies)  # every store merged into or updated a stored row


def test_a_new_patterns_body_leaves_out_the_metadata_its_outcome_decides(db_path):
    """Until anything but its own outcome shapes it (another outcome, a merge, tags, counts
    brought in), a pattern's metadata follows from its score: the stored body leaves it out
    and every read puts it back (a pattern; the numbers an open without snapshot parses)."""
    _write(db_path)
    bulk = db_path + ".bulk"
    bodies = {
        path: {pid: body for pid, (body, _, _) in _rows(path).items()} for path in (db_path, bulk)
    }
    assert all('"metadata"' not in body for body in bodies[bulk].values())
    assert (
        '{"task_description":"rotate tls certificates on the edge",'
        + ('"outcome":{"success":true,"success_score":0.9}}')
        in bodies[bulk].values()
    )
    assert '"metadata"' in bodies[db_path]["given-id"]  # tags, counts brought in
    seeded = [pid for pid, body in bodies[db_path].items() if '"metadata"' not in body]
    assert 0 < len(seeded) < len(bodies[db_path])  # the merged and the updated keep theirs
    before = _everything(db_path), _everything(bulk)
    for path in (db_path, bulk):
        with sqlite3.connect(path) as conn:
            conn.execute("DELETE FROM rb_meta WHERE key = 'index-snapshot'")
    assert (_everything(db_path), _everything(bulk)) == before

    async def reread() -> None:
        async with await ReasoningBank.open(bulk) as bank:
            for p in await bank.all_patterns():
                meta = p.metadata
                assert meta.usage_count == 0 and meta.success_count == p.outcome.success_score
                assert meta.confidence == (1 + meta.success_count) / 3  # its own outcome only

    run(reread())
