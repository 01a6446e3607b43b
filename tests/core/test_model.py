import json
import random

import pytest

from reasoningbank import InvalidPattern, Pattern
from reasoningbank.model import (
    Metadata,
    _json_value_ok,
    check_json_value,
    format_time,
    parse_time,
)

NOW = 1_700_000_000.0

RUST_SHAPE = {
    "id": "5f0c6a2e-0000-4000-8000-000000000001",
    "task_description": "Implement authentication",
    "task_category": "backend",
    "strategy": "test-driven",
    "context": {"language": "rust"},
    "outcome": {
        "success": True,
        "success_score": 0.95,
        "duration_seconds": 120.0,
        "tokens_used": 1500,
        "error_message": None,
        "metrics": {"tests": 12},
    },
    "metadata": {
        "created_at": "2024-01-02T03:04:05.123456Z",
        "updated_at": "2024-01-02T03:04:05Z",
        "usage_count": 3,
        "avg_success_score": 0.9,
        "tags": ["auth"],
        "origin": "rust",
    },
    "embedding": [0.1, 0.2, 0.3],
}


def test_rust_shaped_pattern_round_trips():
    p = Pattern.from_dict(RUST_SHAPE, new_id="unused", now=NOW)
    out = p.to_dict()
    assert out["id"] == RUST_SHAPE["id"]
    assert out["outcome"] == RUST_SHAPE["outcome"]
    assert out["metadata"]["origin"] == "rust"  # unknown metadata is kept, not dropped
    assert out["metadata"]["usage_count"] == 3
    assert out["metadata"]["created_at"] == "2024-01-02T03:04:05.123456Z"
    assert Pattern.from_dict(out, new_id="x", now=NOW).to_dict() == out


def test_top_level_success_score_is_shorthand_for_outcome():
    p = Pattern.from_dict(
        {"task_description": "t", "task_category": "c", "strategy": "s", "success_score": 0.3},
        new_id="i",
        now=NOW,
    )
    assert p.outcome.success_score == 0.3
    assert p.outcome.success is False


@pytest.mark.parametrize(
    "change, field",
    [
        ({"task_description": ""}, "task_description"),
        ({"task_description": 5}, "task_description"),
        ({"task_category": None}, "task_category"),
        ({"strategy": "  "}, "strategy"),
        ({"outcome": {"success_score": 1.5}}, "success_score"),
        ({"outcome": {"success_score": float("nan")}}, "success_score"),
        ({"outcome": {"success": "yes"}}, "outcome.success"),
        ({"outcome": {}, "success_score": None}, "outcome"),
        ({"context": [1, 2]}, "context"),
        ({"embedding": ["a"]}, "embedding"),
        ({"embedding": [float("inf")]}, "embedding"),
        ({"metadata": {"tags": "x"}}, "tags"),
        ({"metadata": {"created_at": "yesterday"}}, "created_at"),
    ],
)
def test_invalid_fields_raise_invalid_pattern_naming_the_field(change, field):
    data = {"task_description": "t", "task_category": "c", "strategy": "s", "success_score": 0.5}
    data.update(change)
    with pytest.raises(InvalidPattern) as err:
        Pattern.from_dict(data, new_id="i", now=NOW)
    assert err.value.field == field


def test_timestamps_accept_rfc3339_seconds_and_js_milliseconds():
    assert parse_time("2024-01-01T00:00:00Z", "t") == 1704067200.0
    assert parse_time(1704067200, "t") == 1704067200.0
    assert parse_time(1704067200000, "t") == 1704067200.0
    assert format_time(1704067200.5) == "2024-01-01T00:00:00.500000Z"


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    "change, field",
    [
        ({"context": {"load": NAN}}, "context.load"),
        ({"context": {"runs": [1.0, {"t": -INF}]}}, "context.runs.1.t"),
        ({"outcome": {"success": True, "metrics": {"latency": INF}}}, "outcome.metrics.latency"),
        ({"outcome": {"success": True, "duration_seconds": INF}}, "duration_seconds"),
        ({"metadata": {"origin": {"score": NAN}}}, "metadata.origin.score"),
        ({"metadata": {"confidence": NAN}}, "confidence"),
        ({"metadata": {"usage_count": INF}}, "usage_count"),
        ({"metadata": {"success_count": 1e300}}, "success_count"),
        ({"embedding": [0.1, NAN]}, "embedding"),
        ({"embedding": [1e39, 0.5]}, "embedding"),  # +inf once stored as float32
        ({"embedding": [2e19, 1.0]}, "embedding"),  # float32 dot products would overflow
        ({"embedding": [1e-46, 0.0]}, "embedding"),  # all zeros in float32
        ({"metadata": {"created_at": 1e300}}, "created_at"),
        ({"metadata": {"created_at": -5}}, "created_at"),
        ({"metadata": {"updated_at": 1e16}}, "updated_at"),  # milliseconds past year 9999
        ({"metadata": {"created_at": "1969-12-31T23:59:59Z"}}, "created_at"),
        ({"metadata": {"created_at": "9999-12-31T23:59:59-05:00"}}, "created_at"),
    ],
)
def test_non_finite_and_out_of_range_values_are_refused_naming_the_field(change, field):
    data = {"task_description": "t", "task_category": "c", "strategy": "s", "success_score": 0.5}
    data.update(change)
    with pytest.raises(InvalidPattern) as err:
        Pattern.from_dict(data, new_id="i", now=NOW)
    assert err.value.field == field
    assert "\n" not in str(err.value)


def test_extreme_but_valid_values_are_kept():
    p = Pattern.from_dict(
        {
            "task_description": "t", "task_category": "c", "strategy": "s", "success_score": 0.5,
            "embedding": [1.8e19, -1e-40], "context": {"big": 1e308},
            "metadata": {"created_at": 0, "updated_at": "9999-12-31T23:59:59Z"},
        },
        new_id="i",
        now=NOW,
    )  # fmt: skip
    assert p.to_dict()["metadata"]["updated_at"] == "9999-12-31T23:59:59Z"
    assert p.embedding == [1.8e19, -1e-40]


def test_hostile_nesting_is_a_clear_error_not_a_recursion_error():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    data = {"task_description": "t", "task_category": "c", "strategy": "s", "success_score": 0.5}
    with pytest.raises(InvalidPattern, match="nested deeper than 32 levels") as err:
        Pattern.from_dict({**data, "context": {"x": deep}}, new_id="i", now=NOW)
    assert err.value.field == "context"


def test_a_pattern_built_directly_is_checked_too():
    p = Pattern.from_dict(
        {"task_description": "t", "task_category": "c", "strategy": "s", "success_score": 0.5},
        new_id="i",
        now=NOW,
    )
    p.context["bad"] = NAN
    with pytest.raises(InvalidPattern) as err:
        Pattern.from_dict(p, new_id="x", now=NOW)
    assert err.value.field == "context.bad"


@pytest.mark.parametrize(
    "data",
    [
        RUST_SHAPE,
        {k: v for k, v in RUST_SHAPE.items() if k != "metadata"},  # no unknown metadata
        {"task_description": 'quote " é \u2028 \n', "task_category": "c", "strategy": "s",
         "success_score": 1, "tags": ["x", "y"]},
        {"task_description": "t", "task_category": "c", "strategy": "s",
         "outcome": {"success": False, "success_score": 0.123456789012345, "tokens_used": 0,
                     "duration_seconds": 7, "error_message": "boom", "metrics": {"a": [1.5]}},
         "metadata": {"usage_count": 4, "success_count": 3, "failure_count": 1.25,
                      "confidence": 1, "contradictions": 2, "merged_count": 1}},
    ],
)  # fmt: skip
def test_body_json_is_the_compact_encoding_of_to_dict_and_stored_dict(data):
    """Stores persist ``body_json``; it must equal what encoding ``to_dict`` (``stored``:
    ``stored_dict``) gives, byte for byte, whatever the field types (ints where floats are
    usual, unicode, free-form parts, optional fields set or at their defaults)."""
    p = Pattern.from_dict(data, new_id="generated", now=NOW)

    def same() -> None:
        assert p.body_json() == _compact(p.to_dict(with_embedding=False))
        assert p.body_json(stored=True) == _compact(p.stored_dict())

    same()
    p.metadata.usage_count = True  # odd types set directly: still the same text
    p.outcome.success = 1
    p.metadata.tags = tuple(p.metadata.tags)  # type: ignore[assignment]
    same()
    p.metadata.contradictions = 0.0  # at its default, whatever its type
    p.outcome.metrics = {}
    same()


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize(
    "data",
    [
        RUST_SHAPE,
        {"task_description": "t", "task_category": "c", "strategy": "s", "success_score": 0.5},
        {"task_description": "t", "task_category": "c", "strategy": "s",
         "outcome": {"success": False, "success_score": 0.25, "tokens_used": 0,
                     "duration_seconds": 0.0, "error_message": "", "metrics": {"a": None}},
         "metadata": {"usage_count": 4, "success_count": 3, "failure_count": 1.25,
                      "confidence": 1, "contradictions": 2, "merged_count": 1, "tags": ["t"]}},
    ],
)  # fmt: skip
def test_a_stored_body_leaves_out_times_and_defaults_and_reads_back_whole(data):
    """The stored form drops what the row holds as columns (id, category, strategy, times)
    and the optional fields at their defaults; ``from_stored`` gives back the very pattern,
    from it and from the forms older banks hold (``to_dict``'s; the same with the id,
    category and strategy). Falsy values that are not the default (0, "", 0.0) are kept."""
    p = Pattern.from_dict(data, new_id="generated", now=NOW)
    p.metadata.updated_at = NOW + 5.25
    stored = json.loads(p.body_json(stored=True))
    assert "created_at" not in stored["metadata"] and "updated_at" not in stored["metadata"]
    assert not {"id", "task_category", "strategy"} & stored.keys()
    assert len(p.body_json(stored=True)) < len(p.body_json())
    for key in ("tokens_used", "duration_seconds", "error_message"):
        if getattr(p.outcome, key) is not None:
            assert stored["outcome"][key] == getattr(p.outcome, key)
    columns = {"id": p.id, "task_category": p.task_category, "strategy": p.strategy}
    older = {**columns, **stored}  # what the previous version stored
    for body in (stored, older, json.loads(_compact(p.to_dict(with_embedding=False)))):
        back = Pattern.from_stored(
            body, **columns, created_at=p.metadata.created_at, updated_at=p.metadata.updated_at
        )
        assert back.to_dict(with_embedding=False) == p.to_dict(with_embedding=False)
    defaults = Pattern.from_dict({"task_description": "t", "task_category": "c",
                                  "strategy": "s", "outcome": {"success": False}},
                                 new_id="d", now=NOW)  # fmt: skip
    assert json.loads(defaults.body_json(stored=True)) == {
        "task_description": "t",
        "outcome": {"success": False, "success_score": 0.0},
        "metadata": {"usage_count": 0, "avg_success_score": 0.0, "success_count": 0.0,
                     "failure_count": 0.0, "confidence": 0.5},
    }  # fmt: skip


def test_the_json_value_check_and_its_quick_walk_agree():
    """``check_json_value`` walks once without paths and makes them only for an error's
    message: on random nested values (NaN, infinities, deep nesting among them) it refuses
    exactly what the quick walk refuses, naming a bad value's path."""
    rnd = random.Random(4)

    def make(depth):
        kind = rnd.random()
        if depth > 7 or kind < 0.4:
            return rnd.choice(
                [1, 2.5, "s", None, True, float("nan"), float("inf"), -0.0] + [0.5] * 40
            )
        if kind < 0.7:
            return {f"k{i}": make(depth + 1) for i in range(rnd.randint(0, 3))}
        return [make(depth + 1) for _ in range(rnd.randint(0, 3))]

    refused = 0
    for _ in range(2000):
        value = {"a": make(0)}
        try:
            check_json_value(value, "context", max_depth=6)
        except InvalidPattern as exc:
            refused += 1
            assert not _json_value_ok(value, 6)
            assert str(exc).startswith("context"), exc
        else:
            assert _json_value_ok(value, 6)
    assert 100 < refused < 1900  # both sides were exercised


def test_metadata_left_out_is_the_default_and_a_null_count_is_refused():
    full = {"usage_count": 0, "avg_success_score": 0.0, "success_count": 0, "failure_count": 0,
            "confidence": 0.5, "contradictions": 0, "merged_count": 0}  # fmt: skip
    short = Metadata.from_dict({"tags": ["a"]}, now=5.0)
    assert short == Metadata.from_dict({"tags": ["a"], **full}, now=5.0)
    assert [type(getattr(short, k)) for k in full] == [int, float, float, float, float, int, int]
    for key in full:
        with pytest.raises(InvalidPattern, match=key):
            Metadata.from_dict({key: None}, now=5.0)
