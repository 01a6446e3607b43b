"""Pattern, Outcome, Match and Recommendation: validated on construction.

The JSON shape follows the Rust ReasoningBank / ReasoningBankWasm pattern (``id``,
``task_description``, ``task_category``, ``strategy``, ``context``, ``outcome{...}``,
``metadata{...}``, ``embedding``) so patterns move between implementations unchanged.
Timestamps are RFC 3339 strings on the wire and float epoch seconds in memory.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import repeat
from json.encoder import encode_basestring
from sys import intern
from typing import Any

from .errors import InvalidPattern
from .posterior import fold
from .vectors.base import check_vector

__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_TEXT_LENGTH",
    "MAX_TIME",
    "Match",
    "Metadata",
    "Outcome",
    "Pattern",
    "Recommendation",
    "check_json_value",
    "check_limit",
    "format_time",
    "parse_time",
    "validate_all",
]

#: Longest accepted ``task_description`` / ``strategy`` (characters): a memory is a summary,
#: not a transcript, and unbounded text would make one pattern dominate the index.
MAX_TEXT_LENGTH = 20_000
_MAX_NAME_LENGTH = 200
#: Latest accepted timestamp, 9999-12-31T23:59:59Z (epoch seconds): RFC 3339 has four-digit
#: years, so anything later could be stored but never written back out. The earliest is 0.
MAX_TIME = 253_402_300_799.0
#: Deepest nesting accepted in free-form values (context, metrics, unknown metadata): real
#: memories nest a few levels, and the bound keeps every later walk over them (JSON
#: encoding, signing, export) far from the interpreter's recursion limit.
MAX_JSON_DEPTH = 32
#: Largest accepted count (usage, successes, ...): 2**53, the last integer JSON readers
#: (JavaScript) hold exactly; larger ones only come from corrupt or hostile data, and
#: would overflow the learning arithmetic to NaN.
_MAX_COUNT = float(2**53)


_last_formatted: tuple[float, str] = (float("nan"), "")
_last_second: tuple[int, str] = (-1, "")
#: Below the last second of year 9999 (``datetime``'s range), where the fast form is exact.
_FAST_FORMAT_END = 253402300799.0


def format_time(ts: float) -> str:
    """Epoch seconds → RFC 3339 UTC string with microseconds (the Rust/chrono shape).

    Exactly ``datetime.fromtimestamp(ts, timezone.utc).isoformat()`` with a ``Z`` (the same
    half-even rounding to the microsecond), but a store stamps a new time every call, and
    the date and time of day change once a second: only the fraction is formatted each time.
    """
    global _last_formatted, _last_second
    if _last_formatted[0] == ts:  # bulk writes stamp many patterns with one time
        return _last_formatted[1]
    if 0.0 <= ts < _FAST_FORMAT_END:
        fraction, whole = math.modf(ts)
        second, micro = int(whole), round(fraction * 1e6)
        if micro >= 1_000_000:
            second, micro = second + 1, micro - 1_000_000
        if _last_second[0] != second:
            _last_second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        text = f"{_last_second[1]}.{micro:06d}Z" if micro else _last_second[1] + "Z"
    else:
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
            raise InvalidPattern(f"{field_name} must be finite, got {value!r}", field=field_name)
        return _in_range(ts / 1000.0 if ts > 1e11 else ts, value, field_name)
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidPattern(
                f"{field_name} is not an RFC 3339 timestamp: {_shown(value)}", field=field_name
            ) from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return _in_range(dt.timestamp(), value, field_name)
    raise InvalidPattern(
        f"{field_name} must be a timestamp, got {type(value).__name__}", field=field_name
    )


def _in_range(ts: float, value: Any, field_name: str) -> float:
    """Why: a time before 1970 or after 9999 cannot be formatted back (``format_time``
    overflows), so storing one would break every later read, export and sync."""
    if not 0.0 <= ts <= MAX_TIME:
        raise InvalidPattern(
            f"{field_name} must be between 1970-01-01 and 9999-12-31, got {_shown(value)}",
            field=field_name,
        )
    return ts


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_json_value(value: Any, field_name: str, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse NaN, ±Infinity and nesting deeper than ``max_depth`` anywhere in ``value``.

    Why: Python writes NaN as a bare ``NaN`` token that strict JSON (the bus, bundles,
    browsers) refuses, so one such value would later block export and sync of the whole
    bank; refusing it at the door names the field while the caller can still fix it.
    Iterative, so hostile depth fails here with a clear error and not a RecursionError.
    """
    if not value or _json_value_ok(value, max_depth):  # a falsy value is never NaN
        return
    stack: list[tuple[Any, str, int]] = [(value, field_name, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidPattern(f"{path} must be a finite number, got {item!r}", field=path)
        elif isinstance(item, (dict, list, tuple)):
            if depth >= max_depth:
                raise InvalidPattern(
                    f"{field_name} is nested deeper than {max_depth} levels", field=field_name
                )
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            stack.extend((v, f"{path}.{str(k)[:40]}", depth + 1) for k, v in pairs)


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


def _json_value_ok(value: Any, max_depth: int) -> bool:
    """Whether ``check_json_value`` passes ``value``: its walk without the paths, which it
    then makes only to name what failed (a path per item was most of its cost)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return False
        elif isinstance(item, (dict, list, tuple)):
            if depth >= max_depth:
                return False
            stack.extend(zip(item.values() if isinstance(item, dict) else item, repeat(depth + 1)))
    return True


def _bounded(
    data: dict[str, Any], key: str, default: float = 0, *, hi: float = _MAX_COUNT
) -> float:
    """``data[key]`` as a number from 0 to ``hi``, ``default`` if absent."""
    if key not in data:  # the default needs no checking (most metadata gives only tags)
        return float(default)
    return _number(data[key], key, lo=0.0, hi=hi)


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
        elif type(score_raw) is float and 0.0 <= score_raw <= 1.0:  # the common case, checked
            score = score_raw
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
        if metrics:
            check_json_value(metrics, "outcome.metrics")
        return cls(  # positional: a bulk store builds one per pattern
            success,
            score,
            None
            if data.get("duration_seconds") is None
            else _optional_number(data, "duration_seconds", lo=0.0),
            tokens,
            error,
            dict(metrics) if metrics else {},
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

    _KNOWN = frozenset((
        "created_at", "updated_at", "usage_count", "avg_success_score", "tags",
        "success_count", "failure_count", "confidence", "contradictions", "merged_count",
    ))  # fmt: skip

    @classmethod
    def from_dict(cls, data: Any, *, now: float) -> Metadata:
        if not data:
            return cls(now, now)  # the common case for new patterns
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
        extra = {k: v for k, v in data.items() if k not in cls._KNOWN}
        for key, value in extra.items():
            check_json_value(value, f"metadata.{str(key)[:40]}")
        meta = cls(
            created_at=created,
            updated_at=updated,
            usage_count=int(_bounded(data, "usage_count")),
            avg_success_score=_bounded(data, "avg_success_score", hi=1.0),
            tags=list(dict.fromkeys(tags)),
            success_count=_bounded(data, "success_count"),
            failure_count=_bounded(data, "failure_count"),
            confidence=_bounded(data, "confidence", 0.5, hi=1.0),
            contradictions=int(_bounded(data, "contradictions")),
            merged_count=int(_bounded(data, "merged_count")),
            extra=extra,
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
            data.check_values()
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
        check_json_value(context, "context")
        embedding = data.get("embedding")
        if embedding is not None:
            embedding = _embedding(embedding)
        metadata = Metadata.from_dict(data.get("metadata"), now=now)
        if data.get("tags") is not None:  # top-level shorthand
            extra = Metadata.from_dict({"tags": data["tags"]}, now=now).tags
            metadata.tags = list(dict.fromkeys(metadata.tags + extra))
        return cls(  # positional: a bulk store builds one per pattern
            pid,
            _text(data, "task_description", required=True, limit=MAX_TEXT_LENGTH),
            # Interned as in ``common_draft``: the bank keeps them, one per pattern.
            intern(_text(data, "task_category", required=True, limit=_MAX_NAME_LENGTH)),
            intern(_text(data, "strategy", required=True, limit=MAX_TEXT_LENGTH)),
            Outcome.from_dict(data.get("outcome"), fallback_score=data.get("success_score")),
            metadata,
            dict(context),
            embedding,
        )

    @classmethod
    def from_draft(cls, draft: Draft, now: float) -> Pattern:
        """The pattern ``from_dict`` makes of the dict ``draft`` was made from."""
        pid, desc, cat, strategy, success, score = draft
        return cls(pid, desc, cat, strategy, Outcome(success, score), Metadata(now, now))

    @classmethod
    def from_stored(
        cls,
        body: dict[str, Any],
        *,
        id: str,
        task_category: str,
        strategy: str,
        created_at: float,
        updated_at: float,
        embedding: list[float] | None = None,
    ) -> Pattern:
        """Rebuild a pattern from what ``stored_dict`` wrote (older banks: ``to_dict``) and
        its row's columns (id, category, strategy, times), skipping validation (it was
        validated on the way in). Anything unexpected falls back to ``from_dict``."""
        try:
            o = body["outcome"]
            m = body["metadata"] if "metadata" in body else _seeded(float(o["success_score"]))
            pattern = cls(
                id=id,
                task_description=body["task_description"],
                task_category=task_category,
                strategy=strategy,
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
                    extra={}  # the usual case, tested at C speed: a search reads 5-10 of these
                    if m.keys() <= Metadata._KNOWN
                    else {k: v for k, v in m.items() if k not in Metadata._KNOWN},
                ),
                context=dict(body.get("context") or {}),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            columns = {"id": id, "task_category": task_category, "strategy": strategy}
            pattern = cls.from_dict({**body, **columns}, new_id=id, now=created_at)
            pattern.metadata.created_at = created_at  # the store's times, as above: a stored
            pattern.metadata.updated_at = updated_at  # body has none of its own
        pattern.embedding = embedding
        return pattern

    def check_values(self) -> None:
        """Why: a ``Pattern`` built directly skips ``from_dict``; its free-form values, scores,
        times and embedding still must not carry NaN, ±Infinity or float32 overflow."""
        check_json_value(self.context, "context")
        check_json_value(self.outcome.metrics, "outcome.metrics")
        check_json_value(self.metadata.extra, "metadata")
        _number(self.outcome.success_score, "success_score", lo=0.0, hi=1.0)
        for name in ("avg_success_score", "confidence"):
            _number(getattr(self.metadata, name), name, lo=0.0, hi=1.0)
        for name in ("success_count", "failure_count"):
            _number(getattr(self.metadata, name), name, lo=0.0, hi=_MAX_COUNT)
        for name in ("created_at", "updated_at"):
            parse_time(getattr(self.metadata, name), name)
        if self.embedding is not None:
            self.embedding = _embedding(self.embedding)

    def body_json(self, *, stored: bool = False) -> str:
        """``to_dict(with_embedding=False)`` (``stored``: ``stored_dict()``) as compact JSON
        text, byte for byte, without building the dicts: what stores persist and the bank
        keeps in memory, made once per write (a large share of a bulk store's time went to
        the dicts and their encoding)."""
        o, m = self.outcome, self.metadata
        numbers = (
            o.success_score, m.usage_count, m.avg_success_score, m.success_count,
            m.failure_count, m.confidence, m.contradictions, m.merged_count,
        )  # fmt: skip
        if m.extra or not _NUMBER_TYPES.issuperset(map(type, numbers)):
            # extra's keys interleave with the known ones; odd number types: let to_dict do it
            return _COMPACT(self.stored_dict() if stored else self.to_dict(with_embedding=False))
        s, v, whole = _STRING, _json_value, not stored
        seeded = stored and is_seeded(m, o.success_score)
        told = ""  # the outcome's optional fields (stored: those not at their defaults)
        if whole or o.duration_seconds is not None:
            told += ',"duration_seconds":' + v(o.duration_seconds)
        if whole or o.tokens_used is not None:
            told += ',"tokens_used":' + v(o.tokens_used)
        if whole or o.error_message is not None:
            told += ',"error_message":' + v(o.error_message)
        if whole or o.metrics:
            told += ',"metrics":' + (_COMPACT(dict(o.metrics)) if o.metrics else "{}")
        times = (
            f'"created_at":{s(format_time(m.created_at))},'
            f'"updated_at":{s(format_time(m.updated_at))},'
            if whole
            else ""
        )
        if seeded:
            return _SEEDED_BODY % (
                _STORED_HEAD % s(self.task_description),
                ',"context":' + _COMPACT(dict(self.context)) if self.context else "",
                _bool(o.success), o.success_score, told,
            )  # fmt: skip
        return _BODY % (
            _HEAD % (s(self.id), s(self.task_description), s(self.task_category),
                     s(self.strategy)) if whole else _STORED_HEAD % s(self.task_description),
            ',"context":' + (_COMPACT(dict(self.context)) if self.context else "{}")
            if whole or self.context else "",
            _bool(o.success), o.success_score, told, times, m.usage_count, m.avg_success_score,
            ',"tags":' + (_COMPACT(list(m.tags)) if m.tags else "[]") if whole or m.tags else "",
            m.success_count, m.failure_count, m.confidence,
            f',"contradictions":{m.contradictions!r}' if whole or m.contradictions else "",
            f',"merged_count":{m.merged_count!r}' if whole or m.merged_count else "",
        )  # fmt: skip

    def stored_dict(self) -> dict[str, Any]:
        """What a bank that reads bodies back from its store (SQLite) persists of a pattern:
        ``to_dict(with_embedding=False)`` without what its row holds as columns (id,
        category, strategy, times), without the optional fields at their defaults, and
        without the metadata while its outcome alone decides it (``is_seeded``): a new
        pattern's (``from_stored`` puts all of it back). Why: they were most of a stored
        body, so of what a bulk store writes. A bank that keeps bodies in memory keeps
        ``to_dict``'s form: it splices them into replies as they are."""
        out = self.to_dict(with_embedding=False)
        del out["id"], out["task_category"], out["strategy"]
        if is_seeded(self.metadata, self.outcome.success_score):
            del out["metadata"]
        if not out["context"]:
            del out["context"]
        outcome, meta = out["outcome"], out.get("metadata")
        for key in ("duration_seconds", "tokens_used", "error_message"):
            if outcome[key] is None:
                del outcome[key]
        if not outcome["metrics"]:
            del outcome["metrics"]
        if meta is not None:
            del meta["created_at"], meta["updated_at"]
            for key in ("tags", "contradictions", "merged_count"):
                if not meta[key]:
                    del meta[key]
        return out

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


_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False).encode
_STRING = encode_basestring  # what _COMPACT writes for a str (C when available)


def _json_value(value: Any) -> str:
    """``_COMPACT(value)``, cheaper for the scalars a pattern's fixed fields hold."""
    kind = type(value)
    if kind is str:
        return _STRING(value)
    if kind is float or kind is int:
        return repr(value)  # what the encoder writes for finite numbers (validated)
    if value is None:
        return "null"
    return _COMPACT(value)


def _bool(value: Any) -> str:
    return "true" if value is True else "false" if value is False else _json_value(value)


#: ``Pattern.body_json``'s layout: ``%r`` of an int or float is what the encoder writes; the
#: optional parts come whole (key and value) or as "".
_HEAD = '"id":%s,"task_description":%s,"task_category":%s,"strategy":%s'
_STORED_HEAD = '"task_description":%s'
_BODY = (
    "{%s%s,"
    '"outcome":{"success":%s,"success_score":%r%s},'
    '"metadata":{%s"usage_count":%r,"avg_success_score":%r%s,"success_count":%r,'
    '"failure_count":%r,"confidence":%r%s%s}}'
)
#: ``_BODY`` in the stored form of a pattern whose metadata its outcome decides (``is_seeded``).
_SEEDED_BODY = '{%s%s,"outcome":{"success":%s,"success_score":%r%s}}'
_NUMBER_TYPES = frozenset((int, float))


def is_seeded(meta: Metadata, score: float) -> bool:
    """Whether ``meta`` holds only what a new pattern gets from its own outcome's ``score``
    (``learning.initialise``), times aside: then a stored body leaves it out (``stored_dict``)
    and ``from_stored`` puts it back. Why: those numbers were 110 of a new pattern's 250
    stored bytes."""
    if meta.usage_count or meta.tags or meta.contradictions or meta.merged_count or meta.extra:
        return False
    counts = (meta.success_count, meta.failure_count, meta.avg_success_score, meta.confidence)
    return all(type(c) is float for c in counts) and counts == seeded_counts(score)


def seeded_counts(score: float) -> tuple[float, float, float, float]:
    """A new pattern's successes, failures, average and confidence from its own outcome."""
    return fold(0.0, 0.0, score)


def _seeded(score: float) -> dict[str, Any]:
    """The stored metadata a body without one stands for (``is_seeded``)."""
    successes, failures, average, confidence = seeded_counts(score)
    return {
        "usage_count": 0,
        "avg_success_score": average,
        "success_count": successes,
        "failure_count": failures,
        "confidence": confidence,
    }


def _embedding(value: Any) -> list[float]:
    if isinstance(value, (str, bytes, dict)):
        raise InvalidPattern("embedding must be a list of numbers", field="embedding")
    try:
        vec = [float(x) for x in value]
    except (TypeError, ValueError):
        raise InvalidPattern("embedding must be a list of numbers", field="embedding") from None
    check_vector(vec, None)  # finite, within float32, not all zeros
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


#: A new pattern of the common shape, validated: id, task_description, task_category,
#: strategy, outcome.success, outcome.success_score. Everything else about it is a default.
Draft = tuple[str, str, str, str, bool, float]

_COMMON_KEYS = frozenset(
    ("task_description", "task_category", "strategy", "success_score", "outcome")
)
_COMMON_OUTCOME_KEYS = frozenset(("success", "success_score"))


def common_draft(data: Any, new_id: str) -> Draft | None:
    """``data`` as a ``Draft`` when it has the common shape (the three texts and an outcome
    of success and/or score, nothing else) and is valid; None for anything else, which
    ``Pattern.from_dict`` then validates (and refuses with its one-line error).

    Why: a bulk store of such patterns spent half its time in the general validation's
    helper calls and in building objects most of which hold only defaults.
    ``Pattern.from_draft(common_draft(d, i), now) == Pattern.from_dict(d, new_id=i, now=now)``.
    """
    if type(data) is not dict or not _COMMON_KEYS.issuperset(data):
        return None
    try:  # subscripts, not .get(): this runs once per pattern of a bulk store
        desc, cat, strategy = data["task_description"], data["task_category"], data["strategy"]
    except KeyError:
        return None
    outcome = data.get("outcome")
    if outcome is None:
        outcome = {}
    elif type(outcome) is not dict or not _COMMON_OUTCOME_KEYS.issuperset(outcome):
        return None
    score = outcome["success_score"] if "success_score" in outcome else data.get("success_score")
    success = outcome.get("success")
    if success is not None and type(success) is not bool:
        return None
    if score is None:
        if success is None:
            return None
        score = 1.0 if success else 0.0
    elif type(score) is not float or not 0.0 <= score <= 1.0:
        return None
    elif not score and math.copysign(1.0, score) < 0:
        return None  # -0.0: ``_draft_parts`` would take it for 0.0 (the general path)
    if type(desc) is not str or type(cat) is not str or type(strategy) is not str:
        return None
    # Interned: the bank keeps these two per pattern, and a caller's own string would
    # keep the memory of everything freed around it (its parsed dict) from being reused.
    desc, cat, strategy = desc.strip(), intern(cat.strip()), intern(strategy.strip())
    if not (
        desc
        and cat
        and strategy
        and len(desc) <= MAX_TEXT_LENGTH
        and len(cat) <= _MAX_NAME_LENGTH
        and len(strategy) <= MAX_TEXT_LENGTH
    ):
        return None
    return new_id, desc, cat, strategy, success if success is not None else score >= 0.5, score


def validate_all(
    items: Sequence[Any], *, now: float, ids: Sequence[str], drafts: bool = False
) -> tuple[list[Pattern | Draft], set[int]]:
    """Every item as a ``Pattern`` (id ``ids[i]`` where missing) and the positions whose id
    was given; the first invalid one raises ``InvalidPattern`` naming its position, so a
    batch is refused whole before anything is written. With ``drafts``, items of the common
    shape come back as a ``Draft`` instead (see ``common_draft``; never a given id)."""
    out: list[Pattern | Draft] = []
    given: set[int] = set()
    for i, item in enumerate(items):
        if drafts:
            draft = common_draft(item, ids[i])
            if draft is not None:
                out.append(draft)
                continue
        try:
            if isinstance(item, Pattern) or (isinstance(item, dict) and item.get("id")):
                given.add(i)
            pattern = Pattern.from_dict(item, new_id=ids[i], now=now)
            for free_form in (pattern.context, pattern.outcome.metrics, pattern.metadata.extra):
                if free_form:  # stores persist JSON: refuse what would not round-trip
                    json.dumps(free_form)
        except (TypeError, ValueError) as exc:
            where = f"pattern #{i}: " if len(items) > 1 else ""
            field = getattr(exc, "field", None)
            if not isinstance(exc, InvalidPattern):
                exc = InvalidPattern(f"contains a value that is not JSON: {exc}")
            raise InvalidPattern(f"{where}{exc}", field=field) from None
        out.append(pattern)
    return out, given


def check_limit(value: Any, name: str) -> None:
    """``top_k`` / ``limit`` arguments: a positive integer up to 10,000."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidPattern(f"{name} must be a positive integer, got {value!r}")
    if value > 10_000:
        raise InvalidPattern(f"{name} must be at most 10000, got {value}")
