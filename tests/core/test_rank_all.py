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
