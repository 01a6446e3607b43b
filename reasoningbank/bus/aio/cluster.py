"""asyncio driver of a cluster hub: the hub's pattern log is a NATS JetStream stream.

``ClusterLink`` moves what the sans-IO ``Journal`` (``bus/journal.py``) asks for: each
pattern a session pushes is published to the stream ``RB_PATTERNS`` on its author's subject
``rb.patterns.<author hex>`` with its pattern id as ``Nats-Msg-Id`` (JetStream drops a
second copy inside the duplicate window; the fold drops any later one), and an ordered
consumer feeds every stream message, from the first, back into ``Journal.fold``. The
stream caps messages per subject (``--max-patterns-per-author``, new ones refused), so an
author's quota holds in the log itself, whichever hubs a flood goes through. A hub that starts (or restarts) folds the whole stream before it
listens, so a bank syncing through it catches up. Live reasoning streams go over the core
subject ``rb.live`` (not stored).

Needs the optional ``nats-py`` package (``pip install reasoningbank[cluster]``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from typing import Any

from ..errors import LocalBusError
from ..hub import MAX_PATTERN_BYTES
from ..journal import ClusterChecker
from .server import HubServer

__all__ = ["LOG_MAX_BYTES", "LOG_SUBJECT", "STREAM", "ClusterLink"]

STREAM = "RB_PATTERNS"
LOG_SUBJECT = "rb.patterns"
LIVE_SUBJECT = "rb.live"
INTENT_SUBJECT = "rb.intents"
#: Bytes the stream keeps at most (new patterns are refused past it, never old ones dropped).
LOG_MAX_BYTES = 4 * 1024**3
#: Seconds JetStream remembers a Nats-Msg-Id (a re-publish inside it is not stored twice).
DEDUP_WINDOW = 120.0
#: Seconds one publish waits for the stream's acknowledgement before it is tried again.
PUBLISH_TIMEOUT = 2.0
#: Seconds a pattern keeps being retried before its session is told the log is unreachable.
PUBLISH_DEADLINE = 10.0
#: Most intents read from one announcement of another hub.
MAX_INTENTS_PER_MESSAGE = 10_000
#: Seconds a starting hub tries to reach NATS at all.
CONNECT_DEADLINE = 10.0
#: Seconds a starting hub keeps asking JetStream (leader elections take a few seconds).
START_DEADLINE = 60.0
#: Seconds without a NATS connection after which new pushes are refused.
DOWN_AFTER = 1.0
#: Seconds between reconnection attempts to NATS.
RECONNECT_WAIT = 0.5


def _nats() -> Any:
    try:
        import nats
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise LocalBusError(
            "--nats needs the nats-py package: pip install 'reasoningbank[cluster]'"
        ) from exc
    return nats


class ClusterLink:
    """Connects one ``HubServer`` (whose hub has a ``journal``) to a NATS cluster."""

    def __init__(
        self, server: HubServer, servers: list[str], *, max_patterns: int, max_per_author: int
    ) -> None:
        checker = server.hub.checker
        if server.hub.journal is None or not isinstance(checker, ClusterChecker):
            raise LocalBusError("the hub was not made with journal=True")
        self.server = server
        self.journal = server.hub.journal
        self.checker = checker
        self.servers = servers
        self.max_patterns = max_patterns
        self.max_per_author = max_per_author
        self.hub_id = secrets.token_hex(8)
        self.replicas = 0
        self.folded = 0  # stream sequence of the last message folded
        self.nc: Any = None
        self.js: Any = None
        self._down_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._caught_up: asyncio.Event | None = None
        self._target = 0

    async def start(self, catch_up_timeout: float | None = None) -> None:
        """Connect, make sure the stream exists, fold all of it; then pumps run."""
        nats = _nats()
        try:
            self.nc = await asyncio.wait_for(
                nats.connect(
                    servers=self.servers,
                    name=f"reasoningbank-hub-{self.hub_id}",
                    no_echo=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=RECONNECT_WAIT,
                    connect_timeout=2,
                    ping_interval=5,
                    max_outstanding_pings=2,
                    disconnected_cb=self._disconnected,
                    reconnected_cb=self._reconnected,
                    error_cb=self._error,
                ),
                CONNECT_DEADLINE,
            )
        except Exception as exc:
            reason = str(exc) or f"no server answered in {CONNECT_DEADLINE:g} s"
            raise LocalBusError(f"cannot reach NATS at {','.join(self.servers)}: {reason}") from exc
        self.js = self.nc.jetstream()
        last = await self._retry(self._ensure_stream, "find or create the stream")
        self._caught_up = asyncio.Event()
        self._target = last
        if last == 0:
            self._caught_up.set()
        from nats.js.api import DeliverPolicy

        async def subscribe() -> Any:
            return await self.js.subscribe(
                f"{LOG_SUBJECT}.*",
                stream=STREAM,
                cb=self._on_log,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.ALL,
                idle_heartbeat=2.0,
            )

        await self._retry(subscribe, "read the stream")
        await self.nc.subscribe(LIVE_SUBJECT, cb=self._on_live)
        await self.nc.subscribe(INTENT_SUBJECT, cb=self._on_intents)
        await asyncio.wait_for(self._caught_up.wait(), catch_up_timeout)
        self.server.before_flush = self._pump
        self._spawn(self._expire_streams())

    async def _retry(self, step: Any, what: str) -> Any:
        """Run ``step`` until JetStream answers: right after a node is lost the cluster
        elects new leaders, and its API times out for a few seconds."""
        from nats.errors import NoRespondersError, TimeoutError

        deadline = time.monotonic() + START_DEADLINE
        while True:
            try:
                return await step()
            except (TimeoutError, NoRespondersError, asyncio.TimeoutError) as exc:
                if time.monotonic() >= deadline:
                    raise LocalBusError(
                        f"NATS at {','.join(self.servers)} did not answer (cannot {what}): "
                        f"{exc or type(exc).__name__}"
                    ) from exc
                await asyncio.sleep(0.5)

    async def _ensure_stream(self) -> int:
        """The stream's last sequence, creating the stream if it does not exist yet: R3
        when NATS knows three or more servers (given or discovered), else R1 (one node)."""
        from nats.js.api import DiscardPolicy, StorageType, StreamConfig
        from nats.js.errors import APIError, NotFoundError

        try:
            info = await self.js.stream_info(STREAM)
        except NotFoundError:
            replicas = 3 if len({(u.hostname, u.port) for u in self.nc.servers}) >= 3 else 1
            config = StreamConfig(
                name=STREAM,
                subjects=[f"{LOG_SUBJECT}.*"],
                storage=StorageType.FILE,
                num_replicas=replicas,
                max_msgs=self.max_patterns,
                max_msgs_per_subject=self.max_per_author,
                discard_new_per_subject=True,
                max_bytes=LOG_MAX_BYTES,
                max_msg_size=MAX_PATTERN_BYTES,
                discard=DiscardPolicy.NEW,
                duplicate_window=DEDUP_WINDOW,
            )
            try:
                info = await self.js.add_stream(config)
            except APIError as exc:
                raise LocalBusError(
                    f"cannot create the NATS stream {STREAM} (replicas {replicas}): "
                    f"{exc.description or exc}"
                ) from exc
        self.replicas = info.config.num_replicas or 1
        return int(info.state.last_seq)

    # -- from the log -------------------------------------------------------------------
    async def _on_log(self, msg: Any) -> None:
        seq = msg.metadata.sequence.stream
        try:
            pattern = json.loads(msg.data)
        except ValueError:
            pattern = None
        if isinstance(pattern, dict):
            self.journal.fold(pattern, time.time())
        self.folded = seq
        if self._caught_up is not None and seq >= self._target:
            self._caught_up.set()
        self.server.flush()

    async def _on_live(self, msg: Any) -> None:
        try:
            item = json.loads(msg.data)
        except ValueError:
            return
        if not isinstance(item, dict) or item.get("hub") == self.hub_id:
            return
        key = f"{item.get('hub')}:{item.get('sid')}:{item.get('stream')}"
        self.journal.remote_stream(key, item, time.time())
        self.server.flush()

    async def _on_intents(self, msg: Any) -> None:
        """Other hubs' accepted intents: their nonces are replays here, their costs count
        against the keys' budgets here."""
        checker = self.checker
        try:
            items = json.loads(msg.data)
            now = time.time()
            for key, nonce, ts, cost in items[:MAX_INTENTS_PER_MESSAGE]:
                checker.remember(
                    bytes.fromhex(key), bytes.fromhex(nonce), float(ts), int(cost), now
                )
        except (ValueError, TypeError, AttributeError):
            return

    # -- to the log ---------------------------------------------------------------------
    def _pump(self) -> None:
        """Called before every flush: start publishing what the journal queued."""
        for msg_id, author, data in self.journal.take_publish():
            self._spawn(self._publish(msg_id, f"{LOG_SUBJECT}.{author.hex()}", data))
        items = self.journal.take_streams()
        if items:
            self._spawn(self._publish_live(items))
        accepted = self.checker.take_accepted()
        if accepted:
            body = json.dumps([(k.hex(), n.hex(), ts, c) for k, n, ts, c in accepted]).encode()
            self._spawn(self._publish_core(INTENT_SUBJECT, body))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, msg_id: str, subject: str, data: bytes) -> None:
        from nats.js.errors import APIError, ServiceUnavailableError

        deadline = time.monotonic() + PUBLISH_DEADLINE
        while True:
            try:
                await self.js.publish(
                    subject,
                    data,
                    timeout=PUBLISH_TIMEOUT,
                    stream=STREAM,
                    headers={"Nats-Msg-Id": msg_id},
                )
                return  # the ordered consumer brings it back: ``fold`` answers the session
            except (APIError, Exception) as exc:
                refused = isinstance(exc, APIError) and not isinstance(exc, ServiceUnavailableError)
                if refused or time.monotonic() >= deadline:
                    reason = _refusal(exc) if refused else None
                    self.journal.publish_failed(msg_id, time.time(), reason)
                    self.server.flush()
                    return
            await asyncio.sleep(0.25)

    async def _publish_core(self, subject: str, body: bytes) -> None:
        with contextlib.suppress(Exception):  # best effort, like all core NATS messages
            await self.nc.publish(subject, body)

    async def _publish_live(self, items: list[dict[str, Any]]) -> None:
        for item in items:
            item["hub"] = self.hub_id
            with contextlib.suppress(Exception):  # live streams are best effort
                await self.nc.publish(LIVE_SUBJECT, json.dumps(item).encode())

    async def _expire_streams(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.journal.expire_streams(time.time())
            self.server.flush()

    # -- connection state ---------------------------------------------------------------
    async def _disconnected(self) -> None:
        if self._down_timer is None:
            loop = asyncio.get_running_loop()
            self._down_timer = loop.call_later(DOWN_AFTER, self.journal.set_up, False)

    async def _reconnected(self) -> None:
        if self._down_timer is not None:
            self._down_timer.cancel()
            self._down_timer = None
        self.journal.set_up(True)

    async def _error(self, exc: Exception) -> None:
        pass  # reconnection is automatic; the state callbacks above track it

    async def close(self) -> None:
        if self._down_timer is not None:
            self._down_timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.close(), 5)


def _refusal(exc: Exception) -> str:
    """The stream's refusal as a pattern rejection reason: past the per-author subject's
    cap ``quota``, past the stream's own limits ``full``."""
    text = str(getattr(exc, "description", "") or exc).lower()
    if "per subject" in text:
        return "quota"
    return "full" if "maximum" in text or "limit" in text else "refused"
