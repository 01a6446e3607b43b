"""reasoning_analyze's numbers: near-duplicates by the index's own tf-idf definition."""

from __future__ import annotations

import random

from reasoningbank.bank import ReasoningBank
from reasoningbank.index import LexicalIndex
from reasoningbank.mcp_server import ToolSet
from reasoningbank.model import Pattern
from reasoningbank.text import analyze

from .conftest import run

WORDS = ["cache", "deploy", "oauth", "token", "index", "query", "retry", "flaky", "build",
         "pipeline", "service", "billing", "search", "schema", "migration"]  # fmt: skip


def _patterns(n: int, seed: int = 7) -> list[Pattern]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 9)))
        out.append(
            Pattern.from_dict(
                {
                    "task_description": text,
                    "task_category": rng.choice("ab"),
                    "strategy": rng.choice("xy"),
                    "outcome": {"success": rng.random() < 0.5},
                },
                new_id=f"p{i:04d}",
                now=1_700_000_000.0 + i,
            )  # fmt: skip
        )
    return out


def _index_pairs(patterns: list[Pattern], threshold: float) -> set[tuple[str, str]]:
    """Every pair the lexical index itself calls near-duplicates (one query per pattern)."""
    index = LexicalIndex()
    for slot, p in enumerate(patterns):
        index.add(slot, analyze(p.task_description), p.task_category)
    pairs = set()
    for slot, p in enumerate(patterns):
        for other, _ in index.near_duplicates(
            analyze(p.task_description), threshold, lambda s, me=slot: s != me, p.task_category
        ):
            pairs.add(tuple(sorted((p.id, patterns[other].id))))
    return pairs


def test_analyze_reports_exactly_the_index_near_duplicates(db_path):
    """One definition: the pairs reasoning_analyze reports (through the tool, over a real
    bank file) are the pairs ``LexicalIndex.near_duplicates`` finds, no more, no fewer."""
    patterns = _patterns(400)

    async def go(threshold: float) -> dict:
        async with await ReasoningBank.open(db_path, dedup_threshold=None) as bank:
            if not await bank.all_patterns():
                await bank.store_patterns(patterns)
            return await ToolSet(bank).call(
                "reasoning_analyze", {"near_duplicate_threshold": threshold, "limit": 1000}
            )

    for threshold in (0.9, 0.7, 1.0):
        got = run(go(threshold))["near_duplicates"]
        want = _index_pairs(patterns, threshold)
        assert want, threshold  # the data has near-duplicates at every threshold
        if len(want) <= 1000:
            assert {tuple(sorted((d["a"], d["b"]))) for d in got["pairs"]} == want, threshold
        assert got["total"] == len(want) and got["complete"], threshold


def test_counts_and_lists_agree_with_brute_force():
    from reasoningbank.analysis import near_duplicates

    patterns = _patterns(300, seed=3)
    want = _index_pairs(patterns, 0.8)
    by_id = {p.id: p for p in patterns}
    conflicting = {
        pair for pair in want if by_id[pair[0]].outcome.success != by_id[pair[1]].outcome.success
    }
    dups = near_duplicates(patterns, 0.8, limit=10**6)
    assert dups.total == len(want) and dups.conflicting == len(conflicting)
    ids = {tuple(sorted((patterns[i].id, patterns[j].id))) for i, j, _ in dups.pairs}
    assert ids == want
    listed = {tuple(sorted((patterns[i].id, patterns[j].id))) for i, j, _ in dups.conflicting_pairs}
    assert listed == conflicting
    sims = [sim for _, _, sim in dups.pairs]
    assert sims == sorted(sims, reverse=True)  # most similar first
    one_category = near_duplicates(patterns, 0.8, task_category="a", limit=10**6)
    assert all(patterns[i].task_category == "a" for i, _, _ in one_category.pairs)
    assert 0 < one_category.total < dups.total


def test_a_task_retried_thousands_of_times_is_counted_not_enumerated():
    """6,000 attempts at 3 tasks: 6M pairs, counted from the group sizes (the old pass
    compared every pair); the lists stop at the limit."""
    from reasoningbank.analysis import near_duplicates

    patterns = [
        Pattern.from_dict(
            {
                "task_description": f"speed up the {task} pipeline",
                "task_category": "ci",
                "strategy": "s",
                "outcome": {"success": i % 2 == 0},
            },
            new_id=f"p{i}",
            now=1_700_000_000.0,
        )  # fmt: skip
        for i in range(6000)
        for task in (("build", "deploy", "test")[i % 3],)
    ]
    dups = near_duplicates(patterns, 0.9, limit=5)
    assert dups.total == 3 * (2000 * 1999 // 2)
    won = [sum(1 for i in range(k, 6000, 3) if i % 2 == 0) for k in range(3)]
    assert dups.conflicting == sum(w * (2000 - w) for w in won) > 0
    assert len(dups.pairs) == len(dups.conflicting_pairs) == 5
    assert all(sim == 1.0 for _, _, sim in dups.pairs)
    assert all(
        patterns[i].outcome.success != patterns[j].outcome.success
        for i, j, _ in dups.conflicting_pairs
    )


def test_the_work_budget_is_reported():
    from reasoningbank.analysis import near_duplicates

    patterns = _patterns(300, seed=5)
    assert near_duplicates(patterns, 0.7).complete
    partial = near_duplicates(patterns, 0.7, budget=10)
    assert not partial.complete and partial.total <= near_duplicates(patterns, 0.7).total
