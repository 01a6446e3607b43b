"""MaTTS: k parallel attempts with self-contrast, and sequential self-refinement."""

from __future__ import annotations

import asyncio
import json

import pytest

from reasoningbank import InvalidPattern, ReasoningBank
from tests.conftest import run
from tests.loop.conftest import CONTRAST_KEY, JUDGE_KEY, ScriptedLLM

TASK = "book the cheapest flight to Oslo"
WIN = "action: search(sort='price')\nobservation: cheapest 79 EUR\naction: book\nobservation: Booking confirmed. Task completed."
LOSE = "action: book(first result)\nobservation: Error: payment declined\nI gave up."


def _attempts(*outcomes: str):
    """An agent whose i-th attempt produces ``outcomes[i]``; it records what it was told."""
    seen: list[tuple[str, str]] = []

    def agent(task: str, prompt: str) -> str:
        seen.append((task, prompt))
        return outcomes[len(seen) - 1]

    return agent, seen


def test_parallel_judges_every_attempt_and_returns_the_best(db_path):
    agent, seen = _attempts(LOSE, WIN, LOSE)

    async def go():
        async with await ReasoningBank.open(db_path) as bank:
            before = await bank.learn(TASK, WIN, category="web")  # something to remember
            return before, await bank.matts_parallel(TASK, agent, k=3, category="web")

    before, report = run(go())
    assert len(seen) == 3 and all(t == TASK for t, _ in seen)
    assert all("<memories>" in p for _, p in seen)  # each attempt got the memory prompt
    assert [v.success for v in report.verdicts] == [False, True, False]
    assert report.best == WIN and report.best_verdict.success
    kinds = [i.kind for i in report.items]
    assert "success" in kinds and "failure" in kinds and len(report.items) <= 5
    new = [i for i in report.items if i.id not in before.ids]
    assert new and all(i.provenance["matts"] == {"mode": "parallel", "attempts": 3} for i in new)
    # the winning attempt repeats the lesson already learnt: it reinforced it
    assert set(before.ids) <= set(report.ids)


def test_parallel_with_llm_self_contrast_keeps_at_most_five_items(db_path):
    many = json.dumps({"items": [
        {"kind": "success" if i % 2 else "failure", "title": f"Lesson {i}", "description": "D.",
         "content": f"Distinct advice number {i} about {'fares' if i % 2 else 'payments'} {'z' * i}."}
        for i in range(7)]})  # fmt: skip
    llm = ScriptedLLM(
        [
            (CONTRAST_KEY, many),
            (JUDGE_KEY, lambda p: json.dumps({"success": "confirmed" in p, "reason": "r"})),
        ],
        is_async=True,
    )

    async def agent(task, prompt):
        return WIN if "Lesson" not in prompt else LOSE

    async def go():
        async with await ReasoningBank.open(db_path) as bank:
            return await bank.matts_parallel(TASK, agent, k=2, llm=llm)

    report = run(go())
    assert llm.asked(JUDGE_KEY) == 2 and llm.asked(CONTRAST_KEY) == 1
    contrast = next(p for p in llm.prompts if CONTRAST_KEY in p)
    assert "--- attempt 1 (success" in contrast and "--- attempt 2 (success" in contrast
    assert [i.title for i in report.items] == [f"Lesson {i}" for i in range(5)]


def test_sequential_feeds_each_verdict_into_the_next_attempt(db_path):
    agent, seen = _attempts(LOSE, WIN, WIN)

    async def go():
        async with await ReasoningBank.open(db_path) as bank:
            return await bank.matts_sequential(TASK, agent, steps=3)

    report = run(go())
    assert "previous attempt" not in seen[0][1]
    assert "Your previous attempt at this task was judged: failure" in seen[1][1]
    assert "payment declined" in seen[1][1]  # the attempt itself, to refine
    assert "judged: success" in seen[2][1]
    assert report.best == WIN and report.verdicts[0].success is False
    doc = json.loads(json.dumps(report.to_dict()))
    assert doc["best"] == WIN and doc["best_verdict"]["success"] is True
    assert doc["ids"] == report.ids and len(doc["verdicts"]) == 3
    assert all(i.provenance["matts"]["mode"] == "sequential" for i in report.items)


@pytest.mark.parametrize(("kw", "msg"), [({"k": 0}, "k must be"), ({"k": 33}, "k must be")])
def test_bad_counts_are_refused_before_any_attempt(db_path, kw, msg):
    agent, seen = _attempts(WIN)

    async def go():
        async with await ReasoningBank.open(db_path) as bank:
            await bank.matts_parallel(TASK, agent, **kw)

    with pytest.raises(InvalidPattern, match=msg):
        run(go())
    assert seen == []


def test_parallel_async_attempts_run_concurrently(db_path):
    """Each attempt waits until all three have started: sequential runs would time out."""
    started: list[int] = []
    all_started = asyncio.Event()

    async def agent(task, prompt):
        started.append(1)
        if len(started) == 3:
            all_started.set()
        await asyncio.wait_for(all_started.wait(), 5)
        return WIN

    async def go():
        async with await ReasoningBank.open(db_path) as bank:
            return await bank.matts_parallel(TASK, agent, k=3)

    report = run(go())
    assert [v.success for v in report.verdicts] == [True, True, True]
