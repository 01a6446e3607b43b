"""The near-duplicate check every store runs (dedup on, the default): which pattern a new
one merges into must be the one scoring every document picks: the most similar text, then
the oldest slot of the same strategy whose vector (if any) is near enough too."""

import random

from reasoningbank import ReasoningBank
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
