"""The lexical index maps slots to texts by slot (an array, not a dict): slots added out of
order, with gaps, re-added, removed, in bulk and one at a time, must search as before."""

from reasoningbank.index import LexicalIndex

DOCS = {
    7: ["oauth", "token", "refresh"],
    2: ["cache", "redis"],
    40: ["oauth", "cache"],
    3: ["token", "expir"],
}


def scores(index: LexicalIndex) -> dict:
    return {q: index.scores([q]) for q in ("oauth", "cache", "token", "expir")}


def test_slots_out_of_order_with_gaps_search_like_slots_in_order():
    scattered = LexicalIndex()
    for slot, terms in DOCS.items():
        scattered.add(slot, terms)
    in_bulk = LexicalIndex()
    in_bulk.add_many(list(DOCS), [tuple(t) for t in DOCS.values()], [None] * len(DOCS))
    assert len(scattered) == len(in_bulk) == 4
    assert scores(scattered) == scores(in_bulk)
    assert scores(scattered)["oauth"].keys() == {7, 40}


def test_re_adding_and_removing_slots_keeps_the_count_and_the_postings():
    index = LexicalIndex()
    for slot, terms in DOCS.items():
        index.add(slot, terms)
    index.add(2, ["oauth"])  # replaces slot 2's document
    index.remove(40)
    index.remove(40)  # twice: nothing left to remove
    index.remove(1000)  # never held
    assert len(index) == 3
    assert scores(index)["oauth"].keys() == {7, 2}
    assert scores(index)["cache"] == {}
    index.add_many([41, 42], [("cache",), ("cache",)], [None, None])
    assert len(index) == 5
    assert scores(index)["cache"].keys() == {41, 42}
