"""MCP server: four tools over one bank, on stdio (default) or streamable HTTP.

``reasoningbank mcp --db bank.db`` (or ``python -m reasoningbank.mcp_server --db bank.db``).
Built on the official ``mcp`` Python SDK, major version 2 (``mcp.server.lowlevel.Server``
with explicit JSON schemas), imported lazily: the core never needs it.

Tools:

* ``reasoning_store``     store a pattern, or report another outcome for a stored one
* ``reasoning_retrieve``  by id, by query text (category filter, ``top_k``), or by category
* ``reasoning_analyze``   counts, per-strategy success rates with 95% intervals, trends,
  contradictions and near-duplicates
* ``reasoning_optimize``  recommend a strategy with its evidence; optionally consolidate
  (merge near-duplicates, decay old evidence, prune) and report what changed

Arguments are validated against each tool's schema before anything touches the bank, so a
bad call returns an MCP tool error (``isError``) with a message naming the argument, and
stores nothing. The tool logic (``ToolSet``), the analysis (``analyze_patterns``) and the
consolidation (``consolidate``) need no MCP SDK, so they are testable in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
import traceback
from typing import Any

from .analysis import analyze_patterns
from .errors import InvalidPattern, NotFound, ReasoningBankError
from .mcp_wire import MAX_MESSAGE_BYTES, CheckedBodies, serve_stdio
from .model import Pattern, format_time

__all__ = [
    "TOOLS",
    "ToolError",
    "ToolSet",
    "build_server",
    "consolidate",
    "main",
    "register",
    "serve",
    "validate",
]

_INSTALL_HINT = "the MCP server needs the mcp SDK 2.x: pip install 'reasoningbank[mcp]'"
_SERVER_INSTRUCTIONS = (
    "ReasoningBank is a memory of past task attempts (patterns): task, category, strategy and "
    "outcome. Before a task, call reasoning_optimize (task_description + task_category) for a "
    "recommended strategy, or reasoning_retrieve with a query to read similar past attempts. "
    "After the task, call reasoning_store with what you did and how it went (success or "
    "success_score); if you reused a retrieved pattern, pass its pattern_id instead so the bank "
    "learns from the outcome. reasoning_analyze summarises what works per strategy."
)

#: Nesting inside a free-form argument (``context``, ``metrics``); past it: a tool error.
MAX_ARGUMENT_DEPTH = 16
#: Largest integer a tool accepts: exact in every JSON reader (2^53 - 1).
MAX_INTEGER = 2**53 - 1
#: A prune deletes at most this share of the bank in one call (the library API can do more).
MAX_PRUNE_SHARE = 0.5
#: Old argument spellings, and what they are called now (the pattern's own field names).
RENAMED = {
    "category": "task_category",
    "task": "task_description",
    "description": "task_description",
    "id": "pattern_id",
    "score": "success_score",
}

_OUTCOME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Full outcome, as an alternative to the success / success_score shorthands.",
    "properties": {
        "success": {"type": "boolean", "description": "Did the task succeed?"},
        "success_score": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "Graded result, 0 (failed) to 1 (perfect).",
        },
        "duration_seconds": {
            "type": "number",
            "minimum": 0,
            "maximum": 1e9,
            "description": "Wall time in seconds.",
        },
        "tokens_used": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_INTEGER,
            "description": "LLM tokens spent.",
        },
        "error_message": {"type": "string", "maxLength": 20000, "description": "Why it failed."},
        "metrics": {"type": "object", "description": "Any other numbers worth keeping."},
    },
    "additionalProperties": False,
}

TOOLS: dict[str, dict[str, Any]] = {
    "reasoning_store": {
        "title": "Store a task attempt",
        "description": (
            "Remember one attempt at a task: what the task was (task_description), its kind "
            "(task_category, e.g. 'backend', 'web-scraping'), the approach taken (strategy) and "
            "how it turned out (success and/or success_score 0..1, or a full outcome object). "
            "Failures are worth storing too: they steer future recommendations away from "
            "strategies that did not work. A new attempt that nearly duplicates a stored one "
            "(same task_category and strategy) is merged into it as one more observation. "
            "Arguments are named as the pattern's own fields. To report "
            "the outcome of reusing an existing pattern, pass pattern_id plus success / "
            "success_score instead of the task fields. Returns the pattern id."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "task_description": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 20000,
                    "description": "The task faced, in one or a few sentences.",
                },
                "task_category": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 200,
                    "description": "Short category name used to group and filter patterns.",
                },
                "strategy": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 20000,
                    "description": "The approach used: a short name ('test-driven') or steps.",
                },
                "success": {"type": "boolean", "description": "Did it work?"},
                "success_score": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 1,
                    "description": "Graded outcome from 0 to 1 (defaults from success).",
                },
                "outcome": _OUTCOME_SCHEMA,
                "context": {
                    "type": "object",
                    "description": "Facts about the situation (language, framework, ...).",
                },
                "tags": {
                    "type": "array",
                    "maxItems": 50,
                    "items": {"type": "string", "minLength": 1, "maxLength": 100},
                    "description": "Free-form labels.",
                },
                "pattern_id": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 200,
                    "description": (
                        "Report an outcome for this existing pattern instead of storing a new "
                        "one (only success / success_score / outcome are used then)."
                    ),
                },
            },
            "additionalProperties": False,
            "anyOf": [
                {"required": ["task_description", "task_category", "strategy"]},
                {"required": ["pattern_id"]},
            ],
        },
        "annotations": {
            "read_only_hint": False,
            "destructive_hint": False,
            "idempotent_hint": False,
        },
    },
    "reasoning_retrieve": {
        "title": "Find past attempts",
        "description": (
            "Read patterns back. With pattern_id: that one pattern. With query: the top_k most "
            "similar past tasks (optionally only within task_category), best first, each with "
            "its composite score and the score parts (similarity, lexical, category, ...). With "
            "only task_category: its newest top_k patterns. Arguments are named as the "
            "pattern's own fields (task_category, not category)."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "pattern_id": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 200,
                    "description": "A pattern id (the id field of a stored pattern).",
                },
                "query": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 20000,
                    "description": "Describe the task you are about to do.",
                },
                "task_category": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 200,
                    "description": "Only return patterns of this task_category.",
                },
                "top_k": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 100,
                    "default": 5,
                    "description": "Maximum number of patterns returned.",
                },
                "min_score": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 1,
                    "default": 0,
                    "description": "Drop matches whose composite score is below this.",
                },
                "context": {
                    "type": "object",
                    "description": (
                        'With query: facts about your situation (e.g. {"lang": "python"}); '
                        "patterns whose context matches score higher (parts.context)."
                    ),
                },
            },
            "additionalProperties": False,
            "anyOf": [
                {"required": ["pattern_id"]},
                {"required": ["query"]},
                {"required": ["task_category"]},
            ],
        },
        "annotations": {"read_only_hint": True, "idempotent_hint": True},
    },
    "reasoning_analyze": {
        "title": "Analyze what works",
        "description": (
            "Statistics over one category (or all): pattern counts; per strategy the success "
            "rate with a 95% Wilson interval and the Beta posterior; success over time by "
            "day/week/month with the trend direction; contradictions (outcomes that went against "
            "a pattern's record, and near-identical tasks whose outcomes disagree); and "
            "near-duplicate pairs (tf-idf cosine of task descriptions within a task_category, "
            "the definition the bank merges by). Arguments are named as the pattern's own "
            "fields (task_category, not category)."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "task_category": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 200,
                    "description": "Analyze only this task_category (default: all).",
                },
                "bucket": {
                    "type": "string",
                    "enum": ["day", "week", "month"],
                    "default": "week",
                    "description": "Time bucket of the trend series.",
                },
                "near_duplicate_threshold": {
                    "type": "number",
                    "minimum": 0.5,
                    "maximum": 1,
                    "default": 0.9,
                    "description": (
                        "tf-idf cosine of task descriptions at or above which two patterns of "
                        "one task_category count as near-duplicates."
                    ),
                },
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 1000,
                    "default": 20,
                    "description": "Maximum entries per list in the answer.",
                },
            },
            "additionalProperties": False,
        },
        "annotations": {"read_only_hint": True, "idempotent_hint": True},
    },
    "reasoning_optimize": {
        "title": "Recommend a strategy (and consolidate)",
        "description": (
            "Recommend the strategy most likely to succeed for a task, from the outcomes of "
            "similar past tasks, with its confidence, the evidence (pattern ids and their "
            "records) and the ranked alternatives with 95% intervals. Set consolidate to also "
            "merge near-duplicate patterns (same task_category and strategy) keeping all their "
            "evidence; the answer lists exactly what changed. Pruning is a deliberate act: "
            "only prune deletes patterns (those whose evidence has decayed with age), it "
            "previews unless dry_run is false, and one call never deletes more than half the "
            "bank. Arguments are named as the pattern's own fields."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "task_description": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 20000,
                    "description": "The task you are about to do.",
                },
                "task_category": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 200,
                    "description": "Its category (recommended: evidence is searched within it).",
                },
                "explore": {
                    "type": "boolean",
                    "default": False,
                    "description": (
                        "Thompson sampling instead of the greedy best (tries uncertain strategies)."
                    ),
                },
                "seed": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": MAX_INTEGER,
                    "description": "Seed for explore, for reproducibility.",
                },
                "consolidate": {
                    "type": "boolean",
                    "default": False,
                    "description": (
                        "Also merge near-duplicates (their evidence is kept) and report what "
                        "changed. Never deletes evidence: that takes prune."
                    ),
                },
                "prune": {
                    "type": "boolean",
                    "default": False,
                    "description": (
                        "Also delete patterns whose age-discounted evidence fell below "
                        "min_evidence. Previews unless dry_run is false; refused when it would "
                        "delete more than half the bank."
                    ),
                },
                "min_evidence": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 1,
                    "default": 0.1,
                    "description": (
                        "With prune: the age-discounted evidence (observations x 0.5^(age / the "
                        "bank's half-life)) below which a pattern is pruned; 1 is one fresh "
                        "observation."
                    ),
                },
                "dry_run": {
                    "type": "boolean",
                    "description": (
                        "Report what would change without changing it. Default: true with "
                        "prune, false otherwise."
                    ),
                },
            },
            "additionalProperties": False,
            "anyOf": [
                {"required": ["task_description"]},
                {"required": ["consolidate"]},
                {"required": ["prune"]},
            ],
        },
        "annotations": {
            "read_only_hint": False,
            "destructive_hint": True,
            "idempotent_hint": False,
        },
    },
}


class ToolError(ReasoningBankError):
    """A tool call failed in a way the caller can fix; its message says how."""


# -- argument validation (a small JSON-schema subset, with messages an LLM can act on) ------
_JSON_TYPES = {
    "string": str, "boolean": bool, "object": dict, "array": list, "null": type(None),
}  # fmt: skip


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    for name, t in _JSON_TYPES.items():
        if isinstance(value, t):
            return name
    return type(value).__name__


def _is_type(value: Any, t: str) -> bool:
    if t == "integer":
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            or (isinstance(value, float) and value.is_integer())
        )
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _JSON_TYPES[t]) and not (t != "boolean" and isinstance(value, bool))


def _unknown_argument(name: str, props: dict[str, Any], path: str) -> str:
    """Name the argument meant, when an old or camelCase spelling of it was used."""
    where = repr(name) if path == "arguments" else f"{path}.{name}"
    snake = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    meant = snake if snake in props else RENAMED.get(snake)
    if meant in props:
        return (
            f"unknown argument {where}: it is called {meant!r} "
            "(arguments are named as the pattern's own fields)"
        )
    return f"unknown argument {where}; expected one of: {', '.join(props)}"


def _check_free_form(value: Any, path: str) -> None:
    """A free-form object (context, metrics) nests at most ``MAX_ARGUMENT_DEPTH`` levels and
    holds only finite numbers: what every store, bundle and peer can carry."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_ARGUMENT_DEPTH:
            raise ToolError(f"{path} nests deeper than {MAX_ARGUMENT_DEPTH} levels")
        if isinstance(item, float) and not math.isfinite(item):
            raise ToolError(f"{path} holds a number that is not finite ({item!r})")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def validate(schema: dict[str, Any], value: Any, path: str = "arguments") -> Any:
    """Check ``value`` against ``schema``; returns it with defaults filled in.

    Raises ``ToolError`` naming the first offending argument and what was expected.
    """
    t = schema.get("type")
    if t is not None and not _is_type(value, t):
        raise ToolError(
            f"{path} must be {'an' if t[0] in 'aeiou' else 'a'} {t}, got {_type_name(value)}"
        )
    if t == "integer" and isinstance(value, float):
        value = int(value)
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(repr(v) for v in schema["enum"])
        raise ToolError(f"{path} must be one of {allowed}, got {value!r}")
    if isinstance(value, str):
        if len(value.strip()) < schema.get("minLength", 0):
            raise ToolError(f"{path} must not be empty")
        if len(value) > schema.get("maxLength", 1 << 60):
            raise ToolError(f"{path} is longer than {schema['maxLength']} characters")
    if _is_type(value, "number"):
        lo, hi = schema.get("minimum"), schema.get("maximum")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            if lo is not None and hi is not None:
                raise ToolError(f"{path} must be between {lo} and {hi}, got {value!r}")
            bound = f"at least {lo}" if lo is not None else f"at most {hi}"
            raise ToolError(f"{path} must be {bound}, got {value!r}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            raise ToolError(
                f"{path} must be greater than {schema['exclusiveMinimum']}, got {value!r}"
            )
        if value != value or value in (float("inf"), float("-inf")):
            raise ToolError(f"{path} must be a finite number")
    if isinstance(value, list):
        if len(value) > schema.get("maxItems", 1 << 60):
            raise ToolError(f"{path} has more than {schema['maxItems']} items")
        if "items" in schema:
            value = [validate(schema["items"], v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict) and t == "object":
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            unknown = sorted(set(value) - set(props))
            if unknown:
                raise ToolError(_unknown_argument(unknown[0], props, path))
        elif not props:
            _check_free_form(value, path)
        for name in schema.get("required", []):
            if name not in value:
                raise ToolError(f"{path}.{name} is required")
        out = dict(value)
        for name, sub in props.items():
            if name in out and out[name] is not None:
                out[name] = validate(
                    sub, out[name], name if path == "arguments" else f"{path}.{name}"
                )
            elif "default" in sub:
                out[name] = sub["default"]
        if "anyOf" in schema and not any(
            all(k in value for k in alt["required"]) for alt in schema["anyOf"]
        ):
            options = " or ".join("+".join(alt["required"]) for alt in schema["anyOf"])
            raise ToolError(f"missing arguments: give {options}")
        return out
    return value


# -- the tools (no MCP SDK needed) ---------------------------------------------------------
class ToolSet:
    """The four tools over one open ``ReasoningBank``. Calls are serialised by a lock, so a
    consolidation never interleaves with a store."""

    def __init__(self, bank: Any, *, clock: Any = time.time) -> None:
        self.bank = bank
        self._clock = clock
        self._lock = asyncio.Lock()

    async def call(self, name: str, arguments: dict[str, Any] | None) -> dict[str, Any]:
        """Run tool ``name``; raises ``ToolError`` (caller's fault) or other errors (ours)."""
        spec = TOOLS.get(name)
        if spec is None:
            raise ToolError(f"unknown tool {name!r}; available: {', '.join(TOOLS)}")
        args = validate(spec["input_schema"], arguments if arguments is not None else {})
        handler = getattr(self, "_" + name)
        async with self._lock:
            try:
                result: dict[str, Any] = await handler(args)
                return result
            except (InvalidPattern, NotFound) as exc:
                raise ToolError(str(exc)) from exc

    async def _reasoning_store(self, a: dict[str, Any]) -> dict[str, Any]:
        outcome = dict(a.get("outcome") or {})
        for key in ("success", "success_score"):
            if key in a:
                outcome.setdefault(key, a[key])
        if "success" not in outcome and "success_score" not in outcome:
            raise ToolError("give the outcome: success (true/false) and/or success_score (0..1)")
        if a.get("pattern_id"):
            extra = [
                k
                for k in ("task_description", "task_category", "strategy", "context", "tags")
                if k in a
            ]
            if extra:
                raise ToolError(
                    f"with pattern_id only the outcome is recorded; drop {', '.join(extra)} "
                    "(or drop pattern_id to store a new pattern)"
                )
            details = {k: v for k, v in outcome.items() if k not in ("success", "success_score")}
            p = await self.bank.record_outcome(
                a["pattern_id"],
                success=outcome.get("success"),
                score=outcome.get("success_score"),
                **details,
            )
            return {"id": p.id, "action": "outcome_recorded", "pattern": _summary(p)}
        started = self._clock()
        pattern = {
            "task_description": a["task_description"],
            "task_category": a["task_category"],
            "strategy": a["strategy"],
            "outcome": outcome,
            "context": a.get("context") or {},
        }
        if a.get("tags"):
            pattern["tags"] = a["tags"]
        pid = await self.bank.store_pattern(pattern)
        p = await self.bank.get_pattern(pid)
        merged = p is not None and p.metadata.created_at < started - 1e-3
        return {"id": pid, "action": "merged" if merged else "stored", "pattern": _summary(p)}

    async def _reasoning_retrieve(self, a: dict[str, Any]) -> dict[str, Any]:
        if a.get("pattern_id"):
            p = await self.bank.get_pattern(a["pattern_id"])
            if p is None:
                raise ToolError(f"no pattern with id {a['pattern_id']!r}")
            return {"mode": "id", "count": 1, "patterns": [_full(p)]}
        if a.get("query"):
            matches = await self.bank.find_similar(
                a["query"],
                task_category=a.get("task_category"),
                top_k=a["top_k"],
                min_score=a["min_score"],
                context=a.get("context") or None,
            )
            return {
                "mode": "query",
                "count": len(matches),
                "matches": [
                    {"id": m.pattern.id, "score": m.score, "similarity": m.similarity,
                     "parts": dict(m.parts), "pattern": _full(m.pattern)}
                    for m in matches
                ],
            }  # fmt: skip
        ps = await self.bank.search_by_category(a["task_category"], limit=a["top_k"])
        return {"mode": "category", "count": len(ps), "patterns": [_full(p) for p in ps]}

    async def _reasoning_analyze(self, a: dict[str, Any]) -> dict[str, Any]:
        patterns = await self.bank.all_patterns()
        return analyze_patterns(
            patterns,
            task_category=a.get("task_category"),
            bucket=a["bucket"],
            near_duplicate_threshold=a["near_duplicate_threshold"],
            limit=a["limit"],
            now=self._clock(),
        )

    async def _reasoning_optimize(self, a: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if a.get("task_description"):
            rec = await self.bank.recommend_strategy(
                a["task_description"], a.get("task_category"),
                explore=a["explore"], seed=a.get("seed"),
            )  # fmt: skip
            evidence = []
            for pid in rec.evidence[:10]:
                p = await self.bank.get_pattern(pid)
                if p is not None:
                    evidence.append(_summary(p))
            out["recommendation"] = {
                "strategy": rec.strategy,
                "confidence": rec.confidence,
                "explored": rec.explored,
                "evidence_ids": list(rec.evidence),
                "evidence": evidence,
                "alternatives": [dict(x) for x in rec.alternatives],
                "note": None
                if rec.strategy
                else "no similar past tasks yet: store some outcomes first",
            }
        if a["consolidate"] or a["prune"]:
            dry_run = a.get("dry_run", a["prune"])
            out["consolidation"] = await consolidate(
                self.bank, prune=a["prune"], min_evidence=a["min_evidence"], dry_run=dry_run
            )
        return out


def _summary(p: Any) -> dict[str, Any]:
    m = p.metadata
    return {
        "id": p.id,
        "task_description": p.task_description,
        "task_category": p.task_category,
        "strategy": p.strategy,
        "success": p.outcome.success,
        "success_score": p.outcome.success_score,
        "confidence": m.confidence,
        "usage_count": m.usage_count,
        "observations": m.success_count + m.failure_count,
    }


def _full(p: Pattern) -> dict[str, Any]:
    return p.to_dict(with_embedding=False)


# -- consolidation --------------------------------------------------------------------------
async def consolidate(
    bank: Any, *, prune: bool = False, min_evidence: float = 0.1, dry_run: bool = False
) -> dict[str, Any]:
    """Run the bank's own consolidation and report what changed, pattern by pattern.

    ``ReasoningBank.consolidate`` merges near-duplicates (same category and strategy, text
    cosine ≥ its ``dedup_threshold``) into the oldest copy, adding up all their observations,
    and with ``prune`` deletes patterns whose age-discounted evidence fell below
    ``min_evidence`` (decay with the bank's ``half_life_days``), in one transaction. This adds,
    for each change, what an agent needs to judge it: strategy, category, confidence before
    and after.

    Why the prune guard: a tool call comes from a model, and one call with a large
    ``min_evidence`` once deleted a whole bank. A prune that would delete more than
    ``MAX_PRUNE_SHARE`` of the bank is refused before anything changes.
    """
    from .learning import absorb

    before = {p.id: p for p in await bank.all_patterns()}
    if not prune:
        min_evidence = 0.0  # evidence is never negative: nothing is pruned
    elif not dry_run:
        preview = await bank.consolidate(dry_run=True, min_evidence=min_evidence)
        doomed = len(preview.get("pruned", []))
        if doomed > MAX_PRUNE_SHARE * len(before):
            raise ToolError(
                f"prune would delete {doomed} of {len(before)} patterns, more than "
                f"{MAX_PRUNE_SHARE:.0%} of the bank; nothing was changed (lower min_evidence, "
                "or prune through the library's ReasoningBank.consolidate)"
            )
    raw = await bank.consolidate(dry_run=dry_run, min_evidence=min_evidence)
    merged = []
    for entry in raw.get("merged", []):
        target = before.get(entry["into"])
        if target is None:
            continue
        confidence_before = target.metadata.confidence
        if dry_run:  # what the merge would give: fold copies, as the bank does
            for pid in entry["ids"]:
                if pid in before:
                    absorb(target, before[pid])
            after = target
        else:
            after = await bank.get_pattern(entry["into"]) or target
        merged.append(
            {
                "kept": entry["into"],
                "removed": list(entry["ids"]),
                "strategy": target.strategy,
                "task_category": target.task_category,
                "observations_after": after.metadata.success_count + after.metadata.failure_count,
                "confidence_before": confidence_before,
                "confidence_after": after.metadata.confidence,
            }
        )
    pruned = []
    for pid in raw.get("pruned", []):
        p = before.get(pid)
        if p is not None:
            pruned.append(
                {
                    "id": pid,
                    "strategy": p.strategy,
                    "task_category": p.task_category,
                    "confidence": p.metadata.confidence,
                    "observations": p.metadata.success_count + p.metadata.failure_count,
                    "last_updated": format_time(p.metadata.updated_at),
                }
            )
    n_before, n_after = raw.get("before", len(before)), raw.get("after", len(before))
    n_merged = sum(len(m["removed"]) for m in merged)
    verb = "would merge" if dry_run else "merged"
    return {
        "dry_run": dry_run,
        "patterns_before": n_before,
        "patterns_after": n_after,
        "merge_threshold": getattr(bank, "dedup_threshold", None),
        "half_life_days": getattr(bank, "half_life_days", None),
        "prune": prune,
        "min_evidence": min_evidence if prune else None,
        "merged": merged,
        "pruned": pruned,
        "summary": (
            f"{verb} {n_merged} near-duplicates into {len(merged)} patterns, "
            f"{'would prune' if dry_run else 'pruned'} {len(pruned)}; "
            f"{n_before} -> {n_after} patterns"
            + ("; to prune, call again with dry_run false" if prune and dry_run else "")
        ),
    }


# -- MCP glue (SDK 2.x) --------------------------------------------------------------------
def _sdk() -> tuple[Any, Any]:
    """The SDK's types and low-level ``Server``; a clear error without it or with mcp 1.x
    (whose low-level server registers handlers by decorator, not in the constructor)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        import mcp.types as types
        from mcp.server.lowlevel import Server
    except ImportError as exc:
        raise ReasoningBankError(_INSTALL_HINT) from exc
    try:
        major = int(version("mcp").split(".")[0])
    except (PackageNotFoundError, ValueError):
        major = 2
    if major < 2:
        raise ReasoningBankError(
            f"the MCP server needs the mcp SDK 2.x, found {version('mcp')}: "
            "pip install 'reasoningbank[mcp]' (or 'mcp>=2.3,<3')"
        )
    return types, Server


def build_server(tools: ToolSet) -> Any:
    """An ``mcp.server.lowlevel.Server`` exposing ``tools``."""
    types, Server = _sdk()
    listed = [
        types.Tool(
            name=name,
            title=spec["title"],
            description=spec["description"],
            input_schema=spec["input_schema"],
            annotations=types.ToolAnnotations(title=spec["title"], **spec["annotations"]),
        )
        for name, spec in TOOLS.items()
    ]

    async def on_list_tools(ctx: Any, params: Any) -> Any:
        return types.ListToolsResult(tools=listed)

    async def on_call_tool(ctx: Any, params: Any) -> Any:
        try:
            result = await tools.call(params.name, params.arguments)
        except ToolError as exc:
            return _error(types, str(exc))
        except ReasoningBankError as exc:
            return _error(types, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a bug: say so, keep serving; the bank is unchanged or committed
            traceback.print_exc(file=sys.stderr)
            return _error(types, f"internal error ({type(exc).__name__}: {exc}); nothing was lost")
        text = json.dumps(result, ensure_ascii=False)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)], structured_content=result
        )

    from importlib.metadata import PackageNotFoundError, version

    try:
        ours = version("reasoningbank")
    except PackageNotFoundError:
        ours = "0"
    return Server(
        "reasoningbank",
        version=ours,
        instructions=_SERVER_INSTRUCTIONS,
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
    )


def _error(types: Any, message: str) -> Any:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=message)], is_error=True
    )


async def serve(
    location: str | None, *, http: bool = False, host: str = "127.0.0.1", port: int = 8765
) -> None:
    """Open the bank at ``location`` and serve MCP until the client disconnects (stdio) or
    the process is interrupted (HTTP). The bank is closed on the way out."""
    _sdk()  # fail fast with the install hint, before opening anything
    from .bank import ReasoningBank

    bank = await ReasoningBank.open(location)
    try:
        server = build_server(ToolSet(bank))
        if http:
            import uvicorn

            app = server.streamable_http_app(host=host, max_request_body_size=MAX_MESSAGE_BYTES)
            config = uvicorn.Config(
                CheckedBodies(app), host=host, port=port, log_level="warning", lifespan="on"
            )
            print(
                f"reasoningbank MCP (streamable HTTP) on http://{host}:{port}/mcp",
                file=sys.stderr,
                flush=True,
            )
            await uvicorn.Server(config).serve()
        else:
            await serve_stdio(server, _sdk()[0])
    finally:
        await bank.close()


# -- CLI -------------------------------------------------------------------------------------
def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--http", action="store_true", help="serve streamable HTTP instead of stdio")
    p.add_argument("--host", default="127.0.0.1", help="HTTP host (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="HTTP port (default 8765)")
    p.set_defaults(handler=run_mcp)


def register(subparsers: Any, db_parent: Any) -> None:
    """Add the ``mcp`` subcommand (``--db`` comes from ``db_parent``)."""
    p = subparsers.add_parser(
        "mcp",
        parents=[db_parent],
        help="serve the bank to MCP clients (stdio; --http for streamable HTTP)",
        description=(
            "Run an MCP server with the tools reasoning_store, reasoning_retrieve, "
            "reasoning_analyze and reasoning_optimize. Speaks stdio by default (for "
            "Claude Desktop/Code and other MCP hosts); --http serves streamable HTTP at "
            "http://HOST:PORT/mcp. Example: reasoningbank --db bank.db mcp"
        ),
    )
    _add_arguments(p)


def run_mcp(args: Any) -> int:
    """Handler for ``reasoningbank mcp``; returns the exit code."""
    location = getattr(args, "db", None) or os.environ.get("REASONINGBANK_DB") or None
    try:
        asyncio.run(serve(location, http=args.http, host=args.host, port=args.port))
    except ReasoningBankError as exc:
        print(f"reasoningbank mcp: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m reasoningbank.mcp_server [--db PATH] [--http --host H --port P]``."""
    p = argparse.ArgumentParser(
        prog="python -m reasoningbank.mcp_server", description=__doc__.split("\n")[0]
    )
    p.add_argument("--db", help="bank location (default: $REASONINGBANK_DB or the user data dir)")
    _add_arguments(p)
    return run_mcp(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
