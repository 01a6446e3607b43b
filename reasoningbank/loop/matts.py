"""Memory-aware test-time scaling (MaTTS, the paper's section 3.3).

Parallel: ``k`` attempts of the same task with the same memory prompt; judging all of them
and contrasting successes with failures gives sharper lessons than any single attempt
(at most 5 items). Sequential: each attempt sees the verdict on the previous one and
refines it; the lessons come from the best attempt, with the failed ones as contrast.
``run(task, memory_prompt) -> trajectory`` is the caller's agent, sync or async.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import TYPE_CHECKING, Any

from ..errors import InvalidPattern
from .distill import ask_items, template_items
from .engine import (
    check_category,
    check_task,
    judge,
    make_items,
    memory_prompt,
    prompt_text,
    store_items,
)
from .items import MattsReport, MemoryItem, Verdict
from .llm import llm_model_name
from .prompts import Prompts
from .scrub import scrub
from .trajectory import Trajectory

if TYPE_CHECKING:
    from ..bank import ReasoningBank

__all__ = ["MATTS_MAX_ITEMS", "MAX_ATTEMPTS", "matts_parallel", "matts_sequential"]

#: Most items one MaTTS run stores (self-contrast over several attempts yields more than one).
MATTS_MAX_ITEMS = 5
#: Most attempts (``k`` or ``steps``) one MaTTS call makes.
MAX_ATTEMPTS = 32


async def _run(run: Any, task: str, prompt: str) -> Any:
    result = run(task, prompt)
    if inspect.isawaitable(result):
        result = await result
    return result


async def _result(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _check_count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ATTEMPTS:
        raise InvalidPattern(f"{name} must be an integer from 1 to {MAX_ATTEMPTS}, got {value!r}")
    return value


def _best(verdicts: list[Verdict]) -> int:
    return max(range(len(verdicts)), key=lambda i: (verdicts[i].score, -i))


async def _contrast_items(
    task: str,
    trajs: list[Trajectory],
    verdicts: list[Verdict],
    llm: Any,
    prompts: Prompts,
) -> list[dict[str, str]]:
    """Self-contrast: with an LLM, all attempts side by side; without, the template items
    of the best success plus the distinct pitfalls of the failures."""
    if llm is not None:
        attempts = "\n\n".join(
            f"--- attempt {i + 1} ({'success' if v.success else 'failure'}, score "
            f"{v.score:.2f}: {v.reason}) ---\n{prompt_text(t)[: 24_000 // len(trajs)]}"
            for i, (t, v) in enumerate(zip(trajs, verdicts, strict=True))
        )
        return await ask_items(
            llm, prompts, "matts_contrast", limit=MATTS_MAX_ITEMS, kind=None,
            task=scrub(task), attempts=attempts,
        )  # fmt: skip
    order = sorted(range(len(trajs)), key=lambda i: (-verdicts[i].score, i))
    items: list[dict[str, str]] = []
    seen: set[str] = set()
    for i in order:
        for item in template_items(task, trajs[i], verdicts[i].success):
            if item["content"] not in seen and len(items) < MATTS_MAX_ITEMS:
                seen.add(item["content"])
                items.append(item)
    return items


async def _finish(
    bank: ReasoningBank,
    task: str,
    category: str,
    raw_trajs: list[Any],
    trajs: list[Trajectory],
    verdicts: list[Verdict],
    llm: Any,
    prompts: Prompts,
    mode: str,
) -> MattsReport:
    raw = await _contrast_items(task, trajs, verdicts, llm, prompts)
    best = _best(verdicts)
    items: list[MemoryItem] = []
    for r in raw:
        # Success lessons come from the best attempt, failure lessons from the worst.
        source = (
            best
            if r["kind"] == "success"
            else min(range(len(verdicts)), key=lambda i: (verdicts[i].score, i))
        )
        v = verdicts[source]
        provenance: dict[str, Any] = {
            "task": task,
            "trajectory_sha256": trajs[source].sha256(),
            "verdict": {"success": v.success, "score": v.score, "reason": v.reason},
            "judged_by": v.judged_by,
            "matts": {"mode": mode, "attempts": len(trajs)},
        }
        name = llm_model_name(llm) if llm is not None else None
        if name:
            provenance["model"] = name
        items.extend(make_items([r], provenance, category))

    def verdict_of(item: MemoryItem) -> Verdict:
        s = item.provenance["verdict"]
        return Verdict(s["success"], s["score"], s["reason"], item.provenance["judged_by"])

    stored, ids = await store_items(bank, items, category, verdict_of)
    return MattsReport(
        best=raw_trajs[best],
        best_verdict=verdicts[best],
        trajectories=raw_trajs,
        verdicts=verdicts,
        items=stored,
        ids=ids,
    )


async def matts_parallel(
    bank: ReasoningBank,
    task: str,
    run: Any,
    k: int = 3,
    llm: Any = None,
    *,
    category: str | None = None,
    prompts: Any = None,
) -> MattsReport:
    task = scrub(check_task(task))
    category = check_category(category)
    _check_count(k, "k")
    prompt_set = Prompts.of(prompts)
    prompt = await memory_prompt(bank, task, category=category)
    # An async agent's k attempts run concurrently (that is what "parallel" buys); a sync
    # agent's run one after another.
    started = [run(task, prompt) for _ in range(k)]
    raw_trajs = list(await asyncio.gather(*(_result(r) for r in started)))
    trajs = [Trajectory.of(t) for t in raw_trajs]
    verdicts = [await judge(task, t, None, llm, prompt_set) for t in trajs]
    return await _finish(
        bank, task, category, raw_trajs, trajs, verdicts, llm, prompt_set, "parallel"
    )


async def matts_sequential(
    bank: ReasoningBank,
    task: str,
    run: Any,
    steps: int = 3,
    llm: Any = None,
    *,
    category: str | None = None,
    prompts: Any = None,
) -> MattsReport:
    task = scrub(check_task(task))
    category = check_category(category)
    _check_count(steps, "steps")
    prompt_set = Prompts.of(prompts)
    base = await memory_prompt(bank, task, category=category)
    raw_trajs: list[Any] = []
    trajs: list[Trajectory] = []
    verdicts: list[Verdict] = []
    prompt = base
    for _ in range(steps):
        raw = await _run(run, task, prompt)
        traj = Trajectory.of(raw)
        verdict = await judge(task, traj, None, llm, prompt_set)
        raw_trajs.append(raw)
        trajs.append(traj)
        verdicts.append(verdict)
        prompt = prompt_set.render(
            "matts_refine",
            memory_prompt=base,
            verdict=f"{'success' if verdict.success else 'failure'} "
            f"(score {verdict.score:.2f}): {verdict.reason}",
            trajectory=prompt_text(traj),
        )
    return await _finish(
        bank, task, category, raw_trajs, trajs, verdicts, llm, prompt_set, "sequential"
    )
