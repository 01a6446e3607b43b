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


def test_a_text_indexed_in_bulk_is_not_weighed_again_when_added_alone(monkeypatch):
    """A task stored again after a bulk store or an open (another attempt at it) finds its
    text among the recent ones: ``add`` weighs nothing, and searches as if weighed."""
    index = LexicalIndex()
    index.add_many([0, 1, 2], [("oauth", "token"), ("cache",), ("oauth", "token")], ["a"] * 3)
    reference = LexicalIndex()
    for slot, terms in enumerate([("oauth", "token"), ("cache",), ("oauth", "token")]):
        reference.add(slot, terms, "a")
    weighed = []
    weigh = LexicalIndex._weigh
    monkeypatch.setattr(LexicalIndex, "_weigh", lambda *a: weighed.append(a[1]) or weigh(*a))
    for one in (index, reference):
        one.add(3, ("oauth", "token"), "a")
        one.add(4, ("cache",), "b")  # another group: another text
    assert weighed == [("cache",), ("cache",)]
    assert scores(index) == scores(reference)
    assert index.scores(["oauth"]).keys() == {0, 2, 3}


def test_recent_texts_stay_bounded_when_a_bulk_holds_more(monkeypatch):
    import reasoningbank.index as index_module

    monkeypatch.setattr(index_module, "_RECENT_TEXTS", 4)
    index = LexicalIndex()
    texts = [(f"t{i}",) for i in range(10)]
    index.add_many(list(range(10)), texts, [None] * 10)
    assert set(index._recent) == {(None, t) for t in texts[-4:]}
    index.add(10, ("x",))
    assert len(index._recent) <= 4
