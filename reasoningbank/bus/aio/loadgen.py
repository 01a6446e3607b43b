"""Neural-bus benchmarks: signed-frame verification rate, and a hub load test.

``run(...)`` returns one dict (the CLI's ``bench`` prints it). The hub runs in a child
process so its CPU time is its own; clients run here:

* ``sessions`` WebSocket (or WebTransport) sessions complete a signed HELLO each;
* a publisher shares ``messages`` signed patterns, spaced ``interval`` seconds apart;
* every other session records when each relayed push frame finished arriving; fan-out
  latency = arrival − publish (one clock: both ends are in this process). Receivers only
  timestamp bytes during the run and decode afterwards, so the numbers measure the hub and
  the network path, not 500 Python verifiers sharing one core.
* memory per session = growth of the hub process's resident set / sessions.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
from typing import Any

__all__ = ["arun", "hub_load", "run", "verify_rate"]


def verify_rate(frames: int = 20_000, payload_size: int = 256) -> dict[str, float]:
    """Decode + fully check (``IntentChecker``: hash, time, scope, cap, nonce, budget,
    Ed25519) pre-made signed frames; returns frames per second for signing and verifying,
    and, as the yardstick of the same run, raw PyNaCl ``crypto_sign_open`` over the same
    signed bytes (``verified_vs_raw``: the share of it the bus layer keeps)."""
    from ..frames import FrameType, encode_frame, pull_frame, signing_bytes
    from ..intents import IntentChecker, Policy, sign_frame
    from ..signers import NaclSigner, NaclVerifier

    signer, verifier = NaclSigner(bytes(range(32))), NaclVerifier()
    now = time.time()
    payload = os.urandom(payload_size)
    t0 = time.perf_counter()
    raws = [
        encode_frame(
            sign_frame(
                signer,
                secrets.token_bytes(16),
                now,
                type=FrameType.GOSSIP,
                payload=payload,
                op="gossip.push",
            )
        )
        for _ in range(frames)
    ]
    t1 = time.perf_counter()
    checker = IntentChecker(Policy(budget=10 * frames, nonce_capacity=2 * frames))
    for raw in raws:
        got = pull_frame(raw)
        assert got is not None
        checker.check_sync(got[0], now, verifier)
    t2 = time.perf_counter()
    import nacl.bindings

    key = signer.public_key
    decoded = [got[0] for got in map(pull_frame, raws) if got is not None]
    signed = [(f.signature or b"") + signing_bytes(f) for f in decoded]
    t3 = time.perf_counter()
    for blob in signed:
        nacl.bindings.crypto_sign_open(blob, key)
    t4 = time.perf_counter()
    return {
        "frames": frames,
        "payload_bytes": payload_size,
        "signed_per_s": round(frames / (t1 - t0)),
        "verified_per_s": round(frames / (t2 - t1)),
        "raw_pynacl_verify_per_s": round(frames / (t4 - t3)),
        "verified_vs_raw": round((t4 - t3) / (t2 - t1), 3),
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a hub started with ``--workers`` is several processes)."""
    pids, i = [pid], 0
    while i < len(pids):
        try:
            with open(f"/proc/{pids[i]}/task/{pids[i]}/children") as fh:
                pids += [int(p) for p in fh.read().split()]
        except OSError:
            pass
        i += 1
    return pids


def _rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants."""
    total = 0
    for p in _tree(pid):
        try:
            with open(f"/proc/{p}/status") as fh:
                total += next((int(ln.split()[1]) for ln in fh if ln.startswith("VmRSS:")), 0)
        except OSError:
            pass
    return total


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by ``pid`` and its live descendants."""
    total = 0
    for p in _tree(pid):
        try:
            with open(f"/proc/{p}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _run(main: Any, loop: str) -> Any:
    """``asyncio.run(main)`` on the stock loop or, with ``loop="uvloop"``, on uvloop."""
    if loop == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)


def _serve(profile: str | None = None, loop: str = "asyncio") -> None:  # pragma: no cover
    """Child process: run a hub on free ports, print its URLs, stop on SIGTERM. With
    ``profile``, cProfile runs between SIGUSR1 and SIGUSR2 (the broadcast window, not the
    handshakes) and the stats are dumped there on exit."""
    import cProfile
    import signal

    from ..hub import Hub
    from ..signers import NaclSigner, NaclVerifier
    from .server import HubServer

    async def main() -> None:
        hub = Hub(
            signer=NaclSigner(secrets.token_bytes(32)),
            verifier=NaclVerifier(),
            nonce_source=secrets.token_bytes,
        )
        server = HubServer(hub)
        await server.start("127.0.0.1", 0)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        if profile is not None:
            loop.add_signal_handler(signal.SIGUSR1, profiler.enable)
            loop.add_signal_handler(signal.SIGUSR2, profiler.disable)
        print("READY", server.url, server.ws_url, server.cert_sha256, flush=True)
        await stop.wait()

    profiler = cProfile.Profile()
    _run(main(), loop)
    if profile is not None:
        profiler.dump_stats(profile)


#: Seconds the load test waits for the last relayed frames once publishing ended.
DRAIN_LIMIT = 60.0


async def _quiet(arrivals: list[list[Any]], still: float) -> None:
    """Wait until no receiver got anything for ``still`` seconds (a hub that fell behind
    is still sending; its late frames belong in the percentiles), at most ``DRAIN_LIMIT``."""
    deadline = time.perf_counter() + DRAIN_LIMIT
    seen = -1
    while time.perf_counter() < deadline:
        now = sum(len(log) for log in arrivals)
        if now == seen:
            return
        seen = now
        await asyncio.sleep(still)


async def _load(
    url: str,
    cert: str | None,
    sessions: int,
    messages: int,
    interval: float,
    hub_pid: int,
    profile: bool = False,
) -> dict[str, Any]:
    from ..events import PatternAccepted
    from ..frames import pull_frame
    from ..provenance import sign_pattern
    from ..signers import NaclSigner, NaclVerifier
    from .client import connect

    verifier = NaclVerifier()
    publisher_key = NaclSigner(secrets.token_bytes(32))
    trusted = {publisher_key.public_key}
    rss0 = _rss_kib(hub_pid)
    clients = []
    t0 = time.perf_counter()
    for batch in range(0, sessions, 50):
        n = min(50, sessions - batch)
        clients += await asyncio.gather(
            *(
                connect(
                    url,
                    signer=NaclSigner(secrets.token_bytes(32)),
                    verifier=verifier,
                    trusted=trusted,
                    cert_hash=cert,
                    timeout=60,
                )
                for _ in range(n)
            )
        )
    connect_s = time.perf_counter() - t0
    await asyncio.sleep(0.5)
    rss1 = _rss_kib(hub_pid)
    publisher, receivers = clients[0], clients[1:]
    arrivals: list[list[tuple[float, bytes]]] = [[] for _ in receivers]
    for i, c in enumerate(receivers):  # timestamp raw bytes only, decode after the run
        c.tap((lambda log: lambda data: log.append((time.perf_counter(), data)))(arrivals[i]))
    sent: dict[str, float] = {}
    if profile:
        os.kill(hub_pid, signal.SIGUSR1)
        await asyncio.sleep(0.1)
    hub_cpu0, own_cpu0, wall0 = _cpu_s(hub_pid), time.process_time(), time.perf_counter()
    for m in range(messages):
        pattern = sign_pattern(
            {
                "id": f"bench-{m}-{secrets.token_hex(4)}",
                "task_description": f"bench task {m}",
                "task_category": "bench",
                "strategy": "fan-out",
                "outcome": {"success": True},
            },
            publisher_key,
            time.time(),
        )
        events = publisher.share(pattern)
        sent[next(e.pattern_id for e in events if isinstance(e, PatternAccepted))] = (
            time.perf_counter()
        )
        await asyncio.sleep(interval)
    await _quiet(arrivals, max(1.0, interval))
    wall = time.perf_counter() - wall0
    hub_cpu_s = _cpu_s(hub_pid) - hub_cpu0
    hub_cpu = hub_cpu_s / wall
    own_cpu = (time.process_time() - own_cpu0) / wall
    if profile:
        os.kill(hub_pid, signal.SIGUSR2)
    latencies: list[float] = []
    delivered = 0
    from ..provenance import pattern_id

    for log in arrivals:
        buf = bytearray()
        for when, data in log:
            buf += data
            while (got := pull_frame(buf)) is not None:
                frame, used = got
                del buf[:used]
                if frame.intent is not None and frame.intent.op == "gossip.push":
                    import json

                    pid = pattern_id(json.loads(frame.payload)["pattern"])
                    if pid in sent:
                        latencies.append((when - sent[pid]) * 1000)
                        delivered += 1
    for c in clients:
        c.tap(lambda data: None)
    await asyncio.gather(*(c.close() for c in clients))
    expected = messages * len(receivers)
    return {
        "transport": "webtransport" if url.startswith("https") else "websocket",
        "sessions": sessions,
        "connect_s": round(connect_s, 2),
        "messages": messages,
        "deliveries": delivered,
        "delivery_ratio": round(delivered / expected, 4) if expected else 1.0,
        "fanout_p50_ms": round(statistics.median(latencies), 2) if latencies else None,
        "fanout_p99_ms": round(_percentile(latencies, 0.99), 2) if latencies else None,
        "fanout_max_ms": round(max(latencies), 2) if latencies else None,
        "hub_rss_per_session_kib": round((rss1 - rss0) / sessions, 1),
        "hub_cpu_share": round(hub_cpu, 2),
        "hub_cpu_ms_per_message": round(hub_cpu_s * 1000 / messages, 1) if messages else None,
        "clients_cpu_share": round(own_cpu, 2),
        "load_average": os.getloadavg()[0],
    }


def hub_load(
    sessions: int = 500,
    messages: int = 20,
    interval: float = 0.2,
    transport: str = "websocket",
    *,
    profile: str | None = None,
    loop: str = "asyncio",
) -> dict[str, Any]:
    """Start a hub in a child process and load it; see the module docstring. ``profile``:
    a file for the hub's cProfile stats (``python -m pstats`` reads it); ``loop``:
    ``"asyncio"`` or ``"uvloop"`` (both the hub and the clients)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from reasoningbank.bus.aio.loadgen import _serve; _serve({profile!r}, {loop!r})",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=path),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        if not line or line[0] != "READY":
            raise RuntimeError("hub did not start")
        url, ws_url, cert = line[1], line[2], line[3]
        target = url if transport == "webtransport" else ws_url
        out = _run(
            _load(
                target,
                cert if transport == "webtransport" else None,
                sessions,
                messages,
                interval,
                proc.pid,
                profile is not None,
            ),
            loop,
        )
        return {**out, "loop": loop}
    finally:
        proc.terminate()
        proc.wait(30)


def run(
    frames: int = 20_000, sessions: int = 500, messages: int = 20, quic_sessions: int = 100
) -> dict[str, Any]:
    """Everything: verify rate, WebSocket hub load, WebTransport hub load."""
    out: dict[str, Any] = {"verify": verify_rate(frames)}
    out["hub_websocket"] = hub_load(sessions, messages, transport="websocket")
    if quic_sessions:
        out["hub_webtransport"] = hub_load(quic_sessions, messages, transport="webtransport")
    return out


async def arun(**kw: Any) -> dict[str, Any]:
    """``run`` from inside a running event loop (it starts loops of its own, so in a thread)."""
    return await asyncio.to_thread(run, **kw)


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(run(), indent=2))
