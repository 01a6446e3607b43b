"""Reading LLM answers: strict about the shape, tolerant of the wrapping.

Models wrap JSON in markdown fences, add a sentence before it, or pad it with whitespace;
all of that is accepted. What is not accepted is a wrong shape: a verdict without
``success``, an item without a title. Those raise ``AnswerProblem`` so the caller can retry
once and then fail with ``LLMAnswerError``, before anything is stored.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .items import KINDS

__all__ = ["AnswerProblem", "parse_items", "parse_verdict"]


class AnswerProblem(ValueError):
    """One malformed answer (internal: the caller retries, then raises LLMAnswerError)."""


def _json_object(answer: str) -> dict[str, Any]:
    """The first JSON object in ``answer``, fences and surrounding prose ignored."""
    text = answer.strip()
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    raise AnswerProblem("no JSON object found in the answer")


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "success", "yes"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "failure", "no"):
        return False
    raise AnswerProblem(f'"success" must be true or false, got {value!r}')


def parse_verdict(answer: str) -> tuple[bool, float, str]:
    """``{"success": bool, "score": 0..1, "reason": str}`` → (success, score, reason).
    A missing score follows success (1 or 0)."""
    data = _json_object(answer)
    if "success" not in data:
        raise AnswerProblem('the verdict has no "success" field')
    success = _bool(data["success"])
    score = data.get("score")
    if score is None:
        score = 1.0 if success else 0.0
    if isinstance(score, bool) or not isinstance(score, (int, float)):
        raise AnswerProblem(f'"score" must be a number, got {score!r}')
    score = float(score)
    if not math.isfinite(score) or not 0.0 <= score <= 1.0:
        raise AnswerProblem(f'"score" must be between 0 and 1, got {score!r}')
    reason = data.get("reason") or ""
    if not isinstance(reason, str):
        raise AnswerProblem('"reason" must be a string')
    return success, score, " ".join(reason.split())[:300]


def parse_items(answer: str, *, limit: int, kind: str | None) -> list[dict[str, str]]:
    """``{"items": [{title, description, content[, kind]}]}`` → at most ``limit`` dicts.

    ``kind`` None means each item must name its own kind. An empty list is a valid answer
    (nothing worth remembering); a malformed item makes the whole answer malformed, so a
    half-read answer is never stored.
    """
    data = _json_object(answer)
    items = data.get("items")
    if not isinstance(items, list):
        raise AnswerProblem('the answer has no "items" list')
    out = []
    for i, item in enumerate(items[:limit]):
        if not isinstance(item, dict):
            raise AnswerProblem(f"item {i + 1} is not an object")
        fields = {}
        for name in ("title", "description", "content"):
            value = item.get(name)
            if not isinstance(value, str) or not value.strip():
                raise AnswerProblem(f'item {i + 1} has no "{name}" text')
            fields[name] = value
        item_kind = kind or item.get("kind")
        if item_kind not in KINDS:
            raise AnswerProblem(f'item {i + 1} needs "kind": "success" or "failure"')
        fields["kind"] = str(item_kind)
        out.append(fields)
    return out
