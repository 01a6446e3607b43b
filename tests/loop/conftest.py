"""A deterministic scripted LLM for the loop's plumbing: it answers by which prompt it got."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


class ScriptedLLM:
    """Answers each prompt with the first scripted answer whose key appears in it.

    ``script``: (substring, answer) pairs; an answer may be a callable of the prompt, or a
    list consumed one per call (for retries). Every prompt is kept in ``prompts``.
    """

    def __init__(self, script: list[tuple[str, Any]], *, is_async: bool = False) -> None:
        self.script = script
        self.prompts: list[str] = []
        self.is_async = is_async
        self.model = "scripted-1"

    def _answer(self, prompt: str) -> str:
        self.prompts.append(prompt)
        for key, answer in self.script:
            if key in prompt:
                if isinstance(answer, list):
                    return answer.pop(0) if len(answer) > 1 else answer[0]
                return answer(prompt) if callable(answer) else answer
        raise AssertionError(f"unscripted prompt: {prompt[:200]!r}")

    def __call__(self, prompt: str) -> Any:
        if self.is_async:

            async def later() -> str:
                return self._answer(prompt)

            return later()
        return self._answer(prompt)

    def asked(self, key: str) -> int:
        return sum(key in p for p in self.prompts)


JUDGE_KEY = "You are judging whether"
SUCCESS_KEY = "SUCCEEDED at the task"
FAILURE_KEY = "FAILED at the task"
CONTRAST_KEY = "made several attempts"


def verdict(success: bool, score: float | None = None, reason: str = "scripted") -> str:
    return json.dumps(
        {
            "success": success,
            "score": score if score is not None else float(success),
            "reason": reason,
        }
    )


def items(*triples: tuple[str, str, str], kind: str | None = None) -> str:
    out = []
    for title, description, content in triples:
        item = {"title": title, "description": description, "content": content}
        if kind:
            item["kind"] = kind
        out.append(item)
    return json.dumps({"items": out})


def standard_llm(
    success: bool = True, *, is_async: bool = False, extra: list[tuple[str, Any]] | None = None
) -> ScriptedLLM:
    """An LLM that judges ``success`` and distills one fixed lesson per kind."""
    return ScriptedLLM(
        (extra or [])
        + [
            (JUDGE_KEY, verdict(success, 0.9 if success else 0.1, "the final state shows it")),
            (
                SUCCESS_KEY,
                items(
                    (
                        "Sort by price first",
                        "Sorting shows the cheapest option.",
                        "Sort the results by price before choosing, so the cheapest fare is on top.",
                    )
                ),
            ),
            (
                FAILURE_KEY,
                items(
                    (
                        "Log in before booking",
                        "Bookings need a session.",
                        "Avoid booking while logged out because the site rejects it; log in first.",
                    )
                ),
            ),
        ],
        is_async=is_async,
    )


def steps(*triples: tuple[str, str, str]) -> list[dict[str, str]]:
    return [{"thought": t, "action": a, "observation": o} for t, a, o in triples]


Run = Callable[[str, str], Any]
