"""The bulk store's fast path: new patterns of the common shape ("drafts") skip the general
validation and share their body's tail per outcome. Everything it accepts must come out
exactly as the general path makes it; everything else must go the general path (and be
refused there with the same one-line error)."""

import itertools
import json
import random
import sqlite3
from json.encoder import encode_basestring

import pytest

from reasoningbank import InvalidPattern, Pattern, ReasoningBank, learning
from reasoningbank import bank as bank_module
from reasoningbank.bank import _TIMES, _draft_record, _known
from reasoningbank.model import MAX_TEXT_LENGTH, common_draft, format_time, validate_all
from tests.conftest import pattern, run

NOW = 1_765_000_000.25

TEXTS = [
    "fix the login race",
    "  padded text  ",
    'naïve café — unicode \u2028 "quoted" \\ back',
    "",
    "   ",
    None,
    42,
    ["list"],
    "x" * 201,
    "y" * (MAX_TEXT_LENGTH + 1),
    type("Sub", (str,), {})("a str subclass"),
]
SCORES = [0.7, 0.0, -0.0, 1.0, 0.5, 0.49999, 1, 0, True, float("nan"), float("inf"), 1.5, -0.1,
          None, "0.5"]  # fmt: skip
SUCCESSES = [True, False, None, 1, "yes"]
EXTRAS = [{}, {"id": "given"}, {"id": ""}, {"id": None}, {"context": {}},
          {"context": {"k": "v"}}, {"tags": ["t"]}, {"metadata": {}}, {"embedding": [0.1, 0.2]},
          {"unknown": 1}]  # fmt: skip


def shapes():
    """Many dicts around the common shape: valid, invalid, and near it."""
    rnd = random.Random(11)
    keys = ("task_description", "task_category", "strategy")
    for score, success in itertools.product(SCORES, SUCCESSES):
        for where in ("outcome", "top", "both", "bare-outcome", "none", "outcome-extra"):
            outcome: object
            base: dict[str, object] = {
                "task_description": "fix the login race",
                "task_category": "backend",
                "strategy": "test-driven",
            }
            if where == "outcome":
                outcome = {"success": success, "success_score": score}
            elif where == "top":
                base["success_score"] = score
                outcome = {"success": success}
            elif where == "both":
                base["success_score"] = 0.25
                outcome = {"success_score": score}
            elif where == "bare-outcome":
                outcome = {} if success is None else {"success": success}
            elif where == "none":
                base["success_score"] = score
                outcome = None
            else:
                outcome = {"success": success, "success_score": score, "tokens_used": 3}
            if outcome is not None or rnd.random() < 0.5:
                base["outcome"] = outcome
            yield base
    for key, text in itertools.product(keys, TEXTS):
        d = pattern("fix the login race", score=0.8)
        if text is None and rnd.random() < 0.5:
            del d[key]
        else:
            d[key] = text
        yield d
    for extra in EXTRAS:
        yield {**pattern("cache the tokens", score=0.3), **extra}
    for outcome in ([], "done", 0, {"success": True, "metrics": {}}):
        yield {**pattern("cache the tokens"), "outcome": outcome}
    yield "not a dict"
    yield None


def general(data):
    try:
        return Pattern.from_dict(data, new_id="ID", now=NOW)
    except InvalidPattern as exc:
        return exc


def test_a_draft_is_exactly_what_the_general_validation_makes():
    taken = refused = 0
    for data in shapes():
        draft = common_draft(data, "ID")
        slow = general(data)
        if draft is None:
            refused += isinstance(slow, InvalidPattern)
            continue
        taken += 1
        assert not isinstance(slow, InvalidPattern), (data, slow)
        fast = Pattern.from_draft(draft, NOW)
        assert fast == slow, data
        assert fast.body_json() == slow.body_json(), data  # also the sign of -0.0
        assert repr(fast) == repr(slow), data
    assert taken >= 100 and refused >= 100  # both sides of the fast path were exercised


@pytest.mark.parametrize("stored", [False, True])
def test_a_draft_record_is_what_the_general_path_writes_for_any_outcome(stored):
    """A draft's body and numbers (made from a layout and ``learning.fold``) equal the
    general path's (a Pattern, ``learning.initialise``, ``body_json``) for any score, in
    both forms: SQLite's stored form and the memory / IndexedDB banks' whole form."""
    rnd = random.Random(5)
    scores = [rnd.random() for _ in range(300)] + [1.0, 0.5, 1e-300, 0.1, 0.3, 1 - 1e-16, 0.0]
    for i, score in enumerate(scores):
        for success in (True, False):
            draft = (f"id-{i}", 'a "quoted" task', "cat", "strat", success, score)
            p = Pattern.from_draft(draft, NOW)
            learning.initialise(p.metadata, p.outcome, NOW)
            t = encode_basestring(format_time(NOW))
            stamp = ("" if stored else _TIMES % (t, t), NOW, NOW)
            record, known, _ = _draft_record(draft, ("task",), stamp)
            assert record.body == p.body_json(stored=stored), (score, success)
            assert known == _known(p.metadata)


def test_a_batch_with_drafts_is_refused_with_the_general_error():
    """An invalid item among drafts: the batch is refused naming its position, with the
    same message as the general path."""
    for bad in (
        {**pattern("x"), "task_description": "  "},
        {**pattern("x"), "outcome": {"success_score": 1.5}},
        {**pattern("x"), "strategy": 7},
        {**pattern("x"), "outcome": {"success": "yes"}},
    ):
        items = [pattern(f"task {i}") for i in range(5)]
        items.insert(3, bad)
        errors = []
        for drafts in (True, False):
            ids = [str(i) for i in range(100)]
            with pytest.raises(InvalidPattern) as caught:
                validate_all(items, now=NOW, ids=ids, drafts=drafts)
            errors.append(str(caught.value))
        assert errors[0] == errors[1] and errors[0].startswith("pattern #3: "), errors


def rows(path):
    """Every stored row but its id (ids are random; a stored body holds none)."""
    with sqlite3.connect(path) as conn:
        found = conn.execute(
            "SELECT pattern_id, task_category, strategy, created_at, updated_at, body, terms,"
            " embedding"
            " FROM patterns ORDER BY rowid"
        ).fetchall()
    out = []
    for row in found:
        assert "id" not in json.loads(row[5])
        out.append(row[1:])
    return out


def corpus(n, seed, general=0.1):
    rnd = random.Random(seed)
    words = "oauth token refresh cache redis pool leak schema deploy rollback naïve".split()
    out = []
    for _ in range(n):
        p = pattern(
            " ".join(rnd.choice(words) for _ in range(3)),
            category=rnd.choice("ab"),
            strategy=rnd.choice("xy"),
            score=rnd.choice([0.0, 1.0, 0.5, round(rnd.random(), 3), rnd.random()]),
        )
        if rnd.random() < 0.2:
            p["outcome"] = {"success": rnd.random() < 0.5}
        if rnd.random() < general:
            p["context"] = {"k": rnd.choice("uvw")}  # the general path, in the same batch
        out.append(p)
    return out


@pytest.mark.parametrize("dedup", [None, 0.95])
@pytest.mark.parametrize("general", [0.1, 0.01, 0.0])
def test_drafts_store_exactly_what_the_general_path_stores(tmp_path, monkeypatch, dedup, general):
    """Two banks, one clock: one bulk-stores the dicts as given (drafts where they can be),
    the other the same dicts with an empty context (the general path, same meaning). The
    stored rows, the merges into earlier patterns, the order and the searches are equal.
    ``general``: the share of the batch that takes the general path in both banks; written
    64 at a time, some steps hold drafts only (``_draft_columns``), some both."""
    monkeypatch.setattr(bank_module, "_WRITE_STEP", 64)
    columns = count_calls(monkeypatch, "_draft_columns")
    base = [dict(p, id=f"base-{i}") for i, p in enumerate(corpus(60, 1))]
    batch = corpus(400, 2, general)

    def state(name, general_path):
        ticks = iter(range(1_700_000_000, 1_800_000_000)).__next__
        path = str(tmp_path / name)
        bank = run(ReasoningBank.open(path, clock=ticks, dedup_threshold=dedup))
        run(bank.store_patterns([dict(p) for p in base]))
        items = [dict(p, context=p.get("context", {})) if general_path else dict(p) for p in batch]
        ids = run(bank.store_patterns(items))
        merged = [pid if pid.startswith("base-") else None for pid in ids]
        found = [
            [(m.pattern.task_description, m.score) for m in run(bank.find_similar(q, "a"))]
            for q in ("oauth token", "redis pool leak", "deploy rollback schema")
        ]
        stats = run(bank.get_stats())
        run(bank.close())
        del stats["storage"]
        return merged, rows(path), found, stats

    fast, slow = state("fast.db", False), state("slow.db", True)
    assert fast[0] == slow[0]
    assert fast[1] == slow[1]
    assert fast[2] == slow[2]
    assert fast[3] == slow[3]
    if dedup:
        assert any(fast[0])  # merges into stored patterns did happen
    elif general < 0.1:
        assert columns  # steps of drafts only were written a column at a time


def count_calls(monkeypatch, name):
    """The calls to ``reasoningbank.bank.<name>`` from now on (a list that grows)."""
    calls = []
    real = getattr(bank_module, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(bank_module, name, counted)
    return calls


def test_drafts_in_a_memory_bank_store_what_the_general_path_stores(monkeypatch):
    """A memory bank keeps whole bodies (id and times inside): written a column at a time,
    they are byte for byte the general path's but for the id, which differs by bank."""
    monkeypatch.setattr(bank_module, "_WRITE_STEP", 64)
    columns = count_calls(monkeypatch, "_draft_columns")
    batch = corpus(300, 3, general=0.01)

    def state(general_path):
        ticks = iter(range(1_700_000_000, 1_800_000_000)).__next__
        bank = run(ReasoningBank.open(":memory:", clock=ticks, dedup_threshold=None))
        items = [dict(p, context=p.get("context", {})) if general_path else dict(p) for p in batch]
        ids = run(bank.store_patterns(items))
        records = bank._store._records
        out = [
            (r.task_category, r.strategy, r.created_at, r.updated_at, tuple(r.terms),
             r.body.replace(encode_basestring(pid), '"ID"'))
            for pid, r in ((pid, records[pid]) for pid in ids)
        ]  # fmt: skip
        found = [(m.pattern.task_description, m.score) for m in run(bank.find_similar("oauth"))]
        run(bank.close())
        return out, found

    fast = state(False)
    assert columns
    slow = state(True)
    assert fast == slow
