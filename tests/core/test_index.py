import math
import random

import pytest

from reasoningbank.index import LexicalIndex, term_weights
from reasoningbank.text import analyze, stem

WORDS = (
    "oauth token refresh database connection pool leak cache redis rate limit api endpoint "
    "schema migration webhook retry payload upload stream login form modal image"
).split()


def test_analyze_lowercases_drops_stop_words_and_stems():
    assert analyze("Refreshing the OAuth tokens") == ["refresh", "oauth", "token"]
    assert stem("connections") == stem("connection") == "connect"
    assert analyze("über größe 42") == ["über", "größe", "42"]


def _brute_cosine(index, a_terms, b_terms):
    va = {t: w * index.idf(t) for t, w in term_weights(a_terms).items()}
    vb = {t: w * index.idf(t) for t, w in term_weights(b_terms).items()}
    dot = sum(w * vb.get(t, 0.0) for t, w in va.items())
    na = math.sqrt(sum(w * w for w in va.values()))
    nb = math.sqrt(sum(w * w for w in vb.values()))
    return dot / (na * nb) if na and nb else 0.0


def test_inverted_index_scores_equal_brute_force_cosine():
    rnd = random.Random(3)
    docs = [[rnd.choice(WORDS) for _ in range(rnd.randint(1, 8))] for _ in range(500)]
    index = LexicalIndex()
    for slot, terms in enumerate(docs):
        index.add(slot, terms)
    for _ in range(50):
        query = [rnd.choice(WORDS) for _ in range(rnd.randint(1, 5))] + ["neverseen"]
        scores = index.scores(query)
        for slot, terms in enumerate(docs):
            assert math.isclose(
                scores.get(slot, 0.0), _brute_cosine(index, query, terms), abs_tol=1e-9
            )


def test_idf_grows_incrementally_without_reindexing_and_stays_exact():
    index = LexicalIndex(drift=0.05)
    index.add(0, ["oauth", "token"])
    index.add(1, ["oauth", "cache"])
    index.scores(["cache"])
    first = index.idf("cache")
    for slot in range(2, 200):
        index.add(slot, ["cache", "redis"])
    scores = index.scores(["oauth", "cache"])  # triggers the snapshot refresh
    assert index.idf("cache") < first  # common now, so it weighs less
    assert index.idf("oauth") > index.idf("cache")
    assert math.isclose(
        scores[1], _brute_cosine(index, ["oauth", "cache"], ["oauth", "cache"]), abs_tol=1e-9
    )
    assert math.isclose(
        scores[0], _brute_cosine(index, ["oauth", "cache"], ["oauth", "token"]), abs_tol=1e-9
    )


def test_removed_documents_disappear_from_results():
    index = LexicalIndex()
    index.add(0, ["oauth"])
    index.add(1, ["oauth", "token"])
    index.remove(0)
    assert set(index.scores(["oauth"])) == {1}
    assert len(index) == 1


def test_near_duplicates_match_brute_force_filter():
    rnd = random.Random(5)
    index = LexicalIndex()
    docs = [[rnd.choice(WORDS[:8]) for _ in range(4)] for _ in range(300)]
    for slot, terms in enumerate(docs):
        index.add(slot, terms)
    for query in docs[:40]:
        found = {s for s, _ in index.near_duplicates(query, 0.9, lambda s: s % 2 == 0)}
        expected = {
            s
            for s, t in enumerate(docs)
            if s % 2 == 0 and _brute_cosine(index, query, t) >= 0.9 - 1e-12
        }
        assert found == expected


@pytest.mark.parametrize("few", [0, 10**9])  # texts scored by columns / one by one
@pytest.mark.parametrize("threshold", [0.95, 0.8, 0.5, 0.2])
def test_near_duplicates_with_required_terms_and_new_words_match_brute_force(
    threshold, few, monkeypatch
):
    """The near-duplicate check scores only texts holding every term whose absence alone
    rules a document out, and nothing when the query's known words cannot reach the
    threshold (a new word): the same documents as scoring every one, in each group and in
    all of them, before and after removals."""
    import reasoningbank.index as index_module

    monkeypatch.setattr(index_module, "_FEW_TEXTS", few)
    rnd = random.Random(13)
    index = LexicalIndex()
    docs = {}
    for slot in range(400):
        docs[slot] = ([rnd.choice(WORDS[:10]) for _ in range(rnd.randint(1, 6))], rnd.choice("ab"))
        index.add(slot, *docs[slot])
    for slot in rnd.sample(sorted(docs), 60):
        index.remove(slot)
        del docs[slot]
    queries = [docs[s][0] for s in sorted(docs)[:30]]
    queries += [q + ["neverseen"] for q in queries[:10]]  # a new word: weighs in the norm
    queries += [q + ["neverseen", "unheardof", "novel"] for q in queries[:5]]
    for query in queries:
        for group in (None, "a", "b"):
            got = index.near_duplicates(
                query, threshold, lambda s: s % 3 != 0, *(() if group is None else (group,))
            )
            expected = {
                s
                for s, (terms, g) in docs.items()
                if s % 3 != 0
                and group in (None, g)
                and _brute_cosine(index, query, terms) >= threshold - 1e-12
            }
            assert {s for s, _ in got} == expected
            for s, sim in got:
                assert sim == pytest.approx(_brute_cosine(index, query, docs[s][0]), abs=1e-9)


def test_group_restricted_scores_equal_filtered_global_scores():
    rnd = random.Random(8)
    index = LexicalIndex()
    docs = []
    for slot in range(600):
        terms = [rnd.choice(WORDS[:10]) for _ in range(3)]  # few distinct texts: many shared
        group = rnd.choice("abc")
        docs.append((terms, group))
        index.add(slot, terms, group)
    for slot in range(0, 600, 7):  # removals keep shared entries right
        index.remove(slot)
    for _ in range(30):
        query = [rnd.choice(WORDS[:10]) for _ in range(2)]
        everywhere = index.scores(query)
        for group in "abc":
            expected = {s: v for s, v in everywhere.items() if docs[s][1] == group}
            assert index.scores(query, group) == pytest.approx(expected)
        for slot, score in everywhere.items():
            assert slot % 7 and math.isclose(
                score, _brute_cosine(index, query, docs[slot][0]), abs_tol=1e-9
            )
        flat = {s: sim for sim, slots in index.scored_texts(query) for s in slots}
        assert flat == pytest.approx(everywhere)


def test_re_adding_a_document_keeps_it_searchable():
    """Re-indexing a slot (as record_outcome does) must not drop its postings."""
    index = LexicalIndex()
    index.add(0, ["oauth", "token", "refresh"], "b")
    index.add(1, ["refresh", "expir", "oauth", "token", "mobil", "app"], "b")
    index.scores(["oauth"])  # take the snapshot
    index.add(0, ["oauth", "token", "refresh"], "b")
    assert set(index.scores(["oauth", "token"])) == {0, 1}
    assert set(index.scores(["oauth", "token"], "b")) == {0, 1}


def _zipf_docs(rnd, n, vocab=300):
    words = [f"term{i}" for i in range(vocab)]
    weights = [1 / (i + 1) for i in range(vocab)]
    return [rnd.choices(words, weights, k=rnd.randint(1, 10)) for _ in range(n)]


@pytest.mark.parametrize("group", [None, "g1"])
def test_top_texts_keep_every_text_that_may_hold_a_top_slot(group):
    from reasoningbank.index import ANY_GROUP

    rnd = random.Random(7)
    docs = _zipf_docs(rnd, 2000)
    index = LexicalIndex()
    for slot, terms in enumerate(docs):
        index.add(slot, terms, f"g{slot % 3}")
    for slot in range(0, 2000, 17):
        index.remove(slot)  # stale bucket bounds must stay safe
    bonus_of = [rnd.random() for _ in docs]
    scope = ANY_GROUP if group is None else group
    for _ in range(120):
        query = _zipf_docs(rnd, 1)[0]
        k, gain = rnd.choice([1, 5, 10, 50]), rnd.choice([0.0, 0.05, 0.2])
        everything = index.scored_texts(query, scope)
        slot_scores = sorted(
            (v + gain * bonus_of[s] for v, slots in everything for s in slots), reverse=True
        )
        kth = slot_scores[k - 1] if len(slot_scores) >= k else -math.inf
        got = index.top_texts(query, k, scope, None if gain == 0.0 else bonus_of, gain)
        got_texts = {tuple(sorted(s)): v for v, s in got}
        for v, slots in everything:  # every text that can reach the k-th best is returned
            if v + gain >= kth - 1e-12:
                assert math.isclose(got_texts.pop(tuple(sorted(slots))), v, abs_tol=1e-12)
        for v in got_texts.values():  # extras (a safe floor is a lower bound) are exact too
            assert any(math.isclose(v, w, abs_tol=1e-12) for w, _ in everything)
        assert [v for v, _ in got] == sorted((v for v, _ in got), reverse=True)


def test_top_texts_skip_most_postings_of_common_terms():
    """The point of pruning: a query mixing a rare and a very common term does not walk the
    common term's postings (counted through the bucket dicts the index reads)."""
    index = LexicalIndex()
    for slot in range(5000):
        index.add(slot, ["common", f"rare{slot % 1000}", f"other{slot}"])
    walked = 0

    class Counting(dict):
        def items(self):
            nonlocal walked
            walked += len(self)
            return super().items()

    index.refresh(force=True)
    for by_group in index._postings:
        for g, bucket in by_group.items():
            by_group[g] = Counting(bucket)
    got = index.top_texts(["rare3", "common"], 5)
    assert {s for _, slots in got for s in slots} == {3, 1003, 2003, 3003, 4003}
    assert walked < 50  # the 5,000 postings of "common" were looked up, not walked


def test_the_english_prior_ships_with_the_analyzer_it_was_made_with():
    from importlib import resources

    from reasoningbank.index import english_prior
    from reasoningbank.text import ANALYZER_VERSION

    header = resources.files("reasoningbank").joinpath("idf_prior.txt").read_text().split("\n")[0]
    assert header.endswith(f"analyzer {ANALYZER_VERSION}."), "run scripts/make-idf-prior.py"
    prior = english_prior()
    assert len(prior) >= 900 and all(0.0 < p < 1.0 for p in prior.values())
    assert prior[stem("people")] > prior[stem("computer")] > prior.get(stem("oauth"), 0.0)


def test_an_almost_empty_bank_already_weighs_common_words_less():
    index = LexicalIndex()
    index.add(0, analyze("make the oauth token work"))
    assert index.idf(stem("make")) < index.idf("oauth")
    assert index.idf(stem("work")) < index.idf("token")
    scores = index.scores(analyze("make it work"))  # common words only: a weak match
    assert 0.0 < scores[0] < index.scores(analyze("oauth token"))[0]


def test_the_prior_fades_as_the_bank_learns_its_own_statistics():
    """The prior is worth PRIOR_DOCS documents: decisive in a tiny bank, a rounding error
    once the bank has seen the term in proportion to its size."""
    prior = {"common": 0.5}
    small, large = LexicalIndex(prior=prior), LexicalIndex(prior=prior)
    small.add(0, ["common", "x"])
    for slot in range(20000):
        large.add(slot, ["common" if slot % 4 == 0 else "other", f"t{slot}"])
    small.refresh(force=True)
    large.refresh(force=True)
    assert small.idf("common") < small.idf("x") - 1.0  # the prior speaks in a tiny bank
    bank_only = math.log(20001 / 5001) + 1  # df("common") = 5,000 of 20,000 documents
    assert abs(large.idf("common") - bank_only) < 0.06  # and is drowned out in a big one


def test_texts_remembered_by_their_terms_index_as_when_weighed_afresh(monkeypatch):
    """``add`` skips weighing the terms of a text it met lately (tuples); the index must be
    the one weighing every document builds: same scores, same IDF, after removals emptied
    a remembered text, and after the memory started over."""
    import reasoningbank.index as index_module

    monkeypatch.setattr(index_module, "_RECENT_TEXTS", 5)
    rnd = random.Random(11)
    texts = [tuple(rnd.choice(WORDS) for _ in range(rnd.randint(1, 6))) for _ in range(12)]
    remembered, weighed = LexicalIndex(), LexicalIndex()
    for step in range(600):
        slot = rnd.randrange(80)
        if rnd.random() < 0.3:
            remembered.remove(slot)
            weighed.remove(slot)
        else:
            terms, group = rnd.choice(texts), rnd.choice(("a", "b"))
            remembered.add(slot, terms, group)
            weighed.add(slot, list(terms), group)  # a list: never remembered
        if step % 50 == 0:
            query = list(rnd.choice(texts))
            for group in (None, "a"):
                assert remembered.scores(query, group) == pytest.approx(
                    weighed.scores(query, group)
                )
    assert len(remembered) == len(weighed)
    assert remembered.vocabulary_size == weighed.vocabulary_size
    for word in WORDS:
        assert remembered.idf(stem(word)) == pytest.approx(weighed.idf(stem(word)))
        assert remembered.idf(word) == pytest.approx(weighed.idf(word))


def test_terms_of_is_analyze_remembered_within_its_bounds(monkeypatch):
    import reasoningbank.text as text_module
    from reasoningbank.text import terms_of

    monkeypatch.setattr(text_module, "_TERMS", {})
    monkeypatch.setattr(text_module, "_TERMS_TEXTS", 3)
    monkeypatch.setattr(text_module, "_TERMS_TEXT_MAX", 40)
    seen = []
    for i in range(10):
        text = f"Refreshing the OAuth tokens {i}"
        first = terms_of(text)
        assert first == tuple(analyze(text))
        assert terms_of(text) is first  # remembered: the same tuple, shared
        seen.append(len(text_module._TERMS))
    assert max(seen) <= 3  # never more texts than the bound
    long_text = "refresh " * 10
    assert terms_of(long_text) == tuple(analyze(long_text))
    assert long_text not in text_module._TERMS  # longer than the bound: analysed each time
