"""retrieve() and find_similar(diversity=): the most similar past tasks, MMR-diversified."""

from __future__ import annotations

import pytest

from reasoningbank import InvalidPattern, ReasoningBank
from tests.conftest import run

# Three near-copies of one lesson and one different lesson, all on flight booking.
LESSONS = [
    ("book a cheap flight to Oslo", "Sort by price", "Sort results by price and pick the top fare."),
    ("book a cheap flight to Oslo now", "Sort by price first", "Sort results by price and pick the top fare first."),
    ("book a cheap flight to Oslo today", "Sort fares by price", "Sort the results by price, then pick the top fare."),
    ("book a cheap flight to Oslo in May", "Check baggage fees", "Compare the total with baggage fees, not the base fare."),
]  # fmt: skip


async def _bank_with_lessons(db_path: str) -> ReasoningBank:
    bank = await ReasoningBank.open(db_path)
    await bank.store_patterns(
        [
            {
                "task_description": task,
                "task_category": "web",
                "strategy": title,
                "context": {
                    "memory": {"title": title, "description": title + ".", "content": content,
                               "kind": "success", "provenance": {"task": task}}
                },
                "outcome": {"success": True, "success_score": 0.9},
            }
            for task, title, content in LESSONS
        ]
        + [{"task_description": "book a cheap flight to Oslo", "task_category": "web",
            "strategy": "plain pattern, not an item", "success_score": 0.9}]
    )  # fmt: skip
    return bank


def test_retrieve_returns_only_items_of_similar_tasks(db_path):
    async def go():
        async with await _bank_with_lessons(db_path) as bank:
            return (
                await bank.retrieve("cheap flight to Oslo", category="web", k=10),
                await bank.retrieve("bake sourdough bread", category="web", k=10),
                await bank.retrieve("cheap flight to Oslo", category="other", k=10),
            )

    similar, unrelated, other_category = run(go())
    assert {i.title for i in similar} == {t for _, t, _ in LESSONS}
    assert unrelated == [] and other_category == []
    assert all(i.category == "web" and i.id and i.confidence is not None for i in similar)


def test_diversity_swaps_near_copies_for_a_different_lesson(db_path):
    async def go():
        async with await _bank_with_lessons(db_path) as bank:
            plain = await bank.retrieve("book a cheap flight to Oslo", k=2)
            diverse = await bank.retrieve("book a cheap flight to Oslo", k=2, diversity=0.7)
            return plain, diverse

    plain, diverse = run(go())
    assert [i.title for i in plain] == ["Sort by price", "Sort by price first"]
    assert {i.title for i in diverse} == {"Sort by price", "Check baggage fees"}


def test_find_similar_with_diversity_zero_is_unchanged(db_path):
    async def go():
        async with await _bank_with_lessons(db_path) as bank:
            before = await bank.find_similar("book a cheap flight to Oslo", top_k=5)
            zero = await bank.find_similar("book a cheap flight to Oslo", top_k=5, diversity=0.0)
            diverse = await bank.find_similar("book a cheap flight to Oslo", top_k=2, diversity=0.8)
            return before, zero, diverse

    before, zero, diverse = run(go())
    assert [(m.pattern.id, m.score) for m in zero] == [(m.pattern.id, m.score) for m in before]
    assert [m.pattern.strategy for m in before[:2]] != [m.pattern.strategy for m in diverse]
    assert diverse[0].pattern.id == before[0].pattern.id  # the best match is always first
    assert len({m.pattern.strategy for m in diverse}) == 2


@pytest.mark.parametrize("bad", [-0.1, 1.5, "0.3", True, float("nan")])
def test_bad_diversity_is_refused(db_path, bad):
    async def go():
        async with await _bank_with_lessons(db_path) as bank:
            with pytest.raises(InvalidPattern, match="diversity must be a number in"):
                await bank.find_similar("flight", diversity=bad)
            with pytest.raises(InvalidPattern, match="diversity must be a number in"):
                await bank.retrieve("flight", diversity=bad)

    run(go())


@pytest.mark.parametrize("bad", [0, -1, 10_001, 2.5])
def test_bad_k_is_refused(db_path, bad):
    async def go():
        async with await ReasoningBank.open(db_path) as bank:
            with pytest.raises(InvalidPattern, match="k must be"):
                await bank.retrieve("flight", k=bad)

    run(go())
