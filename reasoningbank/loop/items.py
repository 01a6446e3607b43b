"""Memory items, verdicts and reports, and how an item lives in the bank as a pattern.

Why patterns: an item stored as a pattern keyed by its originating task (``task_description``
is the task) travels everywhere patterns already go (find_similar, recommend, IndexedDB,
bundles, the signed bus, migration) with nothing new to carry. The item itself sits in
``context["memory"]``: the context is part of what the bus signs and shares, so kind and
provenance survive sharing; ``metadata.tags`` mark it (``memory``, and its kind).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidPattern
from ..model import Pattern
from .trajectory import Trajectory

__all__ = [
    "KINDS",
    "MEMORY_KEY",
    "MEMORY_TAG",
    "LearnReport",
    "MattsReport",
    "MemoryItem",
    "Verdict",
    "is_item",
    "item_from_pattern",
    "item_pattern",
    "short_text",
]

KINDS = ("success", "failure")
MEMORY_KEY = "memory"
MEMORY_TAG = "memory"
#: Longest title, description and content (characters): an item is a short lesson, and the
#: bound keeps a rendered memory prompt small.
MAX_TITLE = 120
MAX_DESCRIPTION = 300
MAX_CONTENT = 1200


@dataclass(slots=True, frozen=True)
class Verdict:
    """Whether an attempt succeeded: ``score`` in [0, 1], a short ``reason``, and who said so
    (``judged_by``: "outcome", "llm" or "heuristic")."""

    success: bool
    score: float
    reason: str
    judged_by: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "score": self.score,
            "reason": self.reason,
            "judged_by": self.judged_by,
        }


@dataclass(slots=True)
class MemoryItem:
    """One distilled lesson. ``kind`` "failure" items are preventive ("Avoid ... because ...").

    ``provenance``: the originating ``task``, ``trajectory_sha256``, the ``verdict`` and
    ``judged_by``, and ``model`` when one was named. Fields after it are filled when the item
    comes from the bank: its pattern ``id``, ``category``, ``confidence``, ``created_at``
    (epoch seconds) and the ``author`` key (hex) if it arrived signed from another bank.
    """

    title: str
    description: str
    content: str
    kind: str
    provenance: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    category: str | None = None
    confidence: float | None = None
    created_at: float | None = None
    author: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidPattern(f"kind must be 'success' or 'failure', got {self.kind!r}")
        for name in ("title", "description", "content"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise InvalidPattern(f"memory item {name} must be non-empty text", field=name)

    @property
    def task(self) -> str:
        """The originating task (the key the item is stored under)."""
        return str(self.provenance.get("task", ""))

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "description": self.description,
            "content": self.content,
            "kind": self.kind,
            "provenance": dict(self.provenance),
            "id": self.id,
            "category": self.category,
            "confidence": self.confidence,
            "created_at": self.created_at,
            "author": self.author,
        }


def short_text(value: str, limit: int) -> str:
    """Distilled items are short prose: whitespace runs (newlines too) fold to one space,
    and text past ``limit`` characters is cut with an ellipsis."""
    text = " ".join(value.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass(slots=True)
class LearnReport:
    """What ``learn`` did: the ``verdict``, the stored ``items`` and their pattern ``ids``
    (an item merged into an existing duplicate reports that item's id)."""

    verdict: Verdict
    items: list[MemoryItem]
    ids: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.to_dict(),
            "items": [i.to_dict() for i in self.items],
            "ids": list(self.ids),
        }


@dataclass(slots=True)
class MattsReport:
    """What test-time scaling did: every attempt's trajectory and verdict, the ``best``
    attempt (highest score, earliest on ties), and the stored items and ids."""

    best: Any
    best_verdict: Verdict
    trajectories: list[Any]
    verdicts: list[Verdict]
    items: list[MemoryItem]
    ids: list[str]

    def to_dict(self) -> dict[str, Any]:
        best = self.best if isinstance(self.best, (str, list)) else Trajectory.of(self.best).text()
        return {
            "best": best,
            "best_verdict": self.best_verdict.to_dict(),
            "verdicts": [v.to_dict() for v in self.verdicts],
            "items": [i.to_dict() for i in self.items],
            "ids": list(self.ids),
        }


def item_confidence(item: MemoryItem, verdict: Verdict) -> float:
    """How far to trust a lesson: a success item as far as the attempt succeeded, a
    failure item as far as it clearly failed."""
    return verdict.score if item.kind == "success" else 1.0 - verdict.score


def item_pattern(item: MemoryItem, category: str, confidence: float) -> dict[str, Any]:
    """The pattern dict storing ``item`` under its originating task.

    As with agentic-flow's imported memories, the advice is the ``strategy`` (so
    ``recommend_strategy`` recommends lessons, and the bank's own dedup merges the same
    lesson learnt twice for the same task), the outcome says whether the source attempt
    succeeded, and its score how far to trust the lesson.
    """
    memory = {
        "title": item.title,
        "description": item.description,
        "content": item.content,
        "kind": item.kind,
        "provenance": dict(item.provenance),
    }
    return {
        "task_description": item.task,
        "task_category": category,
        "strategy": item.content,
        "context": {MEMORY_KEY: memory},
        "outcome": {"success": item.kind == "success", "success_score": confidence},
        "metadata": {"tags": [MEMORY_TAG, item.kind]},
    }


def is_item(pattern: Pattern) -> bool:
    memory = pattern.context.get(MEMORY_KEY)
    return isinstance(memory, dict) and memory.get("kind") in KINDS


def item_from_pattern(pattern: Pattern) -> MemoryItem | None:
    """The item a pattern stores, or None when it is a plain pattern (or a malformed one)."""
    memory = pattern.context.get(MEMORY_KEY)
    if not isinstance(memory, dict):
        return None
    prov = memory.get("provenance")
    provenance = dict(prov) if isinstance(prov, dict) else {}
    provenance.setdefault("task", pattern.task_description)
    signed = pattern.metadata.extra.get("provenance")
    author = signed.get("author") if isinstance(signed, dict) else None
    try:
        return MemoryItem(
            title=memory.get("title") or pattern.strategy,
            description=memory.get("description") or pattern.strategy,
            content=memory.get("content") or pattern.strategy,
            kind=memory.get("kind", ""),
            provenance=provenance,
            id=pattern.id,
            category=pattern.task_category,
            confidence=pattern.metadata.confidence,
            created_at=pattern.metadata.created_at,
            author=author if isinstance(author, str) else None,
        )
    except InvalidPattern:
        return None
