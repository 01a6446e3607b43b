"""Ranking every text's slots at once (on open) must leave what ranking them one text at a
time leaves, and searches must find exactly what they find without it."""

import random
from array import array

import numpy  # noqa: F401 - ranking at once uses numpy once something imported it

from reasoningbank.index import LexicalIndex

WORDS = "rotate tls certificates deploy canary service login flaky test cache".split()


def build(n: int, seed: int, texts: int = 40) -> tuple[LexicalIndex, array]:
    rng = random.Random(seed)
    index = LexicalIndex()
    texts = [tuple(rng.sample(WORDS, rng.randint(2, 5))) for _ in range(texts)]
    terms = [texts[rng.randrange(len(texts))] for _ in range(n)]
    groups = [rng.choice("ab") for _ in range(n)]
    index.add_many(list(range(n)), terms, groups)
    # Many equal qualities: ties must not change what a search finds.
    quality = array("d", (rng.choice([0.0, 0.25, 0.5, 0.5, 0.75, 1.0]) for _ in range(n)))
    return index, quality


def test_every_text_ranked_at_once_holds_its_slots_best_quality_first():
    index, quality = build(3000, 1, texts=12)
    small = LexicalIndex()
    small.add_many([0, 1], [("a", "b"), ("a", "b")], ["g", "g"])
    small.rank_all(quality)  # texts this small are left to the first search
    assert all(text.ranked is None for text in small._texts.values())
    index.rank_all(quality)
    for text in index._texts.values():
        assert text.ranked is not None and len(text.slots) >= 64
        assert sorted(text.ranked) == sorted(text.slots)
        values = [quality[s] for s in text.ranked]
        assert values == sorted(values, reverse=True)
    quality.append(0.5)  # the ranking let go of the column: it can still grow


def test_searches_find_the_same_with_and_without_ranking_at_once():
    ranked_at_once, quality = build(3000, 2, texts=12)
    ranked_at_once.rank_all(quality)
    one_by_one, _ = build(3000, 2, texts=12)
    for query in (["tls", "rotate"], ["canary"], ["flaky", "login", "cache"], ["service"]):
        for group in ("a", "b"):
            for k in (1, 5, 40):
                got = ranked_at_once.top_texts(query, k, group, quality, 0.3)
                want = one_by_one.top_texts(query, k, group, quality, 0.3)
                assert [(score, sorted(slots)) for score, slots in got] == [
                    (score, sorted(slots)) for score, slots in want
                ]
                best = [(s + 0.3 * quality[slot], -slot) for s, slots in got for slot in slots]
                exact = [
                    (s + 0.3 * quality[slot], -slot)
                    for slot, s in one_by_one.scores(query, group).items()
                ]
                assert sorted(best, reverse=True)[:k] == sorted(exact, reverse=True)[:k]


def test_a_large_bulk_store_ranks_its_texts_as_an_open_does():
    """After a bulk store of many new patterns the texts are ranked already (the first
    searches of a freshly loaded bank no longer sort them one by one), exactly as the first
    search would have; a text a later store changes is ranked again by its first search."""
    from reasoningbank import ReasoningBank
    from reasoningbank.bank import _RANK_AFTER
    from reasoningbank.timings import make_dataset
    from tests.conftest import run

    async def go():
        bank = await ReasoningBank.open(":memory:", dedup_threshold=None)
        items = make_dataset(_RANK_AFTER, 1)[0]
        for i, item in enumerate(items):  # 40 texts: each of ~250 patterns
            item["task_description"] = f"{WORDS[i % 10]} {WORDS[i % 4]} number {i % 5}"
            item["task_category"] = "ab"[i % 2]
        await bank.store_patterns(items)
        table = bank._table
        big = [t for t in table.lex._texts.values() if len(t.slots) >= 64]
        assert big and all(t.ranked is not None for t in big)
        for t in big:
            assert t.ranked == sorted(t.slots, key=table.quality.__getitem__, reverse=True)
        one = dict(items[7], task_description=items[7]["task_description"])
        await bank.store_pattern(one)
        stale = [t for t in big if t.ranked is None]
        assert len(stale) == 1  # the text the single store joined
        await bank.find_similar(one["task_description"], one["task_category"])
        assert stale[0].ranked == sorted(
            stale[0].slots, key=table.quality.__getitem__, reverse=True
        )
        await bank.close()

    run(go())
