"""Pattern provenance: sign once, re-verify anywhere, survive storage, reject alterations."""

from __future__ import annotations

import asyncio
import copy

import pytest

from reasoningbank.bus.provenance import (
    PatternRefusal,
    canonical_json,
    pattern_id,
    shareable,
    sign_pattern,
    verify_pattern,
)
from reasoningbank.model import Pattern

from .helpers import T0, VERIFIER, make_pattern, signer_for

ALICE = signer_for("alice")
TRUST = {ALICE.public_key}


def test_signed_pattern_verifies_and_keeps_its_provenance():
    p = sign_pattern(make_pattern("a", 1), ALICE, T0)
    prov = p["metadata"]["provenance"]
    assert prov["author"] == ALICE.public_key.hex() and prov["signed_at"] == T0
    sp = verify_pattern(p, TRUST, VERIFIER)
    assert sp.author == ALICE.public_key and sp.id == pattern_id(p)


def test_provenance_survives_the_model_round_trip():
    """A stored and reloaded pattern (bookkeeping filled in) still verifies, same id."""
    p = sign_pattern(make_pattern("a", 2), ALICE, T0)
    stored = Pattern.from_dict(p, new_id="x", now=T0 + 5).to_dict()
    stored["metadata"]["usage_count"] = 7  # learning changes bookkeeping, not content
    stored["metadata"]["confidence"] = 0.9
    stored["embedding"] = [0.1, 0.2]
    assert verify_pattern(stored, TRUST, VERIFIER).id == pattern_id(p)
    assert pattern_id(shareable(stored)) == pattern_id(p)
    assert "usage_count" not in shareable(stored)["metadata"]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p.__setitem__("strategy", "something else"),
        lambda p: p["outcome"].__setitem__("success_score", 0.99),
        lambda p: p["context"].__setitem__("n", 99),
        lambda p: p.__setitem__("id", "renamed"),
        lambda p: p["metadata"].__setitem__("tags", ["injected"]),
        lambda p: p["metadata"]["provenance"].__setitem__("signed_at", T0 + 1),
    ],
    ids=["strategy", "score", "context", "id", "tags", "signed_at"],
)
def test_altered_content_is_forged(mutate):
    p = copy.deepcopy(sign_pattern(make_pattern("a", 3), ALICE, T0))
    mutate(p)
    with pytest.raises(PatternRefusal) as info:
        verify_pattern(p, TRUST, VERIFIER)
    assert info.value.reason == "forged"


def test_untrusted_author_is_rejected():
    p = sign_pattern(make_pattern("m", 1), signer_for("mallory"), T0)
    with pytest.raises(PatternRefusal) as info:
        verify_pattern(p, TRUST, VERIFIER)
    assert info.value.reason == "untrusted"
    assert verify_pattern(p, None, VERIFIER)  # a relay (trusted=None) accepts any valid author


@pytest.mark.parametrize(
    "pattern",
    [
        None,
        {"id": "x"},
        make_pattern("a", 1),
        {**make_pattern("a", 1), "metadata": {"provenance": {"v": 2}}},
        {
            **make_pattern("a", 1),
            "metadata": {
                "provenance": {
                    "v": 1,
                    "alg": "ed25519",
                    "author": "zz",
                    "signature": "00",
                    "signed_at": 1,
                }
            },
        },
    ],
    ids=["none", "bare", "unsigned", "version", "bad-hex"],
)
def test_malformed_provenance_is_rejected(pattern):
    with pytest.raises(PatternRefusal) as info:
        verify_pattern(pattern, TRUST, VERIFIER)
    assert info.value.reason == "malformed"


def test_canonical_json_is_one_encoding():
    assert canonical_json({"b": 1.0, "a": [2, 0.5]}) == b'{"a":[2,0.5],"b":1}'
    assert canonical_json({"x": "é"}) == '{"x":"é"}'.encode()


def test_signing_is_deterministic_and_async_matches_sync():
    from reasoningbank.bus.provenance import asign_pattern

    a = sign_pattern(make_pattern("a", 4), ALICE, T0)
    b = asyncio.run(asign_pattern(make_pattern("a", 4), ALICE, T0))
    assert a == b and pattern_id(a) == pattern_id(b)
