"""Distillation: a judged trajectory → at most 3 memory items (the paper's step 2).

With an LLM, the success or the failure prompt asks for lessons as JSON; a malformed answer
is retried once and then raises ``LLMAnswerError`` (nothing stored). Without one, the
template distiller writes items from the trajectory itself: the actions that led to a
success, and for each failure the action and the error it hit, as "Avoid ... because ...".
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import LLMAnswerError
from .judge import _SIGNALS
from .llm import call_llm
from .parse import AnswerProblem, parse_items, parse_verdict
from .prompts import Prompts
from .trajectory import Trajectory

__all__ = ["MAX_ITEMS", "ask_items", "ask_verdict", "template_items"]

#: Most items one trajectory yields (the paper keeps a few per trajectory).
MAX_ITEMS = 3
_ACTION_LINE = re.compile(r"(?i)^\s*(?:action\s*:|\$ |> |step \d+\s*:|run(?:ning)?\s*:)\s*(.+)")
_CLIP = 140


def _clip(text: str, n: int = _CLIP) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _actions(traj: Trajectory) -> list[tuple[str, str]]:
    """(action, what it led to) pairs: from steps, or from action-looking lines of text
    (what follows an action up to the next one is its observation)."""
    if traj.steps:
        return [(s.action, s.observation) for s in traj.steps if s.action.strip()]
    out: list[tuple[str, list[str]]] = []
    for line in traj.text().splitlines():
        m = _ACTION_LINE.match(line)
        if m:
            out.append((m.group(1), []))
        elif out:
            out[-1][1].append(line)
    return [(action, "\n".join(seen)) for action, seen in out]


def _failing(text: str) -> str | None:
    """The line with the strongest failure signal in ``text``, if any."""
    best: tuple[float, str] | None = None
    for line in text.splitlines():
        for pattern, weight, _ in _SIGNALS:
            if weight < 0 and pattern.search(line) and (best is None or weight < best[0]):
                best = (weight, line)
    return _clip(re.sub(r"(?i)^\s*observation\s*:\s*", "", best[1])) if best else None


def template_items(task: str, traj: Trajectory, success: bool) -> list[dict[str, str]]:
    """Items from the trajectory's own text, no LLM: deterministic and short.

    A success gives the actions that worked (the last three); a failure gives the action
    that hit the last error as "Avoid ... because ..."; every other stumble (an action
    whose observation shows an error) becomes a preventive item too, up to ``MAX_ITEMS``.
    """
    actions = _actions(traj)
    subject = _clip(task, 60)
    stumbles: list[tuple[str, str]] = []
    for action, seen in actions:
        why = _failing(seen)
        if why is not None:
            stumbles.append((action, why))
    items: list[dict[str, str]] = []
    if success:
        failed = {a for a, _ in stumbles}
        worked = [a for a, _ in actions if a not in failed] or [a for a, _ in actions]
        steps = "; then ".join(_clip(a, 80) for a in worked[-3:])
        items.append(
            {
                "kind": "success",
                "title": f"What worked: {subject}",
                "description": f"An approach that completed the task: {subject}.",
                "content": f"To {subject}: {steps}."
                if steps
                else f"The approach to {subject} worked.",
            }
        )
        rest = stumbles
    else:
        if stumbles:
            action, why = stumbles[-1]
        else:
            action = actions[-1][0] if actions else "repeating this approach"
            why = _failing(traj.text()) or "the task was not completed"
        items.append(
            {
                "kind": "failure",
                "title": f"Pitfall: {subject}",
                "description": f"An approach that failed on: {subject}.",
                "content": f"Avoid {_clip(action, 80)} because it led to: {why}",
            }
        )
        rest = stumbles[:-1]
    for action, why in reversed(rest):
        if len(items) >= MAX_ITEMS:
            break
        items.append(
            {
                "kind": "failure",
                "title": f"Avoid: {_clip(action, 60)}",
                "description": f"A step that went wrong while working on: {subject}.",
                "content": f"Avoid {_clip(action, 80)} because it led to: {why}",
            }
        )
    return items


async def _ask(llm: Any, prompts: Prompts, prompt: str, parse: Any) -> Any:
    """Ask, parse; on a malformed answer ask once more saying what was wrong."""
    answer = await call_llm(llm, prompt)
    try:
        return parse(answer)
    except AnswerProblem as first:
        retry = prompts.render("retry", prompt=prompt, problem=str(first))
        answer = await call_llm(llm, retry)
        try:
            return parse(answer)
        except AnswerProblem as second:
            raise LLMAnswerError(
                f"the LLM's answer was malformed twice ({second}); nothing was stored",
                answer=answer,
            ) from None


async def ask_verdict(llm: Any, prompts: Prompts, task: str, text: str) -> tuple[bool, float, str]:
    prompt = prompts.render("judge", task=task, trajectory=text)
    result: tuple[bool, float, str] = await _ask(llm, prompts, prompt, parse_verdict)
    return result


async def ask_items(
    llm: Any,
    prompts: Prompts,
    name: str,
    *,
    limit: int,
    kind: str | None,
    **values: str,
) -> list[dict[str, str]]:
    prompt = prompts.render(name, **values)
    items: list[dict[str, str]] = await _ask(
        llm, prompts, prompt, lambda a: parse_items(a, limit=limit, kind=kind)
    )
    return items
