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
from .judge import failure_line
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


def _step_key(action: str) -> str:
    """An action as the same step whatever its case, spacing or closing punctuation: a
    re-typed retry is the same step."""
    return " ".join(action.split()).casefold().rstrip(".;:!,")


def _failing_clip(text: str) -> str | None:
    line = failure_line(text)
    return _clip(line) if line is not None else None


def template_items(task: str, traj: Trajectory, success: bool) -> list[dict[str, str]]:
    """Items from the trajectory's own text, no LLM: deterministic and short.

    A success gives the actions that worked (the last three whose latest run did not
    fail); a failure gives the action that hit the last error, and the steps before it, as
    "Avoid ... because ...". Every other stumble (an action whose observation shows an
    error and that never later succeeded) becomes a preventive item too, up to
    ``MAX_ITEMS``. A check that failed and then passed on a re-run is not a stumble: what
    fixed it is in the steps that worked.
    """
    actions = _actions(traj)
    subject = _clip(task, 60)
    fails = [_failing_clip(seen) for _, seen in actions]
    last_ok = {_step_key(a): (i, a) for i, (a, _) in enumerate(actions) if fails[i] is None}
    stumbles = [
        (i, a, why)
        for i, ((a, _), why) in enumerate(zip(actions, fails, strict=True))
        if why is not None and last_ok.get(_step_key(a), (-1, a))[0] < i
    ]
    items: list[dict[str, str]] = []
    if success:
        tried = {_step_key(a): (i, a) for i, (a, _) in enumerate(actions)}
        worked = [a for _, a in sorted((last_ok or tried).values())]
        steps = "; then ".join(_clip(a, 80) for a in worked[-3:])
        content = f"To {subject}: {steps}." if steps else f"The approach to {subject} worked."
        items.append({"kind": "success", "title": f"What worked: {subject}",
                      "description": f"An approach that completed the task: {subject}.",
                      "content": content})  # fmt: skip
        rest = stumbles
    else:
        if stumbles:
            at, action, why = stumbles[-1]
        else:
            at = len(actions) - 1
            action = actions[-1][0] if actions else "repeating this approach"
            why = _failing_clip(traj.text()) or "the task was not completed"
        before = "; ".join(_clip(a, 60) for a, _ in actions[max(at - 2, 0) : max(at, 0)])
        content = f"Avoid {_clip(action, 80)} because it led to: {why}"
        items.append({"kind": "failure", "title": f"Pitfall: {subject}",
                      "description": f"An approach that failed on: {subject}.",
                      "content": content + (f" (after: {before})" if before else "")})  # fmt: skip
        rest = [st for st in stumbles[:-1] if _step_key(st[1]) != _step_key(action)]
    seen_actions: set[str] = set()
    for _, action, why in reversed(rest):
        if len(items) >= MAX_ITEMS:
            break
        if _step_key(action) in seen_actions:
            continue
        seen_actions.add(_step_key(action))
        items.append({"kind": "failure", "title": f"Avoid: {_clip(action, 60)}",
                      "description": f"A step that went wrong while working on: {subject}.",
                      "content": f"Avoid {_clip(action, 80)} because it led to: {why}"})  # fmt: skip
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
