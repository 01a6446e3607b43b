"""The closed loop's checks, run unchanged under CPython and inside Pyodide (Node with
fake-indexeddb, Chromium) on IndexedDB. Each returns a JSON string of what must be equal
in every runtime."""

import json

from reasoningbank import ReasoningBank

LOOP_TASK = "book the cheapest flight to Oslo"
LOOP_WIN = (
    "action: search(sort='price')\nobservation: cheapest 79 EUR\nBooking confirmed. Task completed."
)
LOOP_LOSE = "action: book(first)\nobservation: Error: payment declined\nI gave up."
LOOP_ANSWERS = {
    "You are judging": '{"success": true, "score": 0.85, "reason": "confirmed booking"}',
    "SUCCEEDED": '```json\n{"items": [{"title": "Sort by price", "description": "Cheapest first.", '
    '"content": "Sort the results by price before choosing."}]}\n```',
    "made several attempts": '{"items": [{"kind": "failure", "title": "Check the card", '
    '"description": "Declines end runs.", "content": "Avoid paying before checking the card '
    'limit because a decline ends the run."}]}',
}


def loop_scripted_llm(prompt):
    """A deterministic Python LLM (async, as most real ones are)."""

    async def answer():
        for key, text in LOOP_ANSWERS.items():
            if key in prompt:
                return text
        raise AssertionError("unscripted prompt")

    return answer()


def loop_agent(task, memory_prompt):
    return LOOP_WIN if "Sort by price" in memory_prompt else LOOP_LOSE


async def check_loop(location, llm=None):
    """learn (heuristic, then with ``llm``) → retrieve → memory_prompt → MaTTS, then reopen."""
    bank = await ReasoningBank.open(location)
    heuristic = await bank.learn(LOOP_TASK, LOOP_LOSE, category="web")
    learned = await bank.learn(LOOP_TASK, LOOP_WIN, category="web", llm=llm or loop_scripted_llm)
    items = await bank.retrieve("cheap flight to Oslo", category="web", k=5, diversity=0.3)
    prompt = await bank.memory_prompt("cheap flight to Oslo", k=5, category="web")
    matts = await bank.matts_parallel(
        LOOP_TASK, loop_agent, k=2, llm=llm or loop_scripted_llm, category="web"
    )
    seq = await bank.matts_sequential(LOOP_TASK, loop_agent, steps=2, category="web")
    await bank.close()
    again = await ReasoningBank.open(location)
    kept = sorted((i.title, i.kind) for i in await again.retrieve(LOOP_TASK, "web", k=10))
    await again.close()
    assert prompt.startswith("<memories>") and prompt.endswith("</memories>")
    return json.dumps(
        {
            "heuristic": [
                heuristic.verdict.success,
                heuristic.verdict.judged_by,
                [i.kind for i in heuristic.items],
            ],
            "llm": [learned.verdict.to_dict(), [i.title for i in learned.items]],
            "retrieved": sorted(i.title for i in items),
            "prompt_memories": prompt.count("<memory "),
            "matts": [[v.success for v in matts.verdicts], sorted(i.title for i in matts.items)],
            "sequential": [v.success for v in seq.verdicts],
            "kept": kept,
        },
        sort_keys=True,
    )
