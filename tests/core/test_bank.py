import pytest

import reasoningbank
from reasoningbank import BankClosed, InvalidPattern, NotFound, ReasoningBank
from tests.conftest import pattern, run


def open_bank(path=":memory:", **kw):
    return run(ReasoningBank.open(path, **kw))


def test_public_exports_are_pinned():
    assert sorted(reasoningbank.__all__) == sorted(
        [
            "BankClosed",
            "BusError",
            "ImportFailed",
            "InvalidPattern",
            "InvalidTrajectory",
            "LLMAnswerError",
            "LLMCallFailed",
            "LLMError",
            "LearnReport",
            "Match",
            "MattsReport",
            "MemoryItem",
            "Metadata",
            "NoBank",
            "NotABank",
            "NotFound",
            "Outcome",
            "Pattern",
            "ReadOnlyBank",
            "ReasoningBank",
            "ReasoningBankError",
            "Recommendation",
            "SchemaTooNew",
            "ScoreWeights",
            "StorageError",
            "Trajectory",
            "Verdict",
            "cosine",
            "default_location",
            "euclidean",
        ]
    )
    assert ReasoningBank.__module__ == "reasoningbank"


def test_store_get_and_find_similar_contract(db_path):
    async def go():
        async with await ReasoningBank.open(db_path) as bank:
            pid = await bank.store_pattern(
                {
                    "task_description": "add oauth token refresh",
                    "task_category": "backend",
                    "strategy": "test-driven",
                    "context": {"lang": "python"},
                    "outcome": {"success": True, "success_score": 0.9, "duration_seconds": 42.0},
                }
            )
            await bank.store_pattern(pattern("paginate query results", strategy="spec-first"))
            await bank.store_pattern(pattern("refresh oauth session cookie", category="frontend"))
            got = await bank.get_pattern(pid)
            assert got.task_description == "add oauth token refresh"
            assert got.context == {"lang": "python"}
            assert got.outcome.duration_seconds == 42.0
            assert await bank.get_pattern("nope") is None
            matches = await bank.find_similar("refresh oauth tokens", "backend", top_k=5)
            assert [m.pattern.id for m in matches] == [pid]
            m = matches[0]
            assert 0 < m.similarity <= 1 and m.score > 0
            assert set(m.parts) >= {"similarity", "lexical", "category", "context", "outcome"}
            assert m.parts["category"] == 1.0
            anywhere = await bank.find_similar("refresh oauth tokens", top_k=5)
            assert {x.pattern.task_category for x in anywhere} == {"backend", "frontend"}
            assert await bank.find_similar("refresh oauth tokens", top_k=5, min_score=0.99) == []

    run(go())


def test_find_similar_ranks_closer_tasks_first_and_honours_top_k():
    bank = open_bank(dedup_threshold=None)
    descs = [
        "fix database connection pool leak",
        "database backup nightly",
        "connection pool tuning",
        "fix css layout",
        "fix memory leak in worker",
    ]
    ids = run(bank.store_patterns([pattern(d, score=0.5) for d in descs]))
    matches = run(bank.find_similar("database connection pool leak", top_k=3))
    assert len(matches) == 3
    assert matches[0].pattern.id == ids[0]
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)


def test_context_overlap_and_outcome_feed_the_composite_score():
    bank = open_bank(dedup_threshold=None)
    a, b = run(
        bank.store_patterns(
            [
                pattern("deploy service", context={"cloud": "aws"}, score=0.5),
                pattern("deploy service", context={"cloud": "gcp"}, score=0.5),
            ]
        )
    )
    top = run(bank.find_similar("deploy service", context={"cloud": "gcp"}, top_k=2))
    assert (
        top[0].pattern.id == b and top[0].parts["context"] == 1.0 and top[1].parts["context"] == 0.0
    )
    run(bank.record_outcome(a, success=True, score=1.0))
    run(bank.record_outcome(a, success=True, score=1.0))
    top = run(bank.find_similar("deploy service", top_k=2))
    assert top[0].pattern.id == a and top[0].parts["outcome"] > top[1].parts["outcome"]


def test_record_outcome_learns_and_persists(db_path):
    bank = open_bank(db_path)
    pid = run(bank.store_pattern(pattern("migrate user table schema", score=1.0)))
    before = run(bank.get_pattern(pid)).metadata.confidence
    updated = run(bank.record_outcome(pid, success=False, score=0.0, error_message="lock timeout"))
    assert updated.metadata.usage_count == 1
    assert updated.metadata.confidence < before
    assert updated.outcome.error_message == "lock timeout"
    assert updated.metadata.contradictions == 1  # success then failure: opposite outcomes
    run(bank.close())
    again = open_bank(db_path)
    assert run(again.get_pattern(pid)).metadata.confidence == updated.metadata.confidence
    with pytest.raises(NotFound):
        run(again.record_outcome("missing", success=True))
    with pytest.raises(InvalidPattern):
        run(again.record_outcome(pid))
    run(again.close())


def test_recommend_strategy_prefers_what_worked_on_similar_tasks(clock):
    bank = open_bank(clock=clock, dedup_threshold=None)
    run(
        bank.store_patterns(
            [pattern("add oauth token refresh", strategy="big-bang", score=0.1) for _ in range(3)]
            + [
                pattern("oauth token refresh flow", strategy="test-driven", score=0.9)
                for _ in range(2)
            ]
            + [pattern("style the navbar", strategy="big-bang", score=1.0) for _ in range(5)]
        )
    )
    rec = run(bank.recommend_strategy("refresh oauth tokens", "backend"))
    assert rec.strategy == "test-driven"
    assert len(rec.evidence) == 2
    assert rec.alternatives[-1]["strategy"] == "big-bang"
    explored = [
        run(
            bank.recommend_strategy("refresh oauth tokens", "backend", explore=True, seed=s)
        ).strategy
        for s in range(30)
    ]
    assert explored == [
        run(
            bank.recommend_strategy("refresh oauth tokens", "backend", explore=True, seed=s)
        ).strategy
        for s in range(30)
    ]
    empty = run(bank.recommend_strategy("quantum chromodynamics", "physics"))
    assert empty.strategy is None


def test_near_duplicates_merge_instead_of_piling_up():
    bank = open_bank()
    a = run(bank.store_pattern(pattern("Fix the database connection pool leak", score=0.9)))
    b = run(bank.store_pattern(pattern("fix database connection pool leaks", score=0.1)))
    c = run(
        bank.store_pattern(
            pattern("fix database connection pool leak", strategy="other", score=0.1)
        )
    )
    assert a == b and c != a
    merged = run(bank.get_pattern(a))
    assert merged.metadata.merged_count == 1
    assert merged.metadata.contradictions == 1
    assert merged.metadata.success_count == pytest.approx(1.0)
    assert run(bank.get_stats())["total_patterns"] == 2
    explicit = run(bank.store_pattern(pattern("fix database connection pool leak", id="keep-me")))
    assert explicit == "keep-me"


def test_consolidate_merges_bulk_duplicates_and_prunes_stale(clock):
    bank = open_bank(clock=clock, dedup_threshold=0.95, half_life_days=10)
    ids = run(
        bank.store_patterns(
            [pattern("rotate tls certificates", score=1.0) for _ in range(3)]
            + [pattern("tune autoscaling", score=0.0)]
        )
    )
    assert len(set(ids)) == 4  # bulk stores keep every record
    clock.advance(5 * 86_400)
    fresh = run(bank.store_pattern(pattern("cache build artifacts", score=1.0)))
    clock.advance(30 * 86_400)
    preview = run(bank.consolidate(dry_run=True, min_evidence=0.1))
    assert run(bank.get_stats())["total_patterns"] == 5
    report = run(bank.consolidate(min_evidence=0.1))
    assert report == {**preview, "dry_run": False}
    assert report["merged"] == [{"into": ids[0], "ids": ids[1:3]}]
    assert set(report["pruned"]) == {ids[3]}  # 1 observation aged 35 days: weight 0.09
    kept = run(bank.get_pattern(ids[0]))
    assert kept.metadata.success_count == pytest.approx(3.0) and kept.metadata.merged_count == 2
    assert run(bank.get_pattern(fresh)) is not None


def test_invalid_input_is_refused_and_loses_nothing(db_path):
    bank = open_bank(db_path)
    keep = run(bank.store_pattern(pattern("keep me")))
    with pytest.raises(InvalidPattern, match="pattern #1"):
        run(bank.store_patterns([pattern("fine"), {"task_description": "no category"}]))
    with pytest.raises(InvalidPattern, match="JSON"):
        run(bank.store_pattern(pattern("bad context", context={"x": object()})))
    assert run(bank.get_stats())["total_patterns"] == 1
    run(bank.close())
    bank = open_bank(db_path)
    assert [p.id for p in run(bank.all_patterns())] == [keep]
    run(bank.close())


def test_closed_bank_raises():
    bank = open_bank()
    run(bank.close())
    with pytest.raises(BankClosed):
        run(bank.get_stats())


def test_search_by_category_newest_first(clock):
    bank = open_bank(clock=clock, dedup_threshold=None)
    ids = []
    for i in range(4):
        ids.append(run(bank.store_pattern(pattern(f"task number {i}", category="ops"))))
        clock.advance(10)
    assert [p.id for p in run(bank.search_by_category("ops", limit=3))] == ids[::-1][:3]
    assert run(bank.search_by_category("none")) == []


def test_bring_your_own_vectors_and_embedder_callable():
    bank = open_bank(dedup_threshold=None)
    run(
        bank.store_patterns(
            [
                pattern("alpha", embedding=[1.0, 0.0, 0.0]),
                pattern("beta", embedding=[0.0, 1.0, 0.0]),
            ]
        )
    )
    hit = run(bank.find_similar("unrelated words", embedding=[0.9, 0.1, 0.0], top_k=1))[0]
    assert hit.pattern.task_description == "alpha" and "semantic" in hit.parts
    assert hit.pattern.embedding == [1.0, 0.0, 0.0]
    with pytest.raises(InvalidPattern, match="dimension"):
        run(bank.store_pattern(pattern("gamma", embedding=[1.0, 2.0])))

    vocab = ["oauth", "database", "frontend"]

    async def embed(text):
        return [float(w in text) + 0.01 for w in vocab]

    emb_bank = open_bank(embedder=embed, dedup_threshold=None)
    run(emb_bank.store_patterns([pattern("oauth flow"), pattern("database tuning")]))
    top = run(emb_bank.find_similar("database", top_k=1))[0]
    assert top.pattern.task_description == "database tuning"
    assert run(emb_bank.get_stats())["index"]["dense_vectors"] == 2


def test_stats_report_counts_and_backends(db_path):
    bank = open_bank(db_path, dedup_threshold=None)
    run(
        bank.store_patterns(
            [
                pattern("a b", category="x", strategy="s1", score=1.0),
                pattern("c d", category="x", strategy="s2", score=0.0),
                pattern("e f", category="y", strategy="s1", score=1.0),
            ]
        )
    )
    stats = run(bank.get_stats())
    assert stats["total_patterns"] == 3
    assert stats["categories"] == {"x": 2, "y": 1}
    assert stats["strategies"] == {"s1": 2, "s2": 1}
    assert stats["success_rate"] == pytest.approx(2 / 3)
    assert stats["storage"]["backend"] == "sqlite" and stats["storage"]["location"] == db_path
    assert stats["runtime"] == "cpython"
    run(bank.close())


def test_delete_pattern():
    bank = open_bank()
    pid = run(bank.store_pattern(pattern("short lived")))
    run(bank.delete_pattern(pid))
    assert run(bank.get_pattern(pid)) is None
    assert run(bank.find_similar("short lived")) == []
    with pytest.raises(NotFound):
        run(bank.delete_pattern(pid))


def test_hybrid_ranking_is_the_same_with_numpy_and_pure_python():
    import random

    pytest.importorskip("numpy")
    rnd = random.Random(2)
    words = "oauth token refresh cache redis pool leak schema deploy rollback login form".split()
    pats = []
    for i in range(400):
        p = pattern(
            " ".join(rnd.choice(words) for _ in range(4)),
            category=rnd.choice("abc"),
            strategy=rnd.choice("xyz"),
            score=rnd.random(),
        )
        if i % 3:  # a third of the patterns have no vector: lexical only for them
            p["embedding"] = [rnd.gauss(0, 1) for _ in range(16)]
        pats.append(p)
    banks = [open_bank(vector_backend=b, dedup_threshold=None) for b in ("numpy", "python")]
    for bank in banks:
        run(bank.store_patterns([dict(p) for p in pats]))
    for _ in range(20):
        query = " ".join(rnd.choice(words) for _ in range(2))
        vec = [rnd.gauss(0, 1) for _ in range(16)]
        cat = rnd.choice([None, "a", "b"])
        fast, pure = (run(b.find_similar(query, cat, top_k=7, embedding=vec)) for b in banks)
        assert [m.pattern.task_description for m in fast] == [
            m.pattern.task_description for m in pure
        ]
        for a, b in zip(fast, pure, strict=False):
            assert a.score == pytest.approx(b.score, abs=1e-6)
            assert a.parts.keys() == b.parts.keys()
            assert a.parts.get("semantic", 0) == pytest.approx(b.parts.get("semantic", 0), abs=1e-6)


def test_recorded_outcome_keeps_the_pattern_findable():
    bank = open_bank()
    a = run(bank.store_pattern(pattern("add oauth token refresh")))
    run(bank.store_pattern(pattern("refresh expired oauth tokens in the mobile app")))
    run(bank.record_outcome(a, success=True, score=1.0))
    assert a in {m.pattern.id for m in run(bank.find_similar("oauth token", top_k=5))}


@pytest.mark.parametrize("outcome_weight", [0.15, 0.6, 0.0])
def test_pruned_lexical_ranking_equals_scoring_every_candidate(outcome_weight):
    import heapq
    import random

    from reasoningbank import ScoreWeights
    from reasoningbank.text import analyze

    rnd = random.Random(5)
    words = [f"word{i}" for i in range(200)]
    zipf = [1 / (i + 1) for i in range(200)]
    weights = ScoreWeights(outcome=outcome_weight)
    bank = open_bank(dedup_threshold=None, weights=weights)
    texts = [" ".join(rnd.choices(words, zipf, k=rnd.randint(2, 8))) for _ in range(300)]
    ids = run(
        bank.store_patterns(
            [
                pattern(rnd.choice(texts), category=rnd.choice("abc"), score=rnd.random())
                for _ in range(3000)
            ]
        )
    )

    def check(queries):
        for _ in range(queries):
            query = " ".join(rnd.choices(words, zipf, k=rnd.randint(1, 5)))
            category, k = rnd.choice([None, "a", "b"]), rnd.choice([1, 5, 20])
            got = [
                (m.pattern.id, round(m.score, 9))
                for m in run(bank.find_similar(query, category, k))
            ]
            lex = bank._table.lex.scores(analyze(query), *([] if category is None else [category]))
            every = heapq.nlargest(k, bank._ranker.score(lex, {}, category, None, True))
            ids = bank._table.ids
            assert got == [(ids[-neg], round(s, 9)) for s, neg in every], (query, category)

    check(40)  # also ranks each text's slots by outcome, kept until they change
    for pid in rnd.sample(ids, 300):
        run(bank.record_outcome(pid, success=rnd.random() < 0.5, score=rnd.random()))
    check(40)
    for pid in rnd.sample(ids, 200):
        run(bank.delete_pattern(pid))
    check(40)


@pytest.mark.parametrize("strict", [True, False])
def test_hybrid_ranking_from_nearest_vectors_equals_scoring_every_vector(strict):
    """Vector indexes without numpy rank from their nearest rows (one kernel call in the
    browser); the result must be what scoring every cosine gives."""
    import heapq
    import random

    from reasoningbank.text import analyze

    rnd = random.Random(9)
    words = [f"word{i}" for i in range(60)]
    bank = open_bank(dedup_threshold=None, vector_backend="python")
    dim = 8
    records = []
    for i in range(1500):
        p = pattern(
            " ".join(rnd.choices(words, k=4)), category=rnd.choice("abc"), score=rnd.random()
        )
        if i % 7:  # some patterns carry no vector: their text part is lexical only
            p["embedding"] = [rnd.gauss(0, 1) for _ in range(dim)]
        if i % 11 == 0:
            p["context"] = {"lang": rnd.choice(["py", "js"])}
        records.append(p)
    run(bank.store_patterns(records))
    for _ in range(60):
        query = " ".join(rnd.choices(words, k=rnd.randint(1, 3)))
        vector = [rnd.gauss(0, 1) for _ in range(dim)]
        category, k = rnd.choice([None, "a", "b"]), rnd.choice([1, 5, 50])
        context = rnd.choice([None, {"lang": "py"}])
        got = run(
            bank.find_similar(
                query, category, k, embedding=vector, context=context, strict_category=strict
            )
        )
        scope = [] if category is None or not strict else [category]
        lex = bank._table.lex.scores(analyze(query), *scope)
        sem = bank._table.dense.scores(vector)
        every = heapq.nlargest(k, bank._ranker.score(lex, sem, category, context, strict))
        assert [m.pattern.id for m in got] == [bank._table.ids[-neg] for _, neg in every]
        for m, (score, neg) in zip(got, every, strict=True):
            assert abs(m.score - score) < 1e-9
            semantic = sem.get(-neg)
            assert (m.parts.get("semantic") is None) == (semantic is None)
            assert semantic is None or abs(m.parts["semantic"] - semantic) < 1e-9


def test_stats_are_computed_once_per_change_and_always_current():
    bank = open_bank(dedup_threshold=None)
    a, b = run(bank.store_patterns([pattern("fix the login form"), pattern("tune the cache")]))
    first = run(bank.get_stats())
    first["categories"]["backend"] = 99  # a caller's edits do not leak into the next answer
    assert run(bank.get_stats())["categories"] == {"backend": 2}
    run(bank.record_outcome(a, success=False, score=0.0))
    after = run(bank.get_stats())
    assert after["observations"] > first["observations"]
    assert after["success_rate"] < first["success_rate"]
    run(bank.delete_pattern(b))
    assert run(bank.get_stats())["total_patterns"] == 1
    run(bank.store_pattern(pattern("bake bread", category="kitchen")))
    assert run(bank.get_stats())["categories"] == {"backend": 1, "kitchen": 1}


def test_a_bulk_store_equals_storing_one_by_one_including_merges(tmp_path):
    """The bulk path (one transaction, shared analysis, near-duplicate checks shared per
    batch) must leave exactly what storing each pattern in turn leaves: same merges into
    stored patterns (several into one, too), same counts, same search."""
    import random

    rnd = random.Random(5)
    words = "oauth token refresh cache redis pool leak schema deploy rollback".split()

    def batch(n):
        out = []
        for _ in range(n):
            p = pattern(
                " ".join(rnd.choice(words) for _ in range(3)),
                category=rnd.choice("ab"),
                strategy=rnd.choice("xy"),
                score=round(rnd.random(), 3),
            )
            if rnd.random() < 0.2:
                p["context"] = {"k": rnd.choice("uvw")}
            out.append(p)
        return out

    first, second, keys = batch(150), [], set()
    for p in batch(300):  # a batch is not checked against itself: no near-copies inside it
        key = (frozenset(p["task_description"].split()), p["task_category"], p["strategy"])
        if key not in keys:
            keys.add(key)
            second.append(p)
    second[5]["id"] = "explicit"  # never merged
    clock = iter(range(1_700_000_000, 1_800_000_000)).__next__

    def state(path, one_by_one):
        bank = open_bank(str(path), clock=clock)
        run(bank.store_patterns([dict(p) for p in first]))
        if one_by_one:
            ids = [run(bank.store_pattern(dict(p))) for p in second]
        else:
            ids = run(bank.store_patterns([dict(p) for p in second]))
        first_index = {}
        shape = [first_index.setdefault(i, len(first_index)) for i in ids]
        patterns = sorted(
            (
                p.task_description, p.task_category, p.strategy, sorted(p.context.items()),
                p.metadata.usage_count, p.metadata.merged_count, p.metadata.contradictions,
                round(p.metadata.success_count, 9), round(p.metadata.failure_count, 9),
            )
            for p in run(bank.all_patterns())
        )  # fmt: skip
        found = [
            [(m.pattern.task_description, m.pattern.strategy) for m in run(bank.find_similar(q))]
            for q in ("oauth token", "redis pool leak", "deploy rollback schema")
        ]
        run(bank.close())
        return shape, patterns, found

    bulk, single = state(tmp_path / "bulk.db", False), state(tmp_path / "single.db", True)
    assert bulk[0] == single[0]
    assert bulk[1] == single[1]
    assert bulk[2] == single[2]
    assert any(p[5] for p in bulk[1])  # merges did happen
