"""Floods against a hub: what each costs the hub in memory and an honest client in time.

usage: python -m bench.floods [--patterns 2000] [--seconds 6] [--only NAME,...] [--json FILE]

Each scenario starts a fresh hub process (WebSocket endpoint on 127.0.0.1, holding
``--patterns`` patterns by one honest author) and, except ``quiet``, an attacker process that
floods it for ``--seconds``. One second into the flood an honest client connects and syncs
everything (announcing its trust list, as ``sync --announce-trust`` does). Reported per
scenario: the hub's resident memory before the flood and its peak
(``VmHWM``; Linux only), the honest sync time, and its ratio to the quiet hub's (goal: at
most 2x). Floods:

* ``have``      catch-up requests naming every bucket (and aliased bucket keys) at full speed
* ``stream``    a 60 MB reasoning stream relayed to a session that stopped reading
* ``replay``    throwaway keys, one session and a few frames each, to fill the replay cache
* ``snapshot``  snapshot requests, each after a fresh pattern (to defeat a naive cache)
* ``patterns``  one key pushing as many maximum-size patterns as it can
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from typing import Any

from reasoningbank.bus.aio import HubServer, connect
from reasoningbank.bus.events import PatternAccepted
from reasoningbank.bus.frames import FrameType
from reasoningbank.bus.hub import Hub
from reasoningbank.bus.provenance import canonical_json, sign_pattern
from reasoningbank.bus.signers import NaclSigner, NaclVerifier

SCENARIOS = ("quiet", "have", "stream", "replay", "snapshot", "patterns")
VERIFIER = NaclVerifier()


def _signer(name: str) -> NaclSigner:
    import hashlib

    return NaclSigner(hashlib.sha256(name.encode()).digest())


HONEST = _signer("honest-author")


def _pattern(who: str, i: int, pad: int = 0) -> dict[str, Any]:
    return {
        "id": f"{who}-{i}",
        "task_description": f"task {i} by {who}: refresh oauth tokens",
        "task_category": "backend",
        "strategy": "test-driven",
        "context": {"n": i, **({"notes": ["x" * 10_000] * (pad // 10_000)} if pad else {})},
        "outcome": {"success": True, "success_score": 0.8},
    }


def _memory_mb(pid: int) -> dict[str, float]:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                name, _, value = line.partition(":")
                if name in ("VmRSS", "VmHWM"):
                    out[name] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return out


# -- the hub process -------------------------------------------------------------------------
async def _serve(patterns: int) -> None:
    hub = Hub(signer=_signer("hub"), verifier=VERIFIER, nonce_source=os.urandom)
    now = time.time()
    hub.preload([sign_pattern(_pattern("honest", i), HONEST, now) for i in range(patterns)])
    server = HubServer(hub)
    await server.start("127.0.0.1", 0, quic=False)
    print(server.ws_url, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF
    await server.close()


# -- the attacker process --------------------------------------------------------------------
async def _client(url: str, name: str, read: bool = True) -> Any:
    client = await connect(url, signer=_signer(name), verifier=VERIFIER, trusted=None)
    if read:
        client.tap(lambda data: None)  # read and discard: cost the hub, not ourselves
    else:
        client._write.__self__.transport.pause_reading()  # type: ignore[attr-defined]
    return client


def _send(client: Any, type: FrameType, op: str, body: Any) -> None:
    client.peer.conn.send(time.time(), type=type, op=op, payload=canonical_json(body))
    client.flush()


async def _flood_have(url: str, until: float) -> None:
    client = await _client(url, "have-flooder")
    every = {str(b): [] for b in range(256)}
    aliases = {f"{p}{b}": [] for b in range(10) for p in ("0", " ", "+", "00")}
    while time.time() < until and not client.closed:
        _send(client, FrameType.GOSSIP, "gossip.have", {"buckets": every})
        _send(client, FrameType.GOSSIP, "gossip.have", {"buckets": aliases})
        await asyncio.sleep(0.005)


async def _flood_stream(url: str, until: float) -> None:
    sender = await _client(url, "stream-sender")
    await _client(url, "stream-sink", read=False)
    stream = sender.open_stream(FrameType.TOKEN, {"title": "flood"})
    for _ in range(1000):  # 60 MB
        if time.time() >= until or sender.closed:
            break
        sender.send_stream(stream, b"t" * 60_000)
        await asyncio.sleep(0.002)


async def _flood_replay(url: str, until: float) -> None:
    i = 0
    while time.time() < until:
        try:
            client = await _client(url, f"throwaway-{i}")
        except Exception:
            await asyncio.sleep(0.01)
            continue
        for _ in range(20):
            _send(client, FrameType.GOSSIP, "gossip.insync", {})
        await client.close()
        i += 1


async def _flood_snapshot(url: str, until: float) -> None:
    client = await _client(url, "snapshot-flooder")
    signer = _signer("snapshot-flooder")
    i = 0
    while time.time() < until and not client.closed:
        client.share(sign_pattern(_pattern("snap", i), signer, time.time()))
        _send(client, FrameType.SNAPSHOT, "snapshot.get", {})
        i += 1
        await asyncio.sleep(0.005)


async def _flood_patterns(url: str, until: float) -> None:
    client = await _client(url, "pattern-flooder")
    signer = _signer("pattern-flooder")
    i = 0
    while time.time() < until and not client.closed:
        client.share(sign_pattern(_pattern("big", i, pad=60_000), signer, time.time()))
        i += 1
        await asyncio.sleep(0.001)


FLOODS = {
    "have": _flood_have,
    "stream": _flood_stream,
    "replay": _flood_replay,
    "snapshot": _flood_snapshot,
    "patterns": _flood_patterns,
}


async def _attack(kind: str, url: str, seconds: float) -> None:
    await FLOODS[kind](url, time.time() + seconds)


# -- the honest client and the driver --------------------------------------------------------
async def _honest_sync(url: str, patterns: int) -> float:
    start = time.perf_counter()
    # The honest bank announces its trust list, so the hub sends it only its authors'
    # patterns (without it, it would also download every pattern the flooder got in).
    client = await connect(url, signer=_signer("honest-reader"), verifier=VERIFIER,
                           trusted={HONEST.public_key}, announce_trust=True)  # fmt: skip
    await client.sync(timeout=120)
    took = time.perf_counter() - start
    got = {e.pattern_id for e in client.events if isinstance(e, PatternAccepted)}
    await client.close()
    if len(got) != patterns:
        raise SystemExit(f"honest client got {len(got)} of {patterns} patterns")
    return took


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.floods", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def scenario(name: str, patterns: int, seconds: float) -> dict[str, Any]:
    hub = _spawn("--serve", "--patterns", str(patterns))
    assert hub.stdout is not None and hub.stdin is not None
    url = hub.stdout.readline().strip()
    before = _memory_mb(hub.pid)
    attacker = None
    try:
        if name != "quiet":
            attacker = _spawn("--attack", name, url, "--seconds", str(seconds))
            time.sleep(1.0)
        took = asyncio.run(_honest_sync(url, patterns))
        if attacker is not None:
            attacker.wait(timeout=seconds + 60)
        after = _memory_mb(hub.pid)
    finally:
        if attacker is not None and attacker.poll() is None:
            attacker.kill()
        hub.stdin.close()
        hub.wait(timeout=30)
    return {
        "flood": name,
        "hub_rss_before_mb": round(before.get("VmRSS", 0.0), 1),
        "hub_peak_mb": round(after.get("VmHWM", 0.0), 1),
        "hub_growth_mb": round(after.get("VmHWM", 0.0) - before.get("VmRSS", 0.0), 1),
        "honest_sync_s": round(took, 3),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.floods", description=__doc__.split("\n")[0])
    ap.add_argument("--patterns", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--only", default=",".join(SCENARIOS))
    ap.add_argument("--json", dest="json_path")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--attack", nargs=2, metavar=("KIND", "URL"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.patterns < 1 or args.seconds <= 0:
        ap.error("--patterns and --seconds must be positive")
    if args.serve:
        asyncio.run(_serve(args.patterns))
        return
    if args.attack:
        asyncio.run(_attack(args.attack[0], args.attack[1], args.seconds))
        return
    names = [n for n in args.only.split(",") if n]
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        ap.error(f"unknown flood(s): {', '.join(sorted(unknown))}")
    if "quiet" not in names:
        names.insert(0, "quiet")
    rows = []
    for name in names:
        print(f"flood {name}...", file=sys.stderr, flush=True)
        rows.append(scenario(name, args.patterns, args.seconds))
    quiet = rows[0]["honest_sync_s"]
    print(f"{'flood':10} {'hub MB before':>14} {'hub MB peak':>12} {'sync s':>8} {'vs quiet':>9}")
    for row in rows:
        row["vs_quiet"] = round(row["honest_sync_s"] / quiet, 2)
        print(
            f"{row['flood']:10} {row['hub_rss_before_mb']:14.1f} {row['hub_peak_mb']:12.1f} "
            f"{row['honest_sync_s']:8.3f} {row['vs_quiet']:8.2f}x"
        )
    if args.json_path:
        with open(args.json_path, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
