"""The near-duplicate check every store runs (dedup on, the default): which pattern a new
one merges into must be the one scoring every document picks: the most similar text, then
the oldest slot of the same strategy whose vector (if any) is near enough too."""

import random

import pytest

from reasoningbank import ReasoningBank, index
from reasoningbank.text import terms_of
from reasoningbank.vectors import cosine
from tests.conftest import run

WORDS = "cache pool leak token refresh retry schema upload stream login modal queue".split()


def _reference(bank, cat, strategy, embedding, terms):
    """The check as it was written first: every accepted slot, one call each."""
    table, threshold = bank._table, bank.dedup_threshold
    best = None
    for slot, sim in table.lex.near_duplicates(
        terms, threshold, lambda s: table.strategy[s] == strategy, cat
    ):
        if embedding is not None and table.dense.has(slot):
            if cosine(embedding, table.dense.vector(slot) or []) < threshold:
                continue
        if best is None or (sim, -slot) > (best[0], -best[1]):
            best = (sim, slot)
    return table.ids[best[1]] if best else None


def test_the_merge_target_is_the_one_scoring_every_document_picks():
    rnd = random.Random(21)
    bank = run(ReasoningBank.open(":memory:", dedup_threshold=None))
    texts = [" ".join(rnd.sample(WORDS, rnd.randint(2, 5))) for _ in range(25)]
    items = []
    for _ in range(1500):  # many patterns per text: strategies and vectors vary among them
        item = {
            "task_description": rnd.choice(texts),
            "task_category": rnd.choice(["a", "b"]),
            "strategy": rnd.choice(["s1", "s2", "s3"]),
            "success_score": rnd.choice([0.2, 0.7, 1.0]),
        }
        if rnd.random() < 0.4:
            item["embedding"] = [rnd.choice([1.0, 0.9]), rnd.choice([0.0, 0.1, 1.0]), 0.5]
        items.append(item)
    run(bank.store_patterns(items))
    for threshold in (0.95, 0.8, 0.5):
        bank.dedup_threshold = threshold
        for _ in range(150):
            text = rnd.choice(texts) + rnd.choice(["", "", " leak", " brandnewword"])
            terms = terms_of(text)
            cat, strategy = rnd.choice(["a", "b"]), rnd.choice(["s1", "s2", "s3", "s4"])
            embedding = rnd.choice([None, [1.0, 0.0, 0.5], [0.0, 1.0, 0.0]])
            assert bank._near_duplicate(cat, strategy, embedding, terms) == _reference(
                bank, cat, strategy, embedding, terms
            )
    run(bank.close())


def _brute_target(bank, cat, strategy, terms):
    """The merge target from every document's exact score (no text lists, no slot order)."""
    table, floor = bank._table, bank.dedup_threshold - 1e-12
    scored = table.lex.scores(terms, cat)
    if any(abs(cos - floor) < 1e-9 for cos in scored.values()):
        return "too close to call"
    best = max(
        ((cos, -slot) for slot, cos in scored.items()
         if cos >= floor and table.strategy[slot] == strategy),
        default=None,
    )  # fmt: skip
    return None if best is None else table.ids[-best[1]]


@pytest.mark.parametrize("keep_order", [0, 8])  # every text keeps its order; the default
def test_merges_updates_and_deletions_keep_the_check_and_the_index_exact(keep_order, monkeypatch):
    """A merge or an outcome re-indexes a pattern whose text did not change (its index entry
    and its text's slot order are kept); an update that changes an old pattern's text or
    strategy, a deletion and a new pattern change them. Through all of them the merge target
    stays the one every document's score picks, each text's remembered slot order stays its
    slots sorted, and every score equals a bank built afresh from the same patterns (both
    under an IDF snapshot of the same counts)."""
    monkeypatch.setattr(index, "_KEEP_ORDER", keep_order)
    rnd = random.Random(7)
    bank = run(ReasoningBank.open(":memory:", dedup_threshold=None))
    texts = [" ".join(rnd.sample(WORDS, rnd.randint(2, 4))) for _ in range(12)]

    def item(**over):
        return {"task_description": rnd.choice(texts), "task_category": rnd.choice("ab"),
                "strategy": rnd.choice(["s1", "s2", "s3"]),
                "success_score": rnd.choice([0.1, 0.6, 1.0]), **over}  # fmt: skip

    ids = run(bank.store_patterns([item() for _ in range(300)]))
    bank.dedup_threshold = 0.9
    lex = bank._table.lex
    for step in range(400):
        live = [pid for pid in ids if pid in bank._table.slot]
        kind = rnd.random()
        if kind < 0.4:
            ids.append(run(bank.store_pattern(item())))  # merged, or new
        elif kind < 0.6:
            run(bank.record_outcome(rnd.choice(live), success=rnd.random() < 0.5))
        elif kind < 0.8:  # an old pattern gets another text or strategy
            run(bank.store_patterns([item(id=rnd.choice(live))]))
        elif kind < 0.9:
            run(bank.delete_pattern(rnd.choice(live)))
        else:
            ids.append(run(bank.store_pattern(item(task_description=f"{rnd.choice(texts)} new"))))
        for text in lex._texts.values():
            assert text.ordered is None or text.ordered == sorted(text.slots), step
        terms = terms_of(rnd.choice(texts))
        cat, strategy = rnd.choice("ab"), rnd.choice(["s1", "s2", "s3"])
        want = _brute_target(bank, cat, strategy, terms)
        if want != "too close to call":
            assert bank._near_duplicate(cat, strategy, None, terms) == want, step

    held = run(bank.all_patterns())
    fresh = run(ReasoningBank.open(":memory:", dedup_threshold=None))
    run(fresh.store_patterns([p.to_dict() for p in held]))
    lex.refresh(force=True)  # both under a snapshot of the same counts (IDF drifts by design)
    fresh._table.lex.refresh(force=True)
    for text in texts + ["leak", "cache token new"]:
        for cat in "ab":
            mine = {bank._table.ids[s]: c for s, c in lex.scores(terms_of(text), cat).items()}
            theirs = fresh._table.lex.scores(terms_of(text), cat)
            assert mine.keys() == {fresh._table.ids[s] for s in theirs}
            for slot, cos in theirs.items():
                assert abs(mine[fresh._table.ids[slot]] - cos) < 1e-12
    run(bank.close())
    run(fresh.close())


def test_a_batch_merges_into_what_the_bank_held_not_into_itself():
    """``store_patterns``' documented rule, empty bank or not: near-duplicates within one
    batch are kept apart, and each merges into a pattern the bank held before the call."""
    same = {"task_description": "rotate the tls certificates", "task_category": "ops",
            "strategy": "script", "success_score": 0.9}  # fmt: skip

    async def go():
        async with await ReasoningBank.open(":memory:") as bank:  # the default check on
            first = await bank.store_patterns([dict(same), dict(same)])
            assert len(set(first)) == 2  # an empty bank: nothing to merge into
            other = {**same, "task_category": "dev"}
            second = await bank.store_patterns([dict(same), dict(other), dict(other)])
            assert second[0] == first[0]  # the oldest held copy
            assert len({second[1], second[2], *first}) == 4  # "dev" was not held: apart
            assert (await bank.get_pattern(first[0])).metadata.merged_count == 1

    run(go())
