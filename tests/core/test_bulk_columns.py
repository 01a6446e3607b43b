"""A bulk store of new patterns (nothing to merge into) is written and indexed as columns,
a few thousand at a time. It must leave exactly what storing the same items one by one
leaves: rows, vectors, contexts, searches, statistics, and the view a reopen builds."""

import random

import pytest

from reasoningbank import InvalidPattern, Pattern, ReasoningBank
from reasoningbank import bank as bank_module
from tests.conftest import pattern, run
from tests.core.test_bulk_drafts import corpus, rows, shapes

NOW = 1_765_000_000.5


def _items():
    """New patterns of every kind a batch may mix: drafts, general shapes (contexts,
    vectors, tags, explicit ids, a zero score) and valid shapes near the common one."""
    rnd = random.Random(8)
    items = corpus(120, 6)
    for i, p in enumerate(corpus(30, 7)):
        kind = i % 5
        if kind == 0:
            p["embedding"] = [rnd.uniform(-1, 1), rnd.uniform(0.1, 1)]
        elif kind == 1:
            p["id"] = f"given-{i}"
        elif kind == 2:
            p["tags"] = ["t", str(i)]
        elif kind == 3:
            p["outcome"] = {"success": False, "success_score": 0.0}
        items.append(p)
    for shape in shapes():
        if not isinstance(shape, dict) or shape.get("id"):
            continue  # refused shapes: see test_bulk_drafts; one given id is here already
        try:
            Pattern.from_dict(dict(shape), new_id="x", now=NOW)
        except InvalidPattern:
            continue
        items.append(dict(shape))
    rnd.shuffle(items)
    return items


def _state(bank, path):
    found = [
        [
            (m.pattern.task_description, m.score, m.pattern.context)
            for m in run(bank.find_similar(q))
        ]
        for q in ("oauth token", "redis pool leak", "fix the login race", "cache the tokens")
    ]
    found.append(
        [
            (m.pattern.task_description, m.score)
            for m in run(bank.find_similar("x", embedding=[0.3, 0.9]))
        ]
    )
    stats = run(bank.get_stats())
    del stats["storage"]
    bodies = [p.to_dict() for p in run(bank.all_patterns())]
    for body in bodies:
        if not body["id"].startswith("given-"):
            body["id"] = None  # random
    return found, stats, bodies, rows(path) if path else None


@pytest.mark.parametrize("step", [7, 8192])
@pytest.mark.parametrize("where", ["file", "memory"])
def test_a_bulk_of_new_patterns_equals_storing_them_one_by_one(tmp_path, monkeypatch, step, where):
    monkeypatch.setattr(bank_module, "_WRITE_STEP", step)
    items = _items()
    assert len(items) > 3 * 7

    def state(name, bulk):
        path = str(tmp_path / name) if where == "file" else None
        bank = run(ReasoningBank.open(path or ":memory:", clock=lambda: NOW, dedup_threshold=None))
        if bulk:
            ids = run(bank.store_patterns([dict(p) for p in items]))
        else:
            ids = [run(bank.store_patterns([dict(p)]))[0] for p in items]
        assert len(set(ids)) == len(items)
        given = [pid if pid.startswith("given-") else None for pid in ids]
        out = (given, *_state(bank, path))
        run(bank.close())
        if path:  # the view a reopen builds equals the one the writes built
            again = run(ReasoningBank.open(path, clock=lambda: NOW, dedup_threshold=None))
            assert _state(again, path) == out[1:]
            run(again.close())
        return out

    bulk, single = state("bulk.db", True), state("single.db", False)
    for a, b in zip(bulk, single, strict=True):
        assert a == b


def test_a_bulk_with_a_stored_or_repeated_id_updates_in_place(tmp_path):
    """Not all new: an id already stored, or given twice in the batch, is an update, and
    the batch takes the pattern-by-pattern path (the stored pattern keeps its place)."""
    path = str(tmp_path / "b.db")
    bank = run(ReasoningBank.open(path, clock=lambda: NOW, dedup_threshold=None))
    run(bank.store_patterns([pattern("first one", id="a"), pattern("second one", id="b")]))
    ids = run(
        bank.store_patterns(
            [pattern("a new one"), pattern("first one again", id="a"), pattern("third", id="c")]
        )
    )
    assert ids[1:] == ["a", "c"]
    twice = run(
        bank.store_patterns([pattern("d once", id="d"), pattern("d twice", id="d"), pattern("e")])
    )
    assert twice[:2] == ["d", "d"]
    texts = [p.task_description for p in run(bank.all_patterns())]
    assert texts == ["first one again", "second one", "a new one", "third", "d twice", "e"]
    run(bank.close())
    again = run(ReasoningBank.open(path, dedup_threshold=None))
    assert sorted(p.task_description for p in run(again.all_patterns())) == sorted(texts)
    run(again.close())


@pytest.mark.parametrize("where", ["tmp", ":memory:"])
def test_a_bank_keeps_one_string_per_category_and_strategy(tmp_path, where):
    """The category and strategy the bank keeps per pattern are one shared string each,
    whatever objects the caller passed (a parsed request makes new ones per pattern):
    a caller's own string would outlive its dict and keep that memory from being reused.
    Drafts and the general path, bulk and single stores alike."""

    def fresh(text):
        return f"{text} team"  # an equal string each time, never the same object

    items = []
    for i, p in enumerate(corpus(300, 9)):
        p["task_category"], p["strategy"] = fresh(p["task_category"]), fresh(p["strategy"])
        if i % 3 == 0:
            p["tags"] = ["general path"]
        items.append(p)
    path = str(tmp_path / "b.db") if where == "tmp" else where
    bank = run(ReasoningBank.open(path, dedup_threshold=None))
    run(bank.store_patterns(items[:200]))
    for p in items[200:]:
        run(bank.store_pattern(p))
    table = bank._table
    for column in (table.category, table.strategy):
        assert len(column) == 300
        assert len({id(value) for value in column}) == len(set(column)) <= 4, column[:4]
    run(bank.close())
