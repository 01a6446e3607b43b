"""Pattern, Outcome, Match and Recommendation: validated on construction.

The JSON shape follows the Rust ReasoningBank / ReasoningBankWasm pattern (``id``,
``task_description``, ``task_category``, ``strategy``, ``context``, ``outcome{...}``,
``metadata{...}``, ``embedding``) so patterns move between implementations unchanged.
Timestamps are RFC 3339 strings on the wire and float epoch seconds in memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .errors import InvalidPattern

__all__ = [
    "MAX_TEXT_LENGTH",
    "Match",
    "Metadata",
    "Outcome",
    "Pattern",
    "Recommendation",
    "format_time",
    "parse_time",
]

#: Longest accepted ``task_description`` / ``strategy`` (characters): a memory is a summary,
#: not a transcript, and unbounded text would make one pattern dominate the index.
MAX_TEXT_LENGTH = 20_000
_MAX_NAME_LENGTH = 200


_last_formatted: tuple[float, str] = (float("nan"), "")


def format_time(ts: float) -> str:
    """Epoch seconds → RFC 3339 UTC string with microseconds (the Rust/chrono shape)."""
    global _last_formatted
    if _last_formatted[0] == ts:  # bulk writes stamp many patterns with one time
        return _last_formatted[1]
    text = datetime.fromtimestamp(ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")
    _last_formatted = (ts, text)
    return text


def parse_time(value: Any, field_name: str) -> float:
    """RFC 3339 string or epoch number (seconds, or milliseconds as JS writes) → seconds."""
    if isinstance(value, bool):
        raise InvalidPattern(f"{field_name} must be a timestamp, got {value!r}", field=field_name)
    if isinstance(value, (int, float)):
        ts = float(value)
        if not math.isfinite(ts):
            raise InvalidPattern(f"{field_name} must be finite", field=field_name)
        return ts / 1000.0 if ts > 1e11 else ts
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidPattern(
                f"{field_name} is not an RFC 3339 timestamp: {value!r}", field=field_name
            ) from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return dt.timestamp()
    raise InvalidPattern(
        f"{field_name} must be a timestamp, got {type(value).__name__}", field=field_name
    )


def _text(data: dict[str, Any], key: str, *, required: bool, limit: int) -> str:
    value = data.get(key)
    if value is None:
        if required:
            raise InvalidPattern(f"{key} is required", field=key)
        return ""
    if not isinstance(value, str):
        raise InvalidPattern(f"{key} must be a string, got {type(value).__name__}", field=key)
    value = value.strip()
    if required and not value:
        raise InvalidPattern(f"{key} must not be empty", field=key)
    if len(value) > limit:
        raise InvalidPattern(f"{key} is longer than {limit} characters", field=key)
    return value


def _number(value: Any, key: str, *, lo: float | None = None, hi: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidPattern(f"{key} must be a number, got {value!r}", field=key)
    out = float(value)
    if not math.isfinite(out):
        raise InvalidPattern(f"{key} must be finite, got {value!r}", field=key)
    if (lo is not None and out < lo) or (hi is not None and out > hi):
        raise InvalidPattern(f"{key} must be between {lo} and {hi}, got {value!r}", field=key)
    return out


def _optional_number(data: dict[str, Any], key: str, *, lo: float | None = None) -> float | None:
    value = data.get(key)
    return None if value is None else _number(value, key, lo=lo)


@dataclass(slots=True)
class Outcome:
    """What happened when the strategy was applied. ``success_score`` is in [0, 1]."""

    success: bool
    success_score: float
    duration_seconds: float | None = None
    tokens_used: int | None = None
    error_message: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any, *, fallback_score: Any = None) -> Outcome:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise InvalidPattern("outcome must be an object", field="outcome")
        score_raw = data.get("success_score", fallback_score)
        success_raw = data.get("success")
        if success_raw is not None and not isinstance(success_raw, bool):
            raise InvalidPattern("outcome.success must be true or false", field="outcome.success")
        if score_raw is None and success_raw is None:
            raise InvalidPattern(
                "an outcome needs success (true/false) or success_score (0..1)", field="outcome"
            )
        if score_raw is None:
            score = 1.0 if success_raw else 0.0
        else:
            score = _number(score_raw, "success_score", lo=0.0, hi=1.0)
        success = bool(success_raw) if success_raw is not None else score >= 0.5
        tokens = data.get("tokens_used")
        if tokens is not None and (
            isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0
        ):
            raise InvalidPattern(
                "outcome.tokens_used must be a non-negative integer", field="tokens_used"
            )
        error = data.get("error_message")
        if error is not None and not isinstance(error, str):
            raise InvalidPattern("outcome.error_message must be a string", field="error_message")
        metrics = data.get("metrics") or {}
        if not isinstance(metrics, dict):
            raise InvalidPattern("outcome.metrics must be an object", field="metrics")
        return cls(
            success=success,
            success_score=score,
            duration_seconds=_optional_number(data, "duration_seconds", lo=0.0),
            tokens_used=tokens,
            error_message=error,
            metrics=dict(metrics),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "success_score": self.success_score,
            "duration_seconds": self.duration_seconds,
            "tokens_used": self.tokens_used,
            "error_message": self.error_message,
            "metrics": dict(self.metrics),
        }


@dataclass(slots=True)
class Metadata:
    """Bookkeeping the bank maintains; ``extra`` keeps unknown fields so nothing is dropped."""

    created_at: float
    updated_at: float
    usage_count: int = 0
    avg_success_score: float = 0.0
    tags: list[str] = field(default_factory=list)
    success_count: float = 0.0
    failure_count: float = 0.0
    confidence: float = 0.5
    contradictions: int = 0
    merged_count: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    _KNOWN = (
        "created_at", "updated_at", "usage_count", "avg_success_score", "tags",
        "success_count", "failure_count", "confidence", "contradictions", "merged_count",
    )  # fmt: skip

    @classmethod
    def from_dict(cls, data: Any, *, now: float) -> Metadata:
        if not data:
            return cls(created_at=now, updated_at=now)  # the common case for new patterns
        if not isinstance(data, dict):
            raise InvalidPattern("metadata must be an object", field="metadata")
        created = (
            parse_time(data["created_at"], "created_at")
            if data.get("created_at") is not None
            else now
        )
        updated = (
            parse_time(data["updated_at"], "updated_at")
            if data.get("updated_at") is not None
            else created
        )
        tags = data.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise InvalidPattern("tags must be a list of strings", field="tags")
        usage = data.get("usage_count", 0)
        if isinstance(usage, bool) or not isinstance(usage, (int, float)) or usage < 0:
            raise InvalidPattern("usage_count must be a non-negative integer", field="usage_count")
        meta = cls(
            created_at=created,
            updated_at=updated,
            usage_count=int(usage),
            avg_success_score=_number(
                data.get("avg_success_score", 0.0), "avg_success_score", lo=0.0, hi=1.0
            ),
            tags=list(dict.fromkeys(tags)),
            success_count=_number(data.get("success_count", 0.0), "success_count", lo=0.0),
            failure_count=_number(data.get("failure_count", 0.0), "failure_count", lo=0.0),
            confidence=_number(data.get("confidence", 0.5), "confidence", lo=0.0, hi=1.0),
            contradictions=int(_number(data.get("contradictions", 0), "contradictions", lo=0)),
            merged_count=int(_number(data.get("merged_count", 0), "merged_count", lo=0)),
            extra={k: v for k, v in data.items() if k not in cls._KNOWN},
        )
        return meta

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        out.update(
            created_at=format_time(self.created_at),
            updated_at=format_time(self.updated_at),
            usage_count=self.usage_count,
            avg_success_score=self.avg_success_score,
            tags=list(self.tags),
            success_count=self.success_count,
            failure_count=self.failure_count,
            confidence=self.confidence,
            contradictions=self.contradictions,
            merged_count=self.merged_count,
        )
        return out


@dataclass(slots=True)
class Pattern:
    """One remembered attempt: the task, the strategy used, and how it turned out."""

    id: str
    task_description: str
    task_category: str
    strategy: str
    outcome: Outcome
    metadata: Metadata
    context: dict[str, Any] = field(default_factory=dict)
    embedding: list[float] | None = None

    @classmethod
    def from_dict(cls, data: Any, *, new_id: str, now: float) -> Pattern:
        """Validate a JSON-like dict. ``new_id`` is used when the dict has no ``id``."""
        if isinstance(data, Pattern):
            return data
        if not isinstance(data, dict):
            raise InvalidPattern(f"a pattern must be an object, got {type(data).__name__}")
        pid = data.get("id")
        if pid is None or pid == "":
            pid = new_id
        elif not isinstance(pid, str) or len(pid) > _MAX_NAME_LENGTH:
            raise InvalidPattern("id must be a string of at most 200 characters", field="id")
        context = data.get("context") or {}
        if not isinstance(context, dict):
            raise InvalidPattern("context must be an object", field="context")
        embedding = data.get("embedding")
        if embedding is not None:
            embedding = _embedding(embedding)
        metadata = Metadata.from_dict(data.get("metadata"), now=now)
        if data.get("tags") is not None:  # top-level shorthand
            extra = Metadata.from_dict({"tags": data["tags"]}, now=now).tags
            metadata.tags = list(dict.fromkeys(metadata.tags + extra))
        return cls(
            id=pid,
            task_description=_text(data, "task_description", required=True, limit=MAX_TEXT_LENGTH),
            task_category=_text(data, "task_category", required=True, limit=_MAX_NAME_LENGTH),
            strategy=_text(data, "strategy", required=True, limit=MAX_TEXT_LENGTH),
            outcome=Outcome.from_dict(
                data.get("outcome"), fallback_score=data.get("success_score")
            ),
            metadata=metadata,
            context=dict(context),
            embedding=embedding,
        )

    @classmethod
    def from_stored(
        cls,
        body: dict[str, Any],
        *,
        created_at: float,
        updated_at: float,
        embedding: list[float] | None = None,
    ) -> Pattern:
        """Rebuild a pattern from what ``to_dict`` wrote, skipping validation (it was
        validated on the way in). Anything unexpected falls back to ``from_dict``."""
        try:
            o, m = body["outcome"], body["metadata"]
            pattern = cls(
                id=body["id"],
                task_description=body["task_description"],
                task_category=body["task_category"],
                strategy=body["strategy"],
                outcome=Outcome(
                    bool(o["success"]),
                    float(o["success_score"]),
                    o.get("duration_seconds"),
                    o.get("tokens_used"),
                    o.get("error_message"),
                    dict(o.get("metrics") or {}),
                ),
                metadata=Metadata(
                    created_at=created_at,
                    updated_at=updated_at,
                    usage_count=int(m["usage_count"]),
                    avg_success_score=float(m["avg_success_score"]),
                    tags=list(m.get("tags") or ()),
                    success_count=float(m["success_count"]),
                    failure_count=float(m["failure_count"]),
                    confidence=float(m["confidence"]),
                    contradictions=int(m.get("contradictions", 0)),
                    merged_count=int(m.get("merged_count", 0)),
                    extra={k: v for k, v in m.items() if k not in Metadata._KNOWN},
                ),
                context=dict(body.get("context") or {}),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            pattern = cls.from_dict(body, new_id=str(body.get("id", "")), now=created_at)
        pattern.embedding = embedding
        return pattern

    def to_dict(self, *, with_embedding: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "task_description": self.task_description,
            "task_category": self.task_category,
            "strategy": self.strategy,
            "context": dict(self.context),
            "outcome": self.outcome.to_dict(),
            "metadata": self.metadata.to_dict(),
        }
        if with_embedding and self.embedding is not None:
            out["embedding"] = list(self.embedding)
        return out


def _embedding(value: Any) -> list[float]:
    try:
        vec = [float(x) for x in value]
    except (TypeError, ValueError):
        raise InvalidPattern("embedding must be a list of numbers", field="embedding") from None
    if not vec:
        raise InvalidPattern("embedding must not be empty", field="embedding")
    if not all(math.isfinite(x) for x in vec):
        raise InvalidPattern("embedding must contain only finite numbers", field="embedding")
    return vec


@dataclass(slots=True, frozen=True)
class Match:
    """A search hit. ``score`` is the composite; ``similarity`` the text part; ``parts`` all."""

    pattern: Pattern
    score: float
    similarity: float
    parts: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "pattern": self.pattern.to_dict(with_embedding=False),
            "score": self.score,
            "similarity": self.similarity,
            "parts": dict(self.parts),
        }


@dataclass(slots=True, frozen=True)
class Recommendation:
    """The strategy to try next. ``confidence`` is the posterior success estimate in [0, 1];
    ``evidence`` lists ids of the patterns that support it; ``alternatives`` ranks the rest."""

    strategy: str | None
    confidence: float
    evidence: list[str]
    alternatives: list[dict[str, Any]] = field(default_factory=list)
    explored: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "confidence": self.confidence,
            "evidence": list(self.evidence),
            "alternatives": [dict(a) for a in self.alternatives],
            "explored": self.explored,
        }
