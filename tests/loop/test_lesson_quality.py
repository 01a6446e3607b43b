"""Lesson quality: dedup keeps different lessons apart; a retried step is not a pitfall."""

from __future__ import annotations

from reasoningbank import ReasoningBank, Trajectory
from reasoningbank.loop.distill import template_items
from tests.conftest import run
from tests.loop.conftest import FAILURE_KEY, SUCCESS_KEY, ScriptedLLM, items

TASK = (
    "SSL: CERTIFICATE_VERIFY_FAILED when metrics talks to vault.internal signed by our internal CA"
)
CHECK = "curl https://vault.internal/v1/sys/health: certificate verify failed"
STRATEGIES = ["downgrade-tls", "renew-certificate", "disable-verify"]


def _avoid(strategy: str, *, title: str | None = None, content: str | None = None) -> str:
    return items(
        (
            title or f"Avoid {strategy} for tasks like this",
            f"{strategy} did not fix it.",
            content
            or f"Avoid {strategy} for a task like '{TASK}' because it failed: {CHECK}; "
            "try another strategy instead.",
        )
    )


async def _learn_each(db_path: str, answers: list[str]) -> tuple[list[list[str]], int, str]:
    """One failed attempt per answer, on the same task; ids per attempt, count, prompt."""
    llm = ScriptedLLM([(FAILURE_KEY, [*answers, answers[-1]])])
    ids = []
    async with await ReasoningBank.open(db_path) as bank:
        for n in range(len(answers)):
            report = await bank.learn(TASK, f"attempt {n}: it failed", outcome=False, llm=llm)
            ids.append(report.ids)
        stats = await bank.get_stats()
        prompt = await bank.memory_prompt(TASK, k=5)
    return ids, stats["total_patterns"], prompt


def test_avoid_items_differing_only_in_the_strategy_stay_three(db_path):
    ids, total, prompt = run(_learn_each(db_path, [_avoid(s) for s in STRATEGIES]))
    assert len({i for got in ids for i in got}) == 3
    assert total == 3
    for strategy in STRATEGIES:
        assert f"Avoid {strategy}" in prompt


def test_template_pitfalls_of_one_task_differing_in_the_action_stay_apart(db_path):
    async def go():
        async with await ReasoningBank.open(db_path) as bank:
            for strategy in STRATEGIES:
                traj = f"Action: {strategy}\nObservation: {CHECK} (exit code 1)"
                await bank.learn(TASK, traj, outcome=False)
            return await bank.get_stats()

    assert run(go())["total_patterns"] == 3


def test_the_same_lesson_reworded_by_case_space_or_punctuation_reinforces(db_path):
    s = STRATEGIES[0]
    answers = [
        _avoid(s),
        _avoid(s, title=f"AVOID  {s.upper()} for tasks like this!"),
        _avoid(
            s,
            content=f"avoid {s} for a task like {TASK.lower()} because it failed -- {CHECK}. "
            "Try another strategy instead!",
        ),
    ]
    ids, total, _ = run(_learn_each(db_path, answers))
    assert ids[0] == ids[1] == ids[2]
    assert total == 1


RETRY = (
    "Action: tracemalloc-diff: $ python -X tracemalloc=25 soak.py; compare two snapshots\n"
    "Observation: error: connection reset by peer (exit code 1)\n"
    "Thought: transient; running it again.\n"
    "Action: {again}\n"
    "Observation: soak test 2h: RSS flat at 212 MB\n"
    "Observation: exit code 0\n"
    "Final: fixed, and the checks are green now."
)
STEP = "tracemalloc-diff: $ python -X tracemalloc=25 soak.py; compare two snapshots"


def test_a_retried_step_that_then_worked_is_not_an_avoid():
    for again in (STEP, f"  {STEP.upper()}  ", STEP.replace(" ", "  ") + "."):
        got = template_items(
            "find the leak in the soak test", Trajectory.of(RETRY.format(again=again)), True
        )
        assert [i["kind"] for i in got] == ["success"], again
        assert got[0]["content"].lower().count("tracemalloc-diff") == 1, got[0]["content"]


def test_a_success_does_not_repeat_the_same_step_in_its_content():
    traj = Trajectory.of(
        "Action: make deploy\nObservation: warning: slow mirror\n"
        "Action: make  deploy\nObservation: warning: slow mirror\nFinal: done, deployed."
    )
    got = template_items("deploy the site", traj, True)
    assert got[0]["content"] == "To deploy the site: make deploy."


def test_a_lesson_from_a_task_in_another_context_is_kept_apart(db_path):
    """The words where two tasks differ are the context a lesson holds in."""
    tasks = [
        "Fix the memory leak in the ingest worker written in Python",
        "Fix the memory leak in the ingest worker written in Go",
    ]

    def lesson(prompt: str) -> str:
        task = next(t for t in tasks if f"'{t}'" in prompt or t in prompt)
        return items(
            (
                "Use tracemalloc-diff for tasks like this",
                "tracemalloc-diff solved it.",
                f"For a task like '{task}', tracemalloc-diff worked; the soak test stayed flat.",
            )
        )

    async def go():
        llm = ScriptedLLM([(SUCCESS_KEY, lesson)])
        async with await ReasoningBank.open(db_path) as bank:
            ids = [(await bank.learn(t, "it worked", outcome=True, llm=llm)).ids for t in tasks]
            again = (await bank.learn(tasks[0], "it worked", outcome=True, llm=llm)).ids
            return ids, again, (await bank.get_stats())["total_patterns"]

    ids, again, total = run(go())
    assert ids[0] != ids[1] and total == 2
    assert again == ids[0]
