"""bench.ab runs two checkouts of the bank side by side in one process: here the tree against
itself, so every ratio is near 1 and each side's rows are real measurements."""

import asyncio
import sys

from bench import ab
from tests.conftest import ROOT


def test_the_tree_against_itself(monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))  # the baseline's copy joins sys.path
    out = asyncio.run(ab.run(str(ROOT), [300], pairs=2, blocks=2))
    sys.modules.pop("rb_baseline", None)
    found = out["sizes"]["300"]
    assert found["bulk_per_s"]["turns"] == 2 and found["single_store_p50_us"]["turns"] == 2
    for measure in found.values():
        assert measure["new_median"] > 0 and measure["old_median"] > 0
        assert 0.05 < measure["ratio_min"] <= measure["ratio_median"] <= measure["ratio_max"] < 20
