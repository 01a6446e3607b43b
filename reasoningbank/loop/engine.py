"""The closed loop over a bank: learn (judge → distill → scrub → dedup → consolidate),
retrieve, and the memory prompt. ``ReasoningBank`` methods call these.

Order matters for safety: every LLM call and every check happens before the first write,
so a failing LLM or a malformed answer leaves the bank exactly as it was.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..errors import InvalidPattern
from ..model import MAX_TEXT_LENGTH, check_limit
from ..text import analyze
from .distill import MAX_ITEMS, ask_items, ask_verdict, template_items
from .items import (
    MAX_CONTENT,
    MAX_DESCRIPTION,
    MAX_TITLE,
    LearnReport,
    MemoryItem,
    Verdict,
    item_confidence,
    item_from_pattern,
    item_pattern,
    short_text,
)
from .judge import heuristic_verdict, outcome_verdict
from .llm import llm_model_name
from .mmr import mmr, term_cosine
from .prompts import Prompts
from .render import render_memories
from .scrub import scrub
from .trajectory import Trajectory

if TYPE_CHECKING:
    from ..bank import ReasoningBank

__all__ = ["DEDUP_SIMILARITY", "learn", "memory_prompt", "retrieve", "store_items"]

#: Two items of the same kind are one lesson when their titles and their contents each
#: share this fraction of their terms (words of their common task left out): the second
#: reinforces the first instead of being stored again.
DEDUP_SIMILARITY = 0.85
#: Largest prompt text an LLM is sent for a trajectory (characters): the head and the tail
#: are kept, since the start says what was tried and the end how it went.
MAX_PROMPT_TRAJECTORY = 24_000
_DEFAULT_CATEGORY = "general"


def check_task(task: Any) -> str:
    if not isinstance(task, str) or not task.strip():
        raise InvalidPattern("task must be a non-empty string", field="task")
    if len(task) > MAX_TEXT_LENGTH:
        raise InvalidPattern(f"task is longer than {MAX_TEXT_LENGTH} characters", field="task")
    return task.strip()


def check_category(category: Any) -> str:
    if category is None:
        return _DEFAULT_CATEGORY
    if not isinstance(category, str) or not category.strip():
        raise InvalidPattern("category must be a non-empty string", field="category")
    return category.strip()


def check_diversity(diversity: Any) -> float:
    if (
        isinstance(diversity, bool)
        or not isinstance(diversity, (int, float))
        or not 0.0 <= diversity <= 1.0
    ):
        raise InvalidPattern(f"diversity must be a number in [0, 1], got {diversity!r}")
    return float(diversity)


def prompt_text(traj: Trajectory) -> str:
    """The trajectory as an LLM sees it: scrubbed, and head+tail when long."""
    text = scrub(traj.text())
    if len(text) <= MAX_PROMPT_TRAJECTORY:
        return text
    half = MAX_PROMPT_TRAJECTORY // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters omitted ...]\n{text[-half:]}"


async def judge(task: str, traj: Trajectory, outcome: Any, llm: Any, prompts: Prompts) -> Verdict:
    if outcome is not None:
        return outcome_verdict(outcome)
    if llm is not None:
        success, score, reason = await ask_verdict(llm, prompts, scrub(task), prompt_text(traj))
        return Verdict(success, score, scrub(reason) or "judged by the LLM", "llm")
    return heuristic_verdict(traj.text())


async def distill(
    task: str, traj: Trajectory, verdict: Verdict, llm: Any, prompts: Prompts
) -> list[dict[str, str]]:
    if llm is None:
        return template_items(task, traj, verdict.success)
    kind = "success" if verdict.success else "failure"
    return await ask_items(
        llm,
        prompts,
        f"distill_{kind}",
        limit=MAX_ITEMS,
        kind=kind,
        task=scrub(task),
        reason=verdict.reason,
        trajectory=prompt_text(traj),
    )


_PREVENTIVE = re.compile(r"(?i)^\W*(?:avoid|don't|do not|never)\b")


def preventive(content: str) -> str:
    """A failure lesson reads as a warning ("Avoid ... because ..."): the prompts ask for
    that, and an LLM that answers with a plain account gets the warning put in front."""
    return content if _PREVENTIVE.match(content) else f"Avoid this: {content}"


def make_items(
    raw: list[dict[str, str]], provenance: dict[str, Any], category: str
) -> list[MemoryItem]:
    """Scrubbed, validated items (validation first: an invalid one stores nothing)."""
    return [
        MemoryItem(
            title=short_text(scrub(r["title"]), MAX_TITLE),
            description=short_text(scrub(r["description"]), MAX_DESCRIPTION),
            content=short_text(
                scrub(r["content"] if r["kind"] == "success" else preventive(r["content"])),
                MAX_CONTENT,
            ),
            kind=r["kind"],
            provenance=dict(provenance),
            category=category,
        )
        for r in raw
    ]


def _item_terms(item: MemoryItem) -> list[str]:
    return analyze(f"{item.title} {item.content}")


class _Lesson:
    """An item's terms for dedup: title, content and task apart."""

    def __init__(self, item: MemoryItem) -> None:
        self.title = set(analyze(item.title))
        self.content = set(analyze(item.content))
        self.task = set(analyze(item.task))


def _close(a: set[str], b: set[str]) -> bool:
    """Nearly the same words (Jaccard of the term sets): unlike a cosine, one differing
    key term in a short lesson ("Avoid X because ...") is enough to keep two apart."""
    return a == b or len(a & b) >= DEDUP_SIMILARITY * len(a | b)


def _same_lesson(a: _Lesson, b: _Lesson) -> bool:
    """Titles and contents both nearly agree once the words of their common task are
    left out: every lesson of a task repeats them ("Avoid X for a task like T"), so they
    say nothing about which lesson it is, while the words where two tasks differ (the
    context) do."""
    shared = a.task & b.task
    return _close(a.title - shared, b.title - shared) and _close(
        a.content - shared, b.content - shared
    )


async def store_items(
    bank: ReasoningBank,
    items: list[MemoryItem],
    category: str,
    verdict_of: Any,
) -> tuple[list[MemoryItem], list[str]]:
    """Dedup ``items`` against each other and the bank, then store or reinforce them.

    ``verdict_of(item)`` is the verdict behind an item (its confidence comes from it). A
    duplicate of a stored item reinforces it (one more observation at this confidence)
    and reports its id; the rest are stored in one transaction.
    """
    kept: list[tuple[MemoryItem, _Lesson]] = []
    reinforce: list[tuple[str, float, MemoryItem]] = []
    existing: dict[str, list[tuple[str, _Lesson]]] = {}
    for item in items:
        lesson = _Lesson(item)
        if any(k.kind == item.kind and _same_lesson(lesson, t) for k, t in kept):
            continue
        if item.task not in existing:
            existing[item.task] = [
                (m.pattern.id, _Lesson(found))
                for m in await bank.find_similar(item.task, category, top_k=50)
                if (found := item_from_pattern(m.pattern)) is not None and found.kind == item.kind
            ]
        dup = next(
            (pid for pid, t in existing[item.task] if _same_lesson(lesson, t)),
            None,
        )
        if dup is not None:
            reinforce.append((dup, item_confidence(item, verdict_of(item)), item))
        else:
            kept.append((item, lesson))
    stored_ids = await bank.store_patterns(
        [item_pattern(item, category, item_confidence(item, verdict_of(item))) for item, _ in kept]
    )
    for pid, confidence, _ in reinforce:
        await bank.record_outcome(pid, score=confidence)
    out_ids = list(stored_ids) + [pid for pid, _, _ in reinforce]
    # What the bank now holds under each id (confidence and age included; a reinforced
    # duplicate reports the lesson it reinforced).
    out_items = []
    for pid, item in zip(out_ids, [i for i, _ in kept] + [i for _, _, i in reinforce], strict=True):
        pattern = await bank.get_pattern(pid)
        found = item_from_pattern(pattern) if pattern is not None else None
        if found is None:  # gone already (another process deleted it): report what we had
            item.id = pid
            found = item
        out_items.append(found)
    return out_items, out_ids


async def learn(
    bank: ReasoningBank,
    task: str,
    trajectory: Any,
    *,
    category: str | None = None,
    outcome: Any = None,
    llm: Any = None,
    model: str | None = None,
    prompts: Any = None,
) -> LearnReport:
    task = scrub(check_task(task))
    category = check_category(category)
    traj = Trajectory.of(trajectory)
    prompt_set = Prompts.of(prompts)
    verdict = await judge(task, traj, outcome, llm, prompt_set)
    raw = await distill(task, traj, verdict, llm, prompt_set)
    provenance: dict[str, Any] = {
        "task": task,
        "trajectory_sha256": traj.sha256(),
        "verdict": {"success": verdict.success, "score": verdict.score, "reason": verdict.reason},
        "judged_by": verdict.judged_by,
    }
    name = model or (llm_model_name(llm) if llm is not None else None)
    if name:
        provenance["model"] = name
    items = make_items(raw, provenance, category)
    stored, ids = await store_items(bank, items, category, lambda _item: verdict)
    return LearnReport(verdict=verdict, items=stored, ids=ids)


async def retrieve(
    bank: ReasoningBank,
    task: str,
    category: str | None = None,
    k: int = 5,
    diversity: float = 0.0,
) -> list[MemoryItem]:
    task = check_task(task)
    check_limit(k, "k")
    diversity = check_diversity(diversity)
    pool = min(10_000, max(50, 10 * k))
    query = analyze(task)
    found: list[tuple[MemoryItem, float, list[str]]] = []
    for match in await bank.find_similar(task, category, top_k=pool):
        item = item_from_pattern(match.pattern)
        if item is None or match.similarity <= 0:
            continue
        terms = _item_terms(item)
        relevance = match.score * (0.8 + 0.2 * term_cosine(query, terms))
        found.append((item, relevance, terms))
    picked = mmr(
        found,
        [rel for _, rel, _ in found],
        lambda a, b: term_cosine(a[2], b[2]),
        k,
        diversity,
    )
    return [item for item, _, _ in picked]


async def memory_prompt(
    bank: ReasoningBank,
    task: str,
    k: int = 5,
    *,
    category: str | None = None,
    diversity: float = 0.0,
) -> str:
    items = await retrieve(bank, task, category, k, diversity)
    return render_memories(items, now=bank._clock())
