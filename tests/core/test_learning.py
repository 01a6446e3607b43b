import random

from reasoningbank import learning
from reasoningbank.learning import Evidence
from reasoningbank.model import Metadata

NOW = 1_700_000_000.0
DAY = 86_400.0


def test_observe_updates_counts_average_and_confidence():
    meta = Metadata(created_at=NOW, updated_at=NOW)
    learning.observe(meta, 1.0, NOW)
    learning.observe(meta, 0.0, NOW + 1)
    learning.observe(meta, 1.0, NOW + 2)
    assert meta.usage_count == 3
    assert meta.success_count == 2.0 and meta.failure_count == 1.0
    assert abs(meta.avg_success_score - 2 / 3) < 1e-12
    assert abs(meta.confidence - 3 / 5) < 1e-12  # Beta(1+2, 1+1) mean
    assert meta.updated_at == NOW + 2


def test_opposite_outcome_after_a_clear_record_is_a_contradiction():
    meta = Metadata(created_at=NOW, updated_at=NOW)
    assert not learning.observe(meta, 0.9, NOW)
    assert learning.observe(meta, 0.1, NOW)
    assert meta.contradictions == 1


def ev(pid, strategy, sim, s, f, age_days=0.0):
    return Evidence(pid, strategy, sim, s, f, NOW - age_days * DAY)


def test_failures_lower_a_strategy_below_one_that_succeeded():
    evidence = [
        ev("a", "big-bang", 0.9, 0, 3),
        ev("b", "incremental", 0.8, 2, 0),
        ev("c", "big-bang", 0.7, 1, 0),
    ]
    rec = learning.recommend(evidence, now=NOW, half_life_days=30)
    assert rec.strategy == "incremental"
    assert rec.evidence == ["b"]
    assert [a["strategy"] for a in rec.alternatives] == ["incremental", "big-bang"]
    assert 0.5 < rec.confidence < 1.0


def test_similarity_weights_evidence():
    close = [ev("a", "x", 0.95, 1, 0), ev("b", "y", 0.05, 5, 0)]
    assert learning.recommend(close, now=NOW, half_life_days=None).strategy == "x"


def test_old_evidence_decays_with_half_life():
    assert learning.decay_weight(30 * DAY, 30) == 0.5
    old_win = ev("a", "old", 1.0, 10, 0, age_days=365)
    fresh_loss_then_win = ev("b", "new", 1.0, 2, 0, age_days=0)
    with_decay = learning.recommend([old_win, fresh_loss_then_win], now=NOW, half_life_days=30)
    without = learning.recommend([old_win, fresh_loss_then_win], now=NOW, half_life_days=None)
    assert with_decay.strategy == "new"
    assert without.strategy == "old"


def test_thompson_sampling_is_reproducible_with_a_seed_and_explores():
    evidence = [ev("a", "x", 1.0, 3, 2), ev("b", "y", 1.0, 2, 2)]
    picks = [
        learning.recommend(evidence, now=NOW, half_life_days=None, rng=random.Random(s)).strategy
        for s in range(200)
    ]
    again = [
        learning.recommend(evidence, now=NOW, half_life_days=None, rng=random.Random(s)).strategy
        for s in range(200)
    ]
    assert picks == again
    assert 20 < picks.count("y") < 180  # both arms get tried


def test_no_evidence_gives_no_strategy():
    rec = learning.recommend([], now=NOW, half_life_days=30)
    assert rec.strategy is None and rec.confidence == 0.0 and rec.evidence == []
