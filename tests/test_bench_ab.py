"""bench.ab runs two checkouts of the bank side by side in one process: here the tree against
itself, so every ratio is near 1 and each side's rows are real measurements."""

import asyncio
import sys

from bench import ab
from tests.conftest import ROOT


def test_the_tree_against_itself(monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))  # the baseline's copy joins sys.path
    out = asyncio.run(ab.run(str(ROOT), [300], pairs=3, blocks=3))
    sys.modules.pop("rb_baseline", None)
    found = out["sizes"]["300"]
    assert found["bulk_per_s"]["turns"] == 3 and found["single_store_p50_us"]["turns"] == 3
    for name, measure in found.items():
        assert measure["new_median"] > 0 and measure["old_median"] > 0
        assert measure["ratio_min"] <= measure["ratio_median"] <= measure["ratio_max"]
        # a turn may stall on a busy machine (a test suite's other processes): the median
        # of three turns of the tree against itself still sits near 1
        assert 0.2 < measure["ratio_median"] < 5, (name, measure)


def test_any_scores_redraws_every_score_as_a_valid_float():
    pats = [{"task_description": "t", "task_category": "c", "strategy": "s",
             "success_score": 0.5, "outcome": {"success": True, "success_score": 0.5}}] * 500  # fmt: skip
    out = ab.any_scores(pats, 7)
    assert out == ab.any_scores(pats, 7) and out != ab.any_scores(pats, 8)  # seeded
    scores = [p["success_score"] for p in out]
    assert all(
        0.0 < s <= 1.0 and p["outcome"]["success_score"] == s
        for s, p in zip(scores, out, strict=True)
    )
    assert all(p["outcome"]["success"] == (p["success_score"] >= 0.5) for p in out)
    assert len(set(scores)) == len(scores)  # no outcome repeats
    assert pats[0]["success_score"] == 0.5  # the dataset itself is left alone
