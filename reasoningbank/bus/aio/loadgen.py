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


def verify_rate(
    frames: int = 20_000, payload_size: int = 256, blocks: int = 10
) -> dict[str, float]:
    """Signed frames/s through the hub's own receive path, against raw PyNaCl in the same run.

    A server ``Connection`` (as a hub session) is fed the frames' bytes in 64 KiB reads and
    drained with ``next_event``: decode, checks 1-10 of ``IntentChecker.check_flow``, Ed25519
    through the flow, one ``IntentReceived`` per frame. The yardstick is PyNaCl's
    ``crypto_sign_open`` over the same signed bytes (``verified_vs_raw``: the share of it the
    bus layer keeps). The two alternate block by block and are timed in CPU seconds, so the
    load of a shared machine falls on both alike."""
    import nacl.bindings

    from ..connection import Connection
    from ..events import IntentReceived
    from ..frames import FrameType, pull_frame, signing_bytes
    from ..intents import Policy
    from ..signers import NaclSigner, NaclVerifier

    now = time.time()
    signer, verifier = NaclSigner(bytes(range(32))), NaclVerifier()
    client = Connection(
        signer=signer, verifier=verifier, is_client=True, nonce_source=secrets.token_bytes
    )
    server = Connection(
        signer=NaclSigner(bytes(32)),
        verifier=verifier,
        is_client=False,
        nonce_source=secrets.token_bytes,
        policy=Policy(budget=10 * frames, nonce_capacity=2 * frames, nonces_per_key=2 * frames),
    )
    client.hello(now)
    server.receive_data(client.data_to_send())
    if not server.next_event(now):
        raise RuntimeError("the server session did not take the HELLO")
    server.hello(now)
    payload = os.urandom(payload_size)
    per_block = -(-frames // blocks)
    wires, blobs, signing = [], [], 0.0
    for start in range(0, frames, per_block):
        t0 = time.process_time()
        for _ in range(min(per_block, frames - start)):
            client.send(now, type=FrameType.GOSSIP, op="gossip.push", payload=payload)
        wire = client.data_to_send()
        signing += time.process_time() - t0
        wires.append([wire[i : i + 65536] for i in range(0, len(wire), 65536)])
        block, used = [], 0
        while (got := pull_frame(memoryview(wire)[used:])) is not None:
            block.append((got[0].signature or b"") + signing_bytes(got[0]))
            used += got[1]
        blobs.append(block)
    key, crypto_sign_open = signer.public_key, nacl.bindings.crypto_sign_open
    bus = raw = 0.0
    received = 0
    for reads, block in zip(wires, blobs, strict=True):
        t0 = time.process_time()
        for data in reads:
            server.receive_data(data)
            while (event := server.next_event(now)) is not None:
                received += isinstance(event, IntentReceived)
        t1 = time.process_time()
        for blob in block:
            crypto_sign_open(blob, key)
        raw += time.process_time() - t1
        bus += t1 - t0
    if received != frames:
        raise RuntimeError(f"the session delivered {received} of {frames} frames")
    return {
        "frames": frames,
        "payload_bytes": payload_size,
        "signed_per_s": round(frames / signing),
        "verified_per_s": round(frames / bus),
        "raw_pynacl_verify_per_s": round(frames / raw),
        "verified_vs_raw": round(raw / bus, 3),
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
