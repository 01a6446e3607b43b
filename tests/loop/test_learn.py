"""learn(): judge → distill → scrub → dedup → consolidate, on real SQLite banks."""

from __future__ import annotations

import json
import sqlite3

import pytest

from reasoningbank import (
    InvalidPattern,
    InvalidTrajectory,
    LLMAnswerError,
    LLMCallFailed,
    ReasoningBank,
    Trajectory,
)
from reasoningbank.loop.trajectory import MAX_TRAJECTORY_CHARS
from tests.conftest import run
from tests.loop.conftest import (
    FAILURE_KEY,
    JUDGE_KEY,
    SUCCESS_KEY,
    ScriptedLLM,
    items,
    standard_llm,
    steps,
    verdict,
)

TASK = "book the cheapest flight to Oslo"
GOOD = steps(
    ("find flights", "search_flights(dest='OSL', sort='price')", "Found 12 flights"),
    ("book the first", "book(flight=1)", "Booking confirmed. Task completed."),
)
BAD = steps(
    ("book directly", "book(flight=3)", "Error: session expired, please log in"),
    ("retry", "book(flight=3)", "HTTP/1.1 403 Forbidden"),
    ("stop", "", "I gave up."),
)


def _count(db_path: str) -> int:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute("SELECT count(*) FROM patterns").fetchone()[0]
    finally:
        conn.close()


async def _learn(db_path, *args, **kw):
    async with await ReasoningBank.open(db_path) as bank:
        return await bank.learn(*args, **kw)


def test_learn_with_llm_judges_and_distills_with_the_success_prompt(db_path):
    llm = standard_llm(True)
    report = run(_learn(db_path, TASK, GOOD, category="web", llm=llm))
    assert report.verdict.success and report.verdict.judged_by == "llm"
    assert report.verdict.score == 0.9
    assert llm.asked(JUDGE_KEY) == 1 and llm.asked(SUCCESS_KEY) == 1
    assert llm.asked(FAILURE_KEY) == 0
    [item] = report.items
    assert item.kind == "success" and item.title == "Sort by price first"
    assert item.provenance["task"] == TASK
    assert item.provenance["trajectory_sha256"] == Trajectory.of(GOOD).sha256()
    assert item.provenance["judged_by"] == "llm" and item.provenance["model"] == "scripted-1"
    assert item.provenance["verdict"]["success"] is True
    assert report.ids == [item.id]
    assert item.confidence is not None and item.created_at is not None  # as stored


def test_failed_trajectory_uses_the_failure_prompt_and_stores_a_preventive_lesson(db_path):
    llm = standard_llm(False, is_async=True)
    report = run(_learn(db_path, TASK, BAD, category="web", llm=llm))
    assert not report.verdict.success
    assert llm.asked(FAILURE_KEY) == 1 and llm.asked(SUCCESS_KEY) == 0
    [item] = report.items
    assert item.kind == "failure" and item.content.startswith("Avoid ")


def test_given_outcome_skips_the_judge(db_path):
    llm = standard_llm(True)
    report = run(_learn(db_path, TASK, GOOD, category="web", outcome=0.8, llm=llm))
    assert report.verdict.judged_by == "outcome" and report.verdict.score == 0.8
    assert llm.asked(JUDGE_KEY) == 0 and llm.asked(SUCCESS_KEY) == 1


@pytest.mark.parametrize(
    ("outcome", "success", "score"),
    [(True, True, 1.0), (False, False, 0.0), ("failure", False, 0.0), ("0.3", False, 0.3)],
)
def test_outcome_shapes(db_path, outcome, success, score):
    report = run(_learn(db_path, TASK, GOOD, category="web", outcome=outcome))
    assert (report.verdict.success, report.verdict.score) == (success, score)
    assert report.items and all(
        i.kind == ("success" if success else "failure") for i in report.items
    )


def test_without_llm_the_heuristic_judge_and_template_distiller_run(db_path):
    good = run(_learn(db_path, TASK, GOOD, category="web"))
    assert good.verdict.judged_by == "heuristic" and good.verdict.success
    assert "search_flights" in good.items[0].content
    bad = run(_learn(db_path, "book a flight to Bergen", BAD, category="web"))
    assert not bad.verdict.success
    assert all(i.kind == "failure" for i in bad.items)
    assert bad.items[0].content.startswith("Avoid book(flight=3) because")
    assert 1 <= len(bad.items) <= 3


def test_at_most_three_items_are_kept(db_path):
    many = items(*[(f"Lesson {i}", f"Desc {i}.", f"Do thing number {i} carefully {'x' * i}.")
                   for i in range(6)])  # fmt: skip
    llm = ScriptedLLM([(JUDGE_KEY, verdict(True)), (SUCCESS_KEY, many)])
    report = run(_learn(db_path, TASK, GOOD, category="web", llm=llm))
    assert [i.title for i in report.items] == ["Lesson 0", "Lesson 1", "Lesson 2"]


def test_fenced_and_chatty_answers_are_read(db_path):
    fenced = "Sure! Here is my verdict:\n```json\n" + verdict(True, 0.7) + "\n```\nHope it helps."
    llm = ScriptedLLM(
        [(JUDGE_KEY, fenced), (SUCCESS_KEY, "```\n" + items(("T", "D.", "C.")) + "\n```")]
    )
    report = run(_learn(db_path, TASK, GOOD, category="web", llm=llm))
    assert report.verdict.score == 0.7 and [i.title for i in report.items] == ["T"]


def test_malformed_answer_is_retried_once(db_path):
    llm = ScriptedLLM(
        [("could not be read", verdict(True, 0.6)), (JUDGE_KEY, "I think it went fine"),
         (SUCCESS_KEY, items(("T", "D.", "C.")))]
    )  # fmt: skip
    report = run(_learn(db_path, TASK, GOOD, category="web", llm=llm))
    assert report.verdict.score == 0.6
    assert llm.asked("could not be read") == 1


@pytest.mark.parametrize(
    "bad_items",
    [
        "no json at all",
        json.dumps({"items": [{"title": "T", "description": "D."}]}),  # no content
        json.dumps({"items": [{"title": "T", "description": "D.", "content": "C."}, "oops"]}),
        json.dumps({"lessons": []}),
    ],
)
def test_malformed_twice_is_a_clear_error_and_stores_nothing(db_path, bad_items):
    run(_learn(db_path, "an earlier task", GOOD, category="web", outcome=True))
    before = _count(db_path)
    llm = ScriptedLLM([(JUDGE_KEY, verdict(True)), (SUCCESS_KEY, bad_items)])
    with pytest.raises(LLMAnswerError, match="malformed twice"):
        run(_learn(db_path, TASK, GOOD, category="web", llm=llm))
    assert llm.asked("could not be read") == 1
    assert _count(db_path) == before


def test_llm_that_raises_is_llm_call_failed_and_stores_nothing(db_path):
    def broken(prompt):
        raise ConnectionError("model server down")

    with pytest.raises(LLMCallFailed, match="ConnectionError: model server down"):
        run(_learn(db_path, TASK, GOOD, category="web", llm=broken))
    assert _count(db_path) == 0


def test_same_lesson_twice_reinforces_instead_of_duplicating(db_path):
    async def go():
        async with await ReasoningBank.open(db_path) as bank:
            first = await bank.learn(TASK, GOOD, category="web", llm=standard_llm(True))
            second = await bank.learn(
                "book the cheapest flight to Oslo tomorrow", GOOD, category="web",
                llm=standard_llm(True),
            )  # fmt: skip
            return first, second, await bank.get_pattern(first.ids[0]), await bank.get_stats()

    first, second, stored, stats = run(go())
    assert second.ids == first.ids
    assert stats["total_patterns"] == 1
    assert stored.metadata.success_count + stored.metadata.failure_count == pytest.approx(2.0)


def test_different_lessons_are_all_kept(db_path):
    async def go():
        async with await ReasoningBank.open(db_path) as bank:
            await bank.learn(TASK, GOOD, category="web", llm=standard_llm(True))
            await bank.learn(TASK, BAD, category="web", llm=standard_llm(False))
            return await bank.get_stats()

    assert run(go())["total_patterns"] == 2


def test_item_is_a_pattern_keyed_by_its_task(db_path):
    async def go():
        async with await ReasoningBank.open(db_path) as bank:
            report = await bank.learn(TASK, GOOD, category="web", llm=standard_llm(True))
            return await bank.get_pattern(report.ids[0]), await bank.find_similar(
                "cheapest flight Oslo", "web"
            )

    pattern, matches = run(go())
    assert pattern.task_description == TASK and pattern.task_category == "web"
    assert pattern.context["memory"]["kind"] == "success"
    assert "memory" in pattern.metadata.tags and "success" in pattern.metadata.tags
    assert matches[0].pattern.id == pattern.id


@pytest.mark.parametrize(
    ("trajectory", "message"),
    [
        (42, "must be text or a list of steps"),
        ({"actions": []}, 'needs a "steps" list'),
        (["ok", 5], "step 2 must be an object"),
        ("", "trajectory is empty"),
        ("x" * (MAX_TRAJECTORY_CHARS + 1), f"at most {MAX_TRAJECTORY_CHARS}"),
    ],
)
def test_bad_trajectories_are_refused_before_anything_runs(db_path, trajectory, message):
    llm = standard_llm(True)
    with pytest.raises(InvalidTrajectory, match=message):
        run(_learn(db_path, TASK, trajectory, category="web", llm=llm))
    assert llm.prompts == [] and _count(db_path) == 0


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"outcome": 1.5}, "outcome must be"),
        ({"outcome": "maybe"}, "outcome must be"),
        ({"category": ""}, "category must be"),
    ],
)
def test_bad_arguments_are_one_line_errors(db_path, kw, message):
    with pytest.raises(InvalidPattern, match=message):
        run(_learn(db_path, TASK, GOOD, **kw))


def test_prompts_can_be_overridden_by_dict_and_folder(db_path, tmp_path):
    judge = "JUDGE-OVERRIDE task=$task\n$trajectory"
    llm = ScriptedLLM(
        [
            ("JUDGE-OVERRIDE", verdict(True)),
            ("DISTILL-OVERRIDE", items(("T", "D.", "C."))),
            (SUCCESS_KEY, items(("T", "D.", "C."))),
        ]
    )
    folder = tmp_path / "prompts"
    folder.mkdir()
    (folder / "distill_success.txt").write_text("DISTILL-OVERRIDE $task")
    run(_learn(db_path, TASK, GOOD, category="web", llm=llm, prompts={"judge": judge}))
    assert llm.prompts[0].startswith(f"JUDGE-OVERRIDE task={TASK}")
    llm.prompts.clear()
    run(_learn(db_path, TASK, GOOD, category="web", outcome=True, llm=llm, prompts=folder))
    assert llm.prompts == [f"DISTILL-OVERRIDE {TASK}"]
    with pytest.raises(InvalidPattern, match="unknown prompt names: judgee"):
        run(_learn(db_path, TASK, GOOD, llm=llm, prompts={"judgee": "x"}))


def test_trajectory_text_in_prompts_cannot_expand_placeholders(db_path):
    """A trajectory containing ``$task`` is substituted once, verbatim."""
    llm = standard_llm(True)
    run(_learn(db_path, TASK, "observation: literal $task and ${reason}; 3 passed", llm=llm))
    assert "literal $task and ${reason}" in llm.prompts[0]


def test_agentic_flow_shaped_trajectory_is_read_with_every_field():
    traj = Trajectory.of({"steps": [{"action": "open", "url": "/settings"},
                                    {"action": "submit", "result": "form accepted"}]})  # fmt: skip
    assert traj.text() == (
        "step 1\naction: open url: /settings\n\nstep 2\naction: submit\n"
        "observation: result: form accepted"
    )


def test_failure_lessons_always_read_as_warnings(db_path):
    account = items(("Logged out", "The session expired.", "The booking was rejected when logged out."),
                    ("Card", "Card limit.", "Don't pay before checking the card limit."))  # fmt: skip
    llm = ScriptedLLM([(JUDGE_KEY, verdict(False)), (FAILURE_KEY, account)])
    report = run(_learn(db_path, TASK, BAD, category="web", llm=llm))
    assert [i.content for i in report.items] == [
        "Avoid this: The booking was rejected when logged out.",
        "Don't pay before checking the card limit.",
    ]


def test_template_distiller_credits_the_fix_not_the_rerun_check():
    from reasoningbank.loop.distill import template_items

    traj = Trajectory.of(
        "action: pytest -q\nobservation: 1 failed, 2 passed\naction: edit parser.py\n"
        "observation: saved\naction: pytest -q\nobservation: 3 passed\n"
        "action: pip install lxml\nobservation: ERROR: No matching distribution found for lxml\n"
        "action: pytest -q\nobservation: 3 passed"
    )
    got = template_items("fix the parser", traj, success=True)
    assert got[0]["kind"] == "success"
    assert got[0]["content"] == "To fix the parser: edit parser.py; then pytest -q."
    assert [i["content"] for i in got[1:]] == [
        "Avoid pip install lxml because it led to: ERROR: No matching distribution found for lxml"
    ]


def test_recommend_strategy_recommends_learned_advice(db_path):
    async def go():
        async with await ReasoningBank.open(db_path) as bank:
            report = await bank.learn(TASK, GOOD, category="web", llm=standard_llm(True))
            return report, await bank.recommend_strategy("cheapest flight to Oslo", "web")

    report, rec = run(go())
    assert rec.strategy == report.items[0].content and rec.evidence == report.ids
