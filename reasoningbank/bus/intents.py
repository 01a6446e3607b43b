"""Signed intents: build them, and decide whether to accept one.

Why a generator: signing and verifying are synchronous with PyNaCl but promise-based with
WebCrypto. Each check is written once as a generator that yields ``SignRequest`` /
``VerifyRequest`` and receives the answer; ``run_sync`` and ``run_async`` drive it (the
``httpx`` auth-flow idea). No clock and no randomness in here: ``now`` (seconds) and nonces
are passed in.

Acceptance order (docs/protocol.md §4). Cheap, stateless checks first; the signature next; and
only a frame with a good signature may touch state (nonce cache, spend ledger), so forged
traffic can neither burn another key's budget nor poison the replay cache:

1. payload hash matches            else ``TamperedPayload``
2. key trusted                     else ``UntrustedKey``
3. not too far in the future       else ``FutureIntent``   (``max_skew``)
4. not too old                     else ``ExpiredIntent``  (``max_age``)
5. op inside scope, scope granted  else ``OutOfScope``
6. op cost <= intent cap           else ``OverCap``
7. nonce unseen in window          else ``ReplayedNonce``
   (and dated after the key's replay horizon, see below, else ``ExpiredIntent``)
8. key's window spend + cost <= budget   else ``BudgetExceeded``
9. Ed25519 signature               else ``ForgedSignature``
10. commit: remember nonce, charge the spend.

Replay state is per key (docs/protocol.md §4): each key has its own bounded nonce window and
spend ledger, and keys live in an LRU of bounded size. A key that fills its own window
forgets its oldest nonce and raises its own *horizon* (it refuses its frames dated at or
before the forgotten one), so a fast sender only slows itself. When the whole cache is full,
the least recently used key is forgotten and the shared horizon for unknown keys rises to
that key's last use, so forgetting never re-opens a replay of a frame dated before it. A
flood of throwaway keys therefore neither evicts nor locks out an active key.
"""

from __future__ import annotations

import hashlib
import heapq
from collections import OrderedDict, deque
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from hashlib import sha256
from heapq import heappush
from typing import Any, TypeVar

from .errors import (
    BudgetExceeded,
    ExpiredIntent,
    ForgedSignature,
    FutureIntent,
    LocalBusError,
    OutOfScope,
    OverCap,
    ProtocolViolation,
    ReplayedNonce,
    TamperedPayload,
    UntrustedKey,
)
from .frames import (
    NONCE_SIZE,
    SIGNING_TAG,
    Flags,
    Frame,
    FrameType,
    Intent,
    Priority,
    signing_bytes,
    unchecked_builder,
)

__all__ = [
    "IntentChecker",
    "Policy",
    "SignRequest",
    "VerifyRequest",
    "default_cost",
    "run_async",
    "run_sync",
    "sign_frame_flow",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SignRequest:
    """Yielded by a flow that needs ``data`` signed; send back the 64-byte signature."""

    data: bytes


@dataclass(frozen=True, slots=True)
class VerifyRequest:
    """Yielded by a flow that needs a signature checked; send back ``True``/``False``."""

    public_key: bytes
    signature: bytes
    data: bytes


Flow = Generator["SignRequest | VerifyRequest", Any, T]
#: ``VerifyRequest(...)`` without the frozen ``__init__`` (one per received frame).
_verify_request = unchecked_builder(VerifyRequest)


def run_sync(flow: Flow[T], signer: Any = None, verifier: Any = None) -> T:
    """Drive a flow with synchronous backends (``sign_sync`` / ``verify_sync``).

    An async-only backend (WebCrypto) raises ``LocalBusError``: use the ``a…`` twin."""
    verify = None  # looked up once per flow: a hub's receive loop asks once per frame
    try:
        request = next(flow)
        while True:
            if isinstance(request, SignRequest):
                answer: Any = _sync(signer, "sign_sync")(request.data)
            else:
                if verify is None:
                    verify = _sync(verifier, "verify_sync")
                answer = verify(request.public_key, request.signature, request.data)
            request = flow.send(answer)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


def _signed(frame: Frame) -> bytes:
    """The bytes ``frame``'s signature covers (a decoded frame kept their span)."""
    span = frame._signed_span
    return SIGNING_TAG + span if span is not None else signing_bytes(frame)


def _sync(backend: Any, name: str) -> Any:
    method = getattr(backend, name, None)
    if method is None:
        raise LocalBusError(
            f"{type(backend).__name__} has no {name}: it is async-only (WebCrypto); "
            "call the async twin (asend, anext_event, areceive, ...)"
        )
    return method


async def run_async(flow: Flow[T], signer: Any = None, verifier: Any = None) -> T:
    """Drive a flow with async backends (WebCrypto); same result as ``run_sync``."""
    try:
        request = next(flow)
        while True:
            if isinstance(request, SignRequest):
                answer: Any = await signer.sign(request.data)
            else:
                answer = await verifier.verify(request.public_key, request.signature, request.data)
            request = flow.send(answer)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


def default_cost(op: str, payload_size: int) -> int:
    """Spend units an op costs: 1 per frame plus 1 per 4 KiB of payload. Requests that make
    the receiver send a lot back cost what they trigger: a ``gossip.want`` or
    ``snapshot.chunks`` costs about 1 per id asked for (an id is ~67 bytes of JSON), so
    the spend budget bounds amplification too."""
    if op in ("gossip.want", "snapshot.chunks"):
        return 1 + payload_size // 64
    return 1 + payload_size // 4096


def _check_fresh(state: _KeyState | None, shared_horizon: float, nonce: bytes, ts: float) -> None:
    """Check 7: the nonce is unseen and the frame is dated after the key's replay horizon
    (an unknown key's is the shared one)."""
    if state is None:
        horizon = shared_horizon
    elif nonce in state.nonces:
        raise ReplayedNonce("nonce already used inside the replay window")
    else:
        horizon = state.horizon
    if ts <= horizon:
        raise ExpiredIntent("timestamp before this key's replay horizon; sign it again")


@dataclass(slots=True)
class Policy:
    """What a receiver accepts. Times in seconds, spend in ``default_cost`` units."""

    #: Accept timestamps at most this far ahead of our clock (bounded clock skew).
    max_skew: float = 30.0
    #: Accept timestamps at most this far behind our clock; older is expired.
    max_age: float = 120.0
    #: Keys (raw 32 bytes) whose frames we accept; ``None`` = any key with a valid signature
    #: (a hub relays for anyone: patterns are re-checked end-to-end by their author key).
    trusted: set[bytes] | None = None
    #: Scopes granted to every accepted key unless ``grants`` names the key.
    default_scopes: frozenset[str] = frozenset({"bus", "gossip", "snapshot", "stream", "sync"})
    grants: dict[bytes, frozenset[str]] = field(default_factory=dict)
    #: Cumulative spend allowed per key within any ``window`` seconds.
    budget: int = 100_000
    window: float = 60.0
    #: Most nonces remembered for one key; past it the key forgets its own oldest nonce.
    nonces_per_key: int = 20_000
    #: Most nonces remembered for all keys together; past it the least recently used key
    #: is forgotten (never the one being checked).
    nonce_capacity: int = 200_000
    #: Most keys with replay/spend state; past it the least recently used key is forgotten.
    max_keys: int = 50_000
    cost: Callable[[str, int], int] = default_cost


@dataclass(slots=True)
class _KeyState:
    """Replay and spend state of one key."""

    #: nonce -> expiry (the intent's timestamp + ``max_age``)
    nonces: dict[bytes, float] = field(default_factory=dict)
    #: (expiry, timestamp, nonce), oldest first
    heap: list[tuple[float, float, bytes]] = field(default_factory=list)
    spend: deque[tuple[float, int]] = field(default_factory=deque)
    spent: int = 0
    #: frames dated at or before this were forgotten: refused as possible replays
    horizon: float = float("-inf")
    last_used: float = 0.0

    def expire(self, now: float) -> int:
        """Forget nonces whose intents are expired anyway; returns how many."""
        n = 0
        while self.heap and self.heap[0][0] < now:
            _, _, nonce = heapq.heappop(self.heap)
            del self.nonces[nonce]
            n += 1
        return n

    def forget_oldest(self) -> None:
        _, ts, nonce = heapq.heappop(self.heap)
        self.nonces.pop(nonce, None)
        self.horizon = max(self.horizon, ts)


class IntentChecker:
    """Receiver-side state for intents: per-key replay windows and spend ledgers.

    A nonce lives until its intent would be rejected as expired anyway (``timestamp +
    max_age``), so expiry never re-opens a replay; forgetting earlier (a full window or a
    full cache) raises a horizon instead (module docstring). Idle keys are dropped once
    nothing of theirs can matter any more (``max_age + max_skew`` after their last use).
    """

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy or Policy()
        self._keys: OrderedDict[bytes, _KeyState] = OrderedDict()  # least recent first
        self._total = 0
        #: Unknown keys' frames dated at or before this are refused (a forgotten key's).
        self._horizon = float("-inf")

    # -- state ---------------------------------------------------------------------------
    def expire(self, now: float) -> None:
        """Drop keys idle long enough that none of their state can matter any more."""
        p = self.policy
        stale = now - max(p.max_age + p.max_skew, p.window)
        while self._keys:
            key, state = next(iter(self._keys.items()))
            if state.last_used >= stale:
                break
            self._total -= state.expire(now)  # all expired: dropping raises no horizon
            self._drop(key)

    def _drop(self, key: bytes) -> None:
        state = self._keys.pop(key)
        self._total -= len(state.nonces)
        if state.nonces:  # forgotten early: nothing of it dated before its last use replays
            newest = max(ts for _, ts, _ in state.heap)
            self._horizon = max(self._horizon, min(newest, state.last_used))

    def _window_spend(self, state: _KeyState, now: float) -> int:
        horizon = now - self.policy.window
        while state.spend and state.spend[0][0] <= horizon:
            _, cost = state.spend.popleft()
            state.spent -= cost
        return state.spent

    def spent(self, key: bytes, now: float) -> int:
        """Units ``key`` has spent in the window ending at ``now``."""
        state = self._keys.get(key)
        return 0 if state is None else self._window_spend(state, now)

    def __len__(self) -> int:
        return self._total

    @property
    def key_count(self) -> int:
        return len(self._keys)

    # -- checks --------------------------------------------------------------------------
    def check_flow(self, frame: Frame, now: float) -> Flow[Intent]:
        """Accept ``frame``'s intent or raise the specific ``RemoteBusError``."""
        it, ts, cost = self._precheck(frame, now)
        ok = yield _verify_request(it.key, frame.signature, _signed(frame))
        return self._accept(it, ok, ts, cost, now)

    def _precheck(self, frame: Frame, now: float) -> tuple[Intent, float, int]:
        """Checks 1-8: everything but the signature; returns the intent, its timestamp in
        seconds and its cost. Runs once per received frame, so the lookups are inlined."""
        it = frame.intent
        if it is None or frame.signature is None:
            raise ProtocolViolation("frame is not signed")
        p = self.policy
        keys = self._keys
        if keys:  # ``expire`` has something to drop only if the least recent key is idle
            idle = p.max_age + p.max_skew
            if next(iter(keys.values())).last_used < now - (idle if idle > p.window else p.window):
                self.expire(now)
        key = it.key
        state = keys.get(key)
        if state is not None and state.heap and state.heap[0][0] < now:
            self._total -= state.expire(now)
        if sha256(frame.payload).digest() != it.payload_hash:
            raise TamperedPayload("payload does not match the signed hash")
        if p.trusted is not None and key not in p.trusted:
            raise UntrustedKey(f"key {key.hex()[:16]}… is not trusted")
        ts = it.timestamp_ms / 1000.0
        if ts > now + p.max_skew:
            raise FutureIntent(f"timestamp {ts - now:.1f}s in the future")
        if ts < now - p.max_age:
            raise ExpiredIntent(f"timestamp {now - ts:.1f}s old")
        scope, op = it.scope, it.op
        if scope not in p.grants.get(key, p.default_scopes) or not (
            op == scope or op.startswith(scope + ".")
        ):
            raise OutOfScope(f"op {op!r} under scope {scope!r} is not allowed")
        cost = p.cost(op, len(frame.payload))
        if cost > it.cap:
            raise OverCap(f"op costs {cost} but the intent caps spend at {it.cap}")
        _check_fresh(state, self._horizon, it.nonce, ts)
        if state is None:
            return it, ts, cost
        spend = state.spend
        stale = spend and spend[0][0] <= now - p.window  # else nothing to pop: skip the call
        spent = self._window_spend(state, now) if stale else state.spent
        if spent + cost > p.budget:
            raise BudgetExceeded(f"key spent its budget of {p.budget} per {p.window}s")
        return it, ts, cost

    def _accept(self, it: Intent, ok: bool, ts: float, cost: int, now: float) -> Intent:
        """Checks 9-10 once the signature was checked: refuse a forgery, else commit."""
        if not ok:
            raise ForgedSignature("signature does not verify")
        # Re-check after the (possibly async) verification: another frame with the same
        # nonce may have been committed while we awaited.
        _check_fresh(self._keys.get(it.key), self._horizon, it.nonce, ts)
        self._commit(it.key, it.nonce, ts, cost, now)
        return it

    def _commit(self, key: bytes, nonce: bytes, ts: float, cost: int, now: float) -> None:
        p = self.policy
        keys = self._keys
        state = keys.get(key)
        if state is None:
            while keys and len(keys) >= p.max_keys:
                self._drop(next(iter(keys)))
            # A new key inherits the shared horizon: it may be one we forgot.
            state = keys[key] = _KeyState(horizon=self._horizon)
        else:
            keys.move_to_end(key)
        state.last_used = now
        if len(state.nonces) >= p.nonces_per_key:
            state.forget_oldest()
            self._total -= 1
        expiry = ts + p.max_age
        state.nonces[nonce] = expiry
        heappush(state.heap, (expiry, ts, nonce))
        self._total += 1
        state.spend.append((now, cost))
        state.spent += cost
        while self._total > p.nonce_capacity and len(keys) > 1:
            self._drop(next(iter(keys)))

    def check_sync(self, frame: Frame, now: float, verifier: Any) -> Intent:
        """``check_flow`` with a synchronous verifier, called directly: a hub runs it for
        every frame it receives, and driving a generator costs a tenth of a verification."""
        it, ts, cost = self._precheck(frame, now)
        ok = _sync(verifier, "verify_sync")(it.key, frame.signature, _signed(frame))
        return self._accept(it, ok, ts, cost, now)

    async def check(self, frame: Frame, now: float, verifier: Any) -> Intent:
        return await run_async(self.check_flow(frame, now), verifier=verifier)


def sign_frame_flow(
    *,
    public_key: bytes,
    type: FrameType,
    payload: bytes,
    op: str,
    now: float,
    nonce: bytes,
    scope: str | None = None,
    cap: int | None = None,
    flags: Flags = Flags.NONE,
    stream_id: int = 0,
    seq: int = 0,
    priority: Priority = Priority.NORMAL,
) -> Flow[Frame]:
    """Build a signed frame. ``scope`` defaults to the op's first dotted part, ``cap`` to
    exactly what ``default_cost`` charges. ``nonce`` must be 16 fresh random bytes."""
    if len(nonce) != NONCE_SIZE:
        raise LocalBusError("nonce must be 16 bytes")
    intent = Intent(
        key=public_key,
        timestamp_ms=int(round(now * 1000)),
        nonce=nonce,
        scope=scope if scope is not None else op.split(".", 1)[0],
        cap=cap if cap is not None else default_cost(op, len(payload)),
        op=op,
        payload_hash=hashlib.sha256(payload).digest(),
    )
    unsigned = Frame(
        type=type,
        payload=payload,
        flags=flags | Flags.SIGNED,
        stream_id=stream_id,
        seq=seq,
        priority=priority,
        intent=intent,
        signature=bytes(64),
    )
    signature = yield SignRequest(signing_bytes(unsigned))
    return Frame(
        type=type,
        payload=payload,
        flags=unsigned.flags,
        stream_id=stream_id,
        seq=seq,
        priority=priority,
        intent=intent,
        signature=bytes(signature),
    )


def sign_frame(signer: Any, nonce: bytes, now: float, **kw: Any) -> Frame:
    """Synchronous ``sign_frame_flow`` with a ``sign_sync`` backend."""
    return run_sync(
        sign_frame_flow(public_key=signer.public_key, nonce=nonce, now=now, **kw), signer=signer
    )


async def asign_frame(signer: Any, nonce: bytes, now: float, **kw: Any) -> Frame:
    return await run_async(
        sign_frame_flow(public_key=signer.public_key, nonce=nonce, now=now, **kw), signer=signer
    )
