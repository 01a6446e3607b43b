"""One bus session over a reliable byte stream, sans-IO.

Inputs: ``receive_data(bytes)`` (``b""`` = the transport closed), ``handle_timer(now)`` and API
calls (``hello``, ``send``, ``open_stream``, ``send_stream``, ``close``). Outputs:
``next_event(now)`` (a ``BusEvent`` or ``None`` when more bytes are needed),
``data_to_send()`` and ``get_timer()``. No sockets, clock or randomness: ``now`` is passed in
and nonces come from the injected ``nonce_source``. Drivers (``aio/``, the browser's
``transport_webtransport``, the test simulator) loop: feed → drain events → flush bytes →
re-arm the timer.

Every frame except the unsigned control frames PING / PONG / CLOSE is signed and checked by
an ``IntentChecker`` (share one checker between the sessions of a node, so a nonce replayed on
another session is still caught). After the peer's HELLO, every frame must be signed by the
HELLO key. A ``RemoteBusError`` closes the session with its ``error_code`` and yields a
``PeerClosed(by_peer=True)``.

Signing and verifying go through flows, so ``send``/``next_event`` (sync backends) and
``asend``/``anext_event`` (WebCrypto) share all logic.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Generator
from typing import Any

from .errors import (
    ErrorCode,
    FrameTooLarge,
    LocalBusError,
    MalformedFrame,
    ProtocolViolation,
    RemoteBusError,
    UntrustedKey,
)
from .events import BusEvent, HelloReceived, IntentReceived, PeerClosed, PongReceived
from .frames import (
    DEFAULT_MAX_FRAME_SIZE,
    HARD_MAX_FRAME_SIZE,
    Flags,
    Frame,
    FrameType,
    Intent,
    Priority,
    encode_frame,
    pull_frame,
    unchecked_builder,
)
from .intents import IntentChecker, Policy, run_async, run_sync, sign_frame_flow
from .priority import PriorityScheduler
from .provenance import canonical_json
from .state import (
    CAN_RECEIVE_DATA,
    CAN_SEND_DATA,
    SessionEvent,
    SessionMachine,
    SessionState,
)
from .streams import STREAM_KINDS, StreamIds, StreamSender, StreamTable

__all__ = ["Connection"]

HELLO_OP = "bus.hello"
_ENDED = (SessionState.CLOSED, SessionState.ERROR)
#: ``IntentReceived(...)`` without the frozen ``__init__`` (one per received data frame).
_intent_received = unchecked_builder(IntentReceived)


class Connection:
    """A bus session. ``is_client`` picks the stream-id parity (client: odd)."""

    def __init__(
        self,
        *,
        signer: Any,
        verifier: Any,
        is_client: bool,
        nonce_source: Callable[[int], bytes],
        policy: Policy | None = None,
        checker: IntentChecker | None = None,
        info: dict[str, Any] | None = None,
        expected_peer_key: bytes | None = None,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        max_buffer_size: int | None = None,
        idle_timeout: float = 60.0,
        ping_interval: float = 15.0,
        scheduler: PriorityScheduler | None = None,
    ) -> None:
        if not 64 <= max_frame_size <= HARD_MAX_FRAME_SIZE:
            raise LocalBusError(f"max_frame_size must be between 64 and {HARD_MAX_FRAME_SIZE}")
        self._signer = signer
        self._verifier = verifier
        self._nonce = nonce_source
        self.checker = checker if checker is not None else IntentChecker(policy)
        self.info = dict(info or {})
        self.expected_peer_key = expected_peer_key
        self.max_frame_size = max_frame_size
        self.max_buffer_size = max_buffer_size or 4 * max_frame_size
        self.idle_timeout = idle_timeout
        self.ping_interval = ping_interval
        self.peer_key: bytes | None = None
        self.peer_info: dict[str, Any] = {}
        self.machine = SessionMachine()
        self.close_code: int | None = None
        self._rx = bytearray()
        self._eof = False
        self._events: deque[BusEvent] = deque()
        self._urgent = bytearray()
        self._sched = scheduler or PriorityScheduler()
        self._ids = StreamIds(is_client)
        self._out_streams: dict[int, StreamSender] = {}
        self._in_streams = StreamTable()
        self._last_rx: float | None = None
        self._last_ping: float | None = None
        self._ping_sent_at: float | None = None

    # -- state ---------------------------------------------------------------------------
    @property
    def state(self) -> SessionState:
        return self.machine.state

    @property
    def closed(self) -> bool:
        return self.state in _ENDED

    def _touch(self, now: float) -> None:
        self._last_rx = now
        if self._last_ping is None:
            self._last_ping = now

    # -- sending -------------------------------------------------------------------------
    def _signed_flow(self, now: float, **kw: Any) -> Generator[Any, Any, Frame]:
        return sign_frame_flow(
            public_key=self._signer.public_key, now=now, nonce=self._nonce(16), **kw
        )

    def _hello_flow(self, now: float) -> Generator[Any, Any, None]:
        self.machine.process(SessionEvent.SEND_HELLO, remote=False)
        self._touch(now)
        frame = yield from self._signed_flow(
            now,
            type=FrameType.CONTROL,
            payload=canonical_json(self.info),
            op=HELLO_OP,
            priority=Priority.HIGH,
        )
        self._urgent += encode_frame(frame)

    def hello(self, now: float) -> None:
        """Queue our signed HELLO (the first frame each side sends)."""
        run_sync(self._hello_flow(now), signer=self._signer)

    async def ahello(self, now: float) -> None:
        await run_async(self._hello_flow(now), signer=self._signer)

    def _send_flow(
        self,
        now: float,
        *,
        type: FrameType,
        op: str,
        payload: bytes,
        priority: Priority = Priority.NORMAL,
        stream_id: int = 0,
        seq: int = 0,
        end: bool = False,
    ) -> Generator[Any, Any, None]:
        if self.state not in CAN_SEND_DATA:
            raise LocalBusError(f"cannot send in state {self.state.value}; call hello() first")
        if type == FrameType.CONTROL:
            raise LocalBusError("control frames are sent by the connection itself")
        frame = yield from self._signed_flow(
            now,
            type=type,
            payload=payload,
            op=op,
            priority=priority,
            stream_id=stream_id,
            seq=seq,
            flags=Flags.END_STREAM if end else Flags.NONE,
        )
        data = encode_frame(frame)
        if len(data) > self.max_frame_size:
            raise LocalBusError(f"frame of {len(data)} bytes exceeds max_frame_size")
        self._sched.push(data, priority)

    def queue_signed(self, data: bytes, priority: Priority = Priority.NORMAL) -> None:
        """Queue an already signed and encoded frame (a hub broadcasting one frame to many
        sessions signs it once: replay protection is per receiver, so identical bytes on
        several sessions are not replays)."""
        if self.state not in CAN_SEND_DATA:
            raise LocalBusError(f"cannot send in state {self.state.value}")
        self._sched.push(data, priority)

    def send(self, now: float, **kw: Any) -> None:
        """Queue one signed frame: ``type``, ``op``, ``payload`` and optionally
        ``priority``, ``stream_id``, ``seq``, ``end``."""
        run_sync(self._send_flow(now, **kw), signer=self._signer)

    async def asend(self, now: float, **kw: Any) -> None:
        await run_async(self._send_flow(now, **kw), signer=self._signer)

    def send_json(self, now: float, type: FrameType, op: str, body: Any, **kw: Any) -> None:
        self.send(now, type=type, op=op, payload=canonical_json(body), **kw)

    def _stream_flow(
        self, now: float, stream_id: int, data: bytes, end: bool, priority: Priority
    ) -> Generator[Any, Any, None]:
        tx = self._out_streams.get(stream_id)
        if tx is None:
            raise LocalBusError(f"stream {stream_id} is not open")
        seq, end = tx.next_frame(end=end)
        if end:
            del self._out_streams[stream_id]
        yield from self._send_flow(
            now,
            type=tx.kind,
            op=f"stream.{tx.kind.name.lower()}",
            payload=data,
            priority=priority,
            stream_id=stream_id,
            seq=seq,
            end=end,
        )

    def open_stream(
        self,
        now: float,
        kind: FrameType,
        meta: dict[str, Any] | None = None,
        priority: Priority = Priority.NORMAL,
    ) -> int:
        """Start a reasoning stream (TOKEN/TRACE/RUBRIC/VERIFY); returns its stream id."""
        sid = self._ids.allocate()
        self._out_streams[sid] = StreamSender(sid, kind)
        run_sync(
            self._stream_flow(now, sid, canonical_json(meta or {}), False, priority),
            signer=self._signer,
        )
        return sid

    async def aopen_stream(
        self,
        now: float,
        kind: FrameType,
        meta: dict[str, Any] | None = None,
        priority: Priority = Priority.NORMAL,
    ) -> int:
        sid = self._ids.allocate()
        self._out_streams[sid] = StreamSender(sid, kind)
        await run_async(
            self._stream_flow(now, sid, canonical_json(meta or {}), False, priority),
            signer=self._signer,
        )
        return sid

    def send_stream(
        self,
        now: float,
        stream_id: int,
        data: bytes,
        *,
        end: bool = False,
        priority: Priority = Priority.NORMAL,
    ) -> None:
        """Send one chunk on an open stream; ``end=True`` marks it the last."""
        run_sync(self._stream_flow(now, stream_id, data, end, priority), signer=self._signer)

    async def asend_stream(
        self,
        now: float,
        stream_id: int,
        data: bytes,
        *,
        end: bool = False,
        priority: Priority = Priority.NORMAL,
    ) -> None:
        await run_async(self._stream_flow(now, stream_id, data, end, priority), signer=self._signer)

    def _control(self, body: dict[str, Any]) -> None:
        frame = Frame(type=FrameType.CONTROL, payload=canonical_json(body), priority=Priority.HIGH)
        self._urgent += encode_frame(frame)

    @property
    def queued_bytes(self) -> int:
        """Bytes waiting in this session for ``data_to_send`` (the hub's outbound budget)."""
        return len(self._urgent) + self._sched.queued_bytes

    def close(
        self, error_code: int = ErrorCode.NO_ERROR, reason: str = "", *, discard: bool = False
    ) -> None:
        """Queue a CLOSE; the session accepts no more frames from us. Queued data goes out
        before the CLOSE unless ``discard`` (a peer cut for not reading gets only the CLOSE)."""
        if self.closed or self.state == SessionState.CLOSING:
            return
        if discard:
            self._sched.clear()
        else:
            self._urgent += self._sched.drain()
        self._control({"op": "close", "code": int(error_code), "reason": reason[:200]})
        self.machine.process(SessionEvent.SEND_CLOSE, remote=False)
        self.close_code = int(error_code)
        self._events.append(PeerClosed(int(error_code), reason, by_peer=False))

    def data_to_send(self, max_bytes: int | None = None) -> bytes:
        """Bytes to write to the transport: control frames first, then weighted-fair data."""
        out = bytes(self._urgent)
        self._urgent.clear()
        if self.state in (SessionState.ERROR, SessionState.CLOSED, SessionState.CLOSING):
            return out
        return out + self._sched.drain(max_bytes)

    # -- timers --------------------------------------------------------------------------
    def get_timer(self) -> float | None:
        """Next deadline (seconds): a keep-alive ping or the idle timeout."""
        if self.closed or self._last_rx is None:
            return None
        idle = self._last_rx + self.idle_timeout
        ping = (self._last_ping or self._last_rx) + self.ping_interval
        return min(idle, ping)

    def handle_timer(self, now: float) -> None:
        if self.closed or self._last_rx is None:
            return
        if now >= self._last_rx + self.idle_timeout:
            self.close(ErrorCode.NO_ERROR, "idle timeout")
            self.machine.process(SessionEvent.LOST, remote=False)
            return
        if now >= (self._last_ping or self._last_rx) + self.ping_interval:
            self._last_ping = now
            self._ping_sent_at = now
            self._control({"op": "ping"})

    # -- receiving -----------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        """Buffer bytes from the transport; ``b""`` means it closed."""
        if not data:
            self._eof = True
            return
        if self.closed:
            return
        self._rx += data

    def _pull(self) -> Frame | None:
        got = pull_frame(self._rx, self.max_frame_size)
        if got is None:
            # Only *incomplete* data counts against the cap: a burst of complete frames (a
            # catch-up of thousands of patterns) is processed, never refused.
            if len(self._rx) > self.max_buffer_size:
                raise FrameTooLarge("receive buffer over its cap")
            return None
        frame, used = got
        del self._rx[:used]
        return frame

    def _fail(self, exc: RemoteBusError) -> None:
        code = int(exc.error_code)
        self._control({"op": "close", "code": code, "reason": str(exc)[:200]})
        self.machine.process(SessionEvent.FAIL, remote=True)
        self.close_code = code
        self._rx.clear()
        self._events.append(PeerClosed(code, str(exc), by_peer=True))

    def _pending(self, now: float) -> Frame | None:
        """Next frame to process, handling EOF; raises ``RemoteBusError`` on garbage."""
        if self.machine.state in _ENDED:
            return None
        frame = self._pull()
        if frame is not None:
            self._last_rx = now  # _touch, inlined: once per received frame
            if self._last_ping is None:
                self._last_ping = now
            return frame
        if self._eof:
            we_closed = self.state == SessionState.CLOSING  # PeerClosed was reported then
            self.machine.process(SessionEvent.LOST, remote=True)
            if not we_closed:
                self._events.append(
                    PeerClosed(ErrorCode.NO_ERROR, "transport closed", by_peer=True)
                )
        return None

    def _intake(self, now: float) -> Frame | None:
        """The next received frame that carries an intent, handling control frames on the
        way; None when no whole frame is buffered or an event is ready to hand out."""
        while not self._events:
            try:
                frame = self._pending(now)
                if frame is None:
                    return None
                if frame.intent is not None or frame.type != FrameType.CONTROL:
                    return frame
                self._handle_control(frame, now)
            except RemoteBusError as exc:
                self._fail(exc)
        return None

    def next_event_flow(self, now: float) -> Generator[Any, Any, BusEvent | None]:
        """The receive loop as a flow: one ``VerifyRequest`` per signed frame, yielded straight
        from ``IntentChecker.check_flow`` (one generator between it and the driver, as this
        runs for every frame a hub receives); see ``next_event``."""
        while (frame := self._intake(now)) is not None:
            try:
                intent = yield from self.checker.check_flow(frame, now)
                self._handle_intent(frame, intent)
            except RemoteBusError as exc:
                self._fail(exc)
        return self._events.popleft() if self._events else None

    def next_event(self, now: float) -> BusEvent | None:
        """The next event, or ``None`` when more data is needed (``next_event_flow`` with a
        synchronous verifier, without the generators: a hub calls it for every frame)."""
        while (frame := self._intake(now)) is not None:
            try:
                self._handle_intent(frame, self.checker.check_sync(frame, now, self._verifier))
            except RemoteBusError as exc:
                self._fail(exc)
        return self._events.popleft() if self._events else None

    async def anext_event(self, now: float) -> BusEvent | None:
        return await run_async(self.next_event_flow(now), verifier=self._verifier)

    def send_flow(self, now: float, **kw: Any) -> Generator[Any, Any, None]:
        """``send`` as a flow (yields ``SignRequest``), for callers composing flows."""
        return self._send_flow(now, **kw)

    def _handle_intent(self, frame: Frame, intent: Intent) -> None:
        """A frame whose intent was accepted: the HELLO, or data from the HELLO's key."""
        if intent.op == HELLO_OP:
            if frame.type != FrameType.CONTROL:
                raise ProtocolViolation("HELLO must be a control frame")
            if self.expected_peer_key is not None and intent.key != self.expected_peer_key:
                raise UntrustedKey("peer key is not the one we expected")
            self.machine.process(SessionEvent.RECV_HELLO, remote=True)
            self.peer_key = intent.key
            self.peer_info = _json_object(frame.payload)
            self._events.append(HelloReceived(intent.key, self.peer_info))
            return
        state = self.machine.state
        if state is not SessionState.OPEN and state not in CAN_RECEIVE_DATA:
            raise ProtocolViolation(f"data frame in state {state.value}")
        if intent.key != self.peer_key:
            raise ProtocolViolation("frame signed by a key other than the session's")
        handler = _DISPATCH.get(frame.type)
        if handler is None:
            raise ProtocolViolation(f"unexpected {frame.type.name} frame")
        handler(self, frame, intent)

    def _handle_control(self, frame: Frame, now: float) -> None:
        body = _json_object(frame.payload)
        op = body.get("op")
        if op == "ping":
            self._control({"op": "pong"})
        elif op == "pong":
            if self._ping_sent_at is not None:
                self._events.append(PongReceived(now - self._ping_sent_at))
                self._ping_sent_at = None
        elif op == "close":
            code = body.get("code", 0)
            reason = body.get("reason", "")
            we_closed = self.state == SessionState.CLOSING
            self.machine.process(SessionEvent.RECV_CLOSE, remote=True)
            if we_closed:
                return  # their CLOSE answers ours; PeerClosed was already reported
            self._control({"op": "close", "code": 0, "reason": "ack"})
            self.close_code = code if isinstance(code, int) else ErrorCode.INTERNAL
            self._events.append(PeerClosed(self.close_code, str(reason)[:200], by_peer=True))
        else:
            raise ProtocolViolation(f"unknown control op {op!r}")

    def _on_intent(self, frame: Frame, intent: Intent) -> None:
        self._events.append(
            _intent_received(
                frame.type,
                intent.op,
                frame.payload,
                intent.key,
                frame.stream_id,
                frame.seq,
                frame.end_stream,
            )
        )

    def _on_stream(self, frame: Frame, intent: Intent) -> None:
        op = intent.op
        if op != f"stream.{frame.type.name.lower()}":
            raise ProtocolViolation(f"op {op!r} does not match a {frame.type.name} frame")
        self._events.extend(
            self._in_streams.handle_chunk(
                frame.type, frame.stream_id, frame.seq, frame.payload, frame.end_stream
            )
        )


def _json_object(payload: bytes) -> dict[str, Any]:
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise MalformedFrame("payload is not JSON") from None
    if not isinstance(body, dict):
        raise MalformedFrame("payload is not a JSON object")
    return body


_DISPATCH: dict[FrameType, Callable[[Connection, Frame, Intent], None]] = {
    FrameType.REQUEST: Connection._on_intent,
    FrameType.RESPONSE: Connection._on_intent,
    FrameType.GOSSIP: Connection._on_intent,
    FrameType.SNAPSHOT: Connection._on_intent,
    FrameType.TELEMETRY: Connection._on_intent,
    **{kind: Connection._on_stream for kind in STREAM_KINDS},
}
