"""The single store's lean path: ``store_pattern`` of a new pattern of the common shape
skips the batch around ``_store_all``. It must store exactly what storing a batch of one
stores (rows, merges, searches, statistics, clock readings), and refuse exactly what it
refuses, with the same one-line error."""

import math
import random
from datetime import datetime, timezone

import pytest

from reasoningbank import ReasoningBank, ReasoningBankError
from reasoningbank.model import format_time
from tests.conftest import pattern, run
from tests.core.test_bulk_drafts import corpus, rows, shapes


def _ticks():
    return iter(range(1_700_000_000, 1_800_000_000)).__next__


@pytest.mark.parametrize("dedup", [None, 0.95])
def test_store_pattern_stores_what_a_batch_of_one_stores(tmp_path, dedup):
    """Two banks, one clock each: one stores every item with ``store_pattern`` (the lean path
    where it can), the other as a batch of one (``store_patterns([item])``). Merges into
    earlier patterns, ids given explicitly and the general shapes are in the mix."""
    base = [dict(p, id=f"base-{i}") for i, p in enumerate(corpus(40, 1))]
    items = corpus(300, 2) + [dict(p, id=f"given-{i}") for i, p in enumerate(corpus(5, 3))]
    random.Random(4).shuffle(items)

    def state(name, lean):
        path = str(tmp_path / name)
        bank = run(ReasoningBank.open(path, clock=_ticks(), dedup_threshold=dedup))
        run(bank.store_patterns([dict(p) for p in base]))
        ids = []
        for item in items:
            if lean:
                ids.append(run(bank.store_pattern(dict(item))))
            else:
                ids.append(run(bank.store_patterns([dict(item)]))[0])
        merged = [pid if pid.startswith(("base-", "given-")) else None for pid in ids]
        own = {pid: i for i, pid in enumerate(ids)}  # merges into patterns of this run
        merged_here = [own.get(pid) if own.get(pid) != i else None for i, pid in enumerate(ids)]
        found = [
            [(m.pattern.task_description, m.score) for m in run(bank.find_similar(q, "a"))]
            for q in ("oauth token", "redis pool leak", "deploy rollback schema")
        ]
        stats = run(bank.get_stats())
        run(bank.close())
        del stats["storage"]
        return merged, merged_here, rows(path), found, stats

    lean, batch = state("lean.db", True), state("batch.db", False)
    assert lean[0] == batch[0]
    assert lean[1] == batch[1]
    assert lean[2] == batch[2]
    assert lean[3] == batch[3]
    assert lean[4] == batch[4]
    if dedup:
        assert any(lean[0]) and any(m is not None for m in lean[1])  # merges did happen


def test_store_pattern_refuses_what_a_batch_of_one_refuses(tmp_path):
    """Every shape near the common one: accepted by both with the same row, or refused by
    both with the same error; nothing is written by a refusal."""
    lean = run(ReasoningBank.open(str(tmp_path / "lean.db"), clock=_ticks(), dedup_threshold=None))
    batch = run(
        ReasoningBank.open(str(tmp_path / "batch.db"), clock=_ticks(), dedup_threshold=None)
    )
    refused = 0
    for shape in shapes():
        outcome = []
        for bank, call in ((lean, lean.store_pattern), (batch, None)):
            item = dict(shape) if isinstance(shape, dict) else shape
            try:
                if call is None:
                    run(bank.store_patterns([item]))
                else:
                    run(call(item))
                outcome.append(None)
            except ReasoningBankError as exc:
                outcome.append((type(exc), str(exc)))
        assert outcome[0] == outcome[1], shape
        refused += outcome[0] is not None
    run(lean.close())
    run(batch.close())
    assert refused >= 100
    assert rows(str(tmp_path / "lean.db")) == rows(str(tmp_path / "batch.db"))


def test_store_pattern_on_a_memory_bank_matches_sqlite(tmp_path):
    """The lean path over a store without a cross-process lock (``:memory:``): the same
    merges and the same search results as over SQLite."""
    items = corpus(120, 5)
    seen = []
    for location in (":memory:", str(tmp_path / "b.db")):
        bank = run(ReasoningBank.open(location, clock=_ticks()))
        ids = [run(bank.store_pattern(dict(p))) for p in items]
        matches = []
        for m in run(bank.find_similar("redis pool leak", top_k=20)):
            body = m.pattern.to_dict()
            matches.append((ids.index(body.pop("id")), body, m.score))
        seen.append(([ids.index(pid) for pid in ids], matches))
        run(bank.close())
    assert seen[0] == seen[1]
    assert len(set(seen[0][0])) < len(items)  # merges happened


def test_store_pattern_after_close_is_refused(tmp_path):
    bank = run(ReasoningBank.open(str(tmp_path / "b.db")))
    run(bank.close())
    with pytest.raises(ReasoningBankError, match="closed"):
        run(bank.store_pattern(pattern("after close")))


def _reference(ts):
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def test_format_time_is_datetime_isoformat():
    """The formatter that reuses the second's text rounds the microseconds as ``datetime``
    does (half to even), carries into the next second, and drops a zero fraction."""
    rnd = random.Random(9)
    edges = [0.0, 1e-7, 5e-7, 1.5e-6, 2.5e-6, 0.9999995, 0.99999949, 59.9999996, 86399.9999999,
             1_765_000_000.25, 1_765_000_000.0, 253402300798.9999999, 253402300799.0,
             253402300799.5, -0.5, -1_000.000_000_5]  # fmt: skip
    values = edges + [rnd.uniform(0, 4e9) for _ in range(20_000)]
    values += [
        rnd.randrange(2**32) + rnd.choice((5e-7, -5e-7, 0.0, 1.25e-5)) for _ in range(20_000)
    ]
    values += [math.nextafter(v, math.inf) for v in edges[:12]]
    for ts in values:
        assert format_time(ts) == _reference(ts), ts


@pytest.mark.parametrize("where", ["memory", "file"])
def test_a_fresh_store_appends_one_value_to_every_column(tmp_path, where):
    """The single store appends to each column by name (no loop over them): every column
    the table keeps must still grow by one per new pattern, with or without bodies."""
    path = ":memory:" if where == "memory" else str(tmp_path / "b.db")
    bank = run(ReasoningBank.open(path, dedup_threshold=None))
    run(bank.store_patterns([pattern(f"bulk task {i}") for i in range(3)]))
    for i in range(4):
        run(bank.store_pattern(pattern(f"single task {i}")))
    table = bank._table
    assert (table.bodies is not None) == (where == "memory")
    for column in (*table._rows(), *table._numbers()):
        assert len(column) == len(table.ids) == 7
    assert len(table.lex) == 7 and table.lex._text_of_slot.tolist() != [-1] * 7
    run(bank.close())


def test_a_task_stored_in_bulk_is_not_analysed_again_by_a_single_store(tmp_path, monkeypatch):
    """Agents store the same task again: the texts of a bulk store join the process's recent
    texts (``terms_of``), so storing one of them again skips analysis, with the same terms."""
    from reasoningbank import text

    monkeypatch.setattr(text, "_TERMS", {})  # whatever other tests left there
    bank = run(ReasoningBank.open(str(tmp_path / "b.db"), dedup_threshold=None))
    tasks = [f"fix the flaky login test number {i}" for i in range(20)]
    run(bank.store_patterns([pattern(t, "a", "s") for t in tasks]))
    analysed = []
    analyze = text.analyze
    monkeypatch.setattr(text, "analyze", lambda t: analysed.append(t) or analyze(t))
    run(bank.store_pattern(pattern(tasks[3], "a", "other")))
    run(bank.store_pattern(pattern("a task never seen", "a", "s")))
    assert analysed == ["a task never seen"]
    found = run(bank.find_similar(tasks[3], "a", top_k=3))
    assert {m.pattern.strategy for m in found if m.pattern.task_description == tasks[3]} == {
        "s",
        "other",
    }
    run(bank.close())
