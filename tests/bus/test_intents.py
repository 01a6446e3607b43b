"""Signed intents: every rejection has its own error and wire code."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from reasoningbank.bus.errors import (
    BudgetExceeded,
    ErrorCode,
    ExpiredIntent,
    ForgedSignature,
    FutureIntent,
    LocalBusError,
    OutOfScope,
    OverCap,
    Overloaded,
    ProtocolViolation,
    RemoteBusError,
    ReplayedNonce,
    TamperedPayload,
    UntrustedKey,
    error_for_code,
)
from reasoningbank.bus.frames import Frame, FrameType, encode_frame, pull_frame
from reasoningbank.bus.intents import IntentChecker, Policy, asign_frame, sign_frame

from .helpers import T0, VERIFIER, nonces, signer_for

ALICE = signer_for("alice")
NONCE = nonces(3)


def signed(now=T0, payload=b'{"x":1}', op="gossip.push", signer=ALICE, **kw) -> Frame:
    frame = sign_frame(signer, NONCE(16), now, type=FrameType.GOSSIP, payload=payload, op=op, **kw)
    return pull_frame(encode_frame(frame))[0]  # always check what crossed the wire


def check(frame, now=T0, checker=None, **policy):
    checker = checker if checker is not None else IntentChecker(Policy(**policy))
    return checker.check_sync(frame, now, VERIFIER)


def test_valid_intent_is_accepted():
    intent = check(signed())
    assert (
        intent.key == ALICE.public_key and intent.op == "gossip.push" and intent.scope == "gossip"
    )


def test_forged_signature_is_rejected():
    frame = dataclasses.replace(signed(), signature=bytes(64))
    with pytest.raises(ForgedSignature):
        check(frame)


def test_signature_by_another_key_is_forged():
    mallory = signer_for("mallory")
    frame = signed()
    intent = dataclasses.replace(frame.intent, key=mallory.public_key)
    with pytest.raises(ForgedSignature):
        check(dataclasses.replace(frame, intent=intent))


def test_tampered_payload_is_rejected():
    frame = dataclasses.replace(signed(), payload=b'{"x":2}')
    with pytest.raises(TamperedPayload):
        check(frame)


def test_tampered_header_field_is_forged():
    frame = signed()
    with pytest.raises(ForgedSignature):
        check(dataclasses.replace(frame, seq=frame.seq + 1))


def test_untrusted_key_is_rejected():
    with pytest.raises(UntrustedKey):
        check(signed(), trusted={signer_for("bob").public_key})


def test_replayed_nonce_is_rejected():
    checker = IntentChecker()
    frame = signed()
    check(frame, checker=checker)
    with pytest.raises(ReplayedNonce):
        check(frame, now=T0 + 1, checker=checker)


def test_replay_after_window_is_expired_not_accepted():
    """Eviction from the nonce cache never re-opens a replay: the frame is expired by then."""
    checker = IntentChecker(Policy(max_age=10))
    frame = signed()
    check(frame, checker=checker)
    with pytest.raises(ExpiredIntent):
        check(frame, now=T0 + 11, checker=checker)
    assert len(checker) == 0  # evicted by time, deterministically


def test_expired_intent_is_rejected():
    with pytest.raises(ExpiredIntent):
        check(signed(now=T0 - 121))


def test_future_intent_is_rejected():
    with pytest.raises(FutureIntent):
        check(signed(now=T0 + 31))
    check(signed(now=T0 + 29))  # inside the allowed skew


def test_op_outside_its_scope_is_rejected():
    with pytest.raises(OutOfScope):
        check(signed(op="snapshot.get", scope="gossip"))


def test_scope_not_granted_is_rejected():
    with pytest.raises(OutOfScope):
        check(signed(), default_scopes=frozenset({"snapshot"}))
    grants = {ALICE.public_key: frozenset({"snapshot"})}
    with pytest.raises(OutOfScope):
        check(signed(), grants=grants)


def test_over_cap_is_rejected():
    payload = b"x" * 10_000  # costs 1 + 2 units
    with pytest.raises(OverCap):
        check(signed(payload=payload, cap=2))
    check(signed(payload=payload, cap=3))


def test_budget_is_enforced_per_key_over_a_window():
    checker = IntentChecker(Policy(budget=3, window=60))
    for i in range(3):
        check(signed(), now=T0 + i, checker=checker)
    with pytest.raises(BudgetExceeded):
        check(signed(now=T0 + 3), now=T0 + 3, checker=checker)
    bob = signer_for("bob")
    check(signed(signer=bob, now=T0 + 3), now=T0 + 3, checker=checker)  # budgets are per key
    check(signed(now=T0 + 61), now=T0 + 61, checker=checker)  # the window moved on
    assert checker.spent(ALICE.public_key, T0 + 61) == 2


def test_forged_frames_do_not_spend_budget_or_burn_nonces():
    checker = IntentChecker(Policy(budget=1))
    good = signed()
    forged = dataclasses.replace(good, signature=bytes(64))
    for _ in range(5):
        with pytest.raises(ForgedSignature):
            check(forged, checker=checker)
    check(good, checker=checker)  # same nonce, real signature: still accepted


def test_a_full_replay_window_forgets_only_its_own_oldest_nonce():
    """A key over its own nonce window forgets its oldest nonce and refuses frames dated
    at or before it (never a replay); other keys are untouched."""
    checker = IntentChecker(Policy(nonces_per_key=2))
    first = signed(now=T0)
    check(first, checker=checker)
    check(signed(now=T0 + 1), now=T0 + 1, checker=checker)
    check(signed(now=T0 + 2), now=T0 + 2, checker=checker)  # forgets the first nonce
    with pytest.raises(ExpiredIntent):
        check(first, now=T0 + 3, checker=checker)
    check(signed(signer=signer_for("bob"), now=T0 + 3), now=T0 + 3, checker=checker)
    assert len(checker) == 3


def test_throwaway_key_flood_neither_locks_out_nor_reopens_replays():
    """Regression: throwaway keys filled one shared replay cache and every new client was
    refused (``Overloaded``) until it drained. Now the least recently used key is forgotten
    under a shared horizon: a new key still gets in, the active key keeps working, and a
    forgotten key's old frame is still refused."""
    checker = IntentChecker(Policy(nonce_capacity=100, max_keys=50))
    old = signed(now=T0)
    check(old, checker=checker)
    for i in range(300):
        t = T0 + 1 + i / 100
        check(signed(signer=signer_for(f"throwaway-{i}"), now=t), now=t, checker=checker)
    assert checker.key_count <= 50 and len(checker) <= 100
    check(signed(signer=signer_for("newcomer"), now=T0 + 4), now=T0 + 4, checker=checker)
    check(signed(now=T0 + 4), now=T0 + 4, checker=checker)  # the forgotten key goes on
    with pytest.raises((ReplayedNonce, ExpiredIntent)):
        check(old, now=T0 + 4, checker=checker)


def test_idle_key_state_expires():
    checker = IntentChecker(Policy(max_age=10, max_skew=5, window=20))
    check(signed(), checker=checker)
    checker.expire(T0 + 19)
    assert checker.key_count == 1
    checker.expire(T0 + 21)
    assert checker.key_count == 0 and len(checker) == 0


def test_unsigned_frame_is_a_protocol_violation():
    with pytest.raises(ProtocolViolation):
        check(Frame(type=FrameType.GOSSIP, payload=b"{}"))


def test_every_rejection_has_a_distinct_wire_code():
    classes = [
        ForgedSignature,
        TamperedPayload,
        UntrustedKey,
        ReplayedNonce,
        ExpiredIntent,
        FutureIntent,
        OutOfScope,
        OverCap,
        BudgetExceeded,
        Overloaded,
        ProtocolViolation,
    ]
    codes = [c.error_code for c in classes]
    assert len(set(codes)) == len(codes) and ErrorCode.NO_ERROR not in codes
    for cls in classes:
        assert error_for_code(cls.error_code) is cls
        assert issubclass(cls, RemoteBusError)
    with pytest.raises(TypeError):
        RemoteBusError("abstract")


def test_async_flow_gives_the_same_answers():
    class AsyncOnly:
        async def verify(self, key, sig, data):
            return VERIFIER.verify_sync(key, sig, data)

        async def sign(self, data):
            return ALICE.sign_sync(data)

        public_key = ALICE.public_key

    async def go():
        frame = await asign_frame(
            AsyncOnly(), NONCE(16), T0, type=FrameType.GOSSIP, payload=b"{}", op="gossip.push"
        )
        checker = IntentChecker()
        await checker.check(frame, T0, AsyncOnly())
        with pytest.raises(ReplayedNonce):
            await checker.check(frame, T0, AsyncOnly())
        with pytest.raises(ForgedSignature):
            await IntentChecker().check(
                dataclasses.replace(frame, signature=bytes(64)), T0, AsyncOnly()
            )

    asyncio.run(go())


def test_requests_that_trigger_large_replies_cost_per_id():
    from reasoningbank.bus.intents import default_cost

    ids = b'{"ids":[' + b",".join(b'"%064d"' % i for i in range(100)) + b"]}"
    assert default_cost("gossip.want", len(ids)) >= 100
    assert default_cost("gossip.push", len(ids)) <= 3
    with pytest.raises(OverCap):
        check(signed(op="gossip.want", payload=ids, cap=5))


def test_async_only_backend_in_a_sync_call_is_a_clear_local_error():
    class AsyncOnly:
        async def verify(self, *a):
            return True

    with pytest.raises(LocalBusError, match="async-only"):
        IntentChecker().check_sync(signed(), T0, AsyncOnly())
