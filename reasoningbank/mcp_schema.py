"""The MCP tools' JSON schemas, and the validator that checks arguments against them.

Why apart from the server: the schemas are the tools' public contract (one literal, read by
clients through ``tools/list``), and validation runs before anything touches the bank, with
errors that name the argument and, for an old spelling, the new one.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import ReasoningBankError
from .loop.trajectory import MAX_STEPS

__all__ = [
    "MAX_ARGUMENT_DEPTH",
    "MAX_INTEGER",
    "RENAMED",
    "TOOLS",
    "ToolError",
    "validate",
]

#: Nesting inside a free-form argument (``context``, ``metrics``); past it: a tool error.
MAX_ARGUMENT_DEPTH = 16
#: Largest integer a tool accepts: exact in every JSON reader (2^53 - 1).
MAX_INTEGER = 2**53 - 1
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

_STEP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "One step of an attempt.",
    "properties": {
        name: {"type": "string", "maxLength": 100_000, "description": what}
        for name, what in (
            ("thought", "What the agent reasoned."),
            ("action", "What it did (a command, a tool call, an edit)."),
            ("observation", "What came back (output, errors, test results)."),
        )
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
            "success_score instead of the task fields. Returns the pattern id. To learn "
            "from what you did rather than name a strategy, pass task_description and "
            "trajectory (your transcript or steps): the attempt is judged (by your own model "
            "when the client offers MCP sampling), and up to 3 lessons are distilled and "
            "stored."
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
                "trajectory": {
                    "type": ["string", "array"],
                    "minLength": 1,
                    "maxItems": MAX_STEPS,
                    "items": _STEP_SCHEMA,
                    "description": (
                        "Learn from what was done: the attempt's transcript (text), or its "
                        "steps as [{thought, action, observation}]. With task_description it "
                        "judges the attempt (from success / success_score when given), "
                        "distills at most 3 memory items and stores them; no strategy needed."
                    ),
                },
            },
            "additionalProperties": False,
            "anyOf": [
                {"required": ["task_description", "task_category", "strategy"]},
                {"required": ["pattern_id"]},
                {"required": ["task_description", "trajectory"]},
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
            "only task_category: its newest top_k patterns. With query and format 'prompt': "
            "the lessons learned from similar past tasks as one block for your system prompt. "
            "Arguments are named as the pattern's own fields (task_category, not category)."
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
                "format": {
                    "type": "string",
                    "enum": ["matches", "prompt"],
                    "description": (
                        "matches (default): patterns as JSON. prompt (with query): one block for "
                        "your system prompt with the memory items of the top_k most similar "
                        "past tasks, quoted as data with their provenance."
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
    if isinstance(t, list):  # a union such as ["string", "array"]: check as the one that fits
        fits = [name for name in t if _is_type(value, name)]
        if not fits:
            raise ToolError(f"{path} must be {' or '.join(t)}, got {_type_name(value)}")
        t = fits[0]
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
