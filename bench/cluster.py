"""A hub on a NATS JetStream cluster against one hub without NATS, in one run.

usage: python -m bench.cluster [--patterns 2000] [--stored 10000] [--json FILE]

Needs ``nats-server`` on the PATH (or in /usr/sbin) and the ``[cluster]`` extra. Starts a
3-node NATS cluster on localhost (free ports, a temporary store), hubs as real
``reasoningbank hub`` processes, and bank sessions over WebSocket. Reports, for ``single``
(one hub, no NATS) and ``cluster`` (two hubs on the 3-node cluster, R3 stream):

* ``patterns/s``: ``--patterns`` signed patterns pushed by one session; the clock stops when
  a session on the *other* hub (the same hub for ``single``) has received and verified them
  all; ``acked`` is when the sender's sync reported them kept.
* ``catch-up``: a new bank syncing all ``--stored`` + ``--patterns`` patterns from zero; and
  ``hub start``: how long a hub takes to load (verify and index) them before it listens.
  Catch-up is paced by the hub's per-session catch-up allowance (256 KiB/s after a 2 MiB
  burst, docs/security.md), the same for both.

Ratios are cluster / single from the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from reasoningbank.bus.aio import connect
from reasoningbank.bus.events import InSync, PatternAccepted
from reasoningbank.bus.provenance import canonical_json, pattern_id, sign_pattern
from reasoningbank.bus.signers import NaclSigner, NaclVerifier

ROOT = Path(__file__).resolve().parents[1]
VERIFIER = NaclVerifier()
AUTHORS = [NaclSigner(bytes([i + 1]) * 32) for i in range(20)]


def patterns(count: int, tag: str) -> list[dict[str, Any]]:
    now = time.time()
    return [
        sign_pattern(
            {
                "id": f"{tag}-{i}",
                "task_description": f"task {i} ({tag}): refresh oauth tokens before expiry",
                "task_category": "backend",
                "strategy": "test-driven",
                "context": {"n": i},
                "outcome": {"success": True, "success_score": 0.9},
            },
            AUTHORS[i % len(AUTHORS)],
            now,
        )
        for i in range(count)
    ]


def start_hub(*args: str) -> tuple[subprocess.Popen[str], str, float]:
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "reasoningbank", "hub", "--port", "0", "--open", "--no-quic"]
        + ["--max-patterns-per-author", "100000", *args],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    lines = []
    assert proc.stdout is not None
    while not (lines and lines[-1].startswith("hub key:")):
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"hub did not start: {lines}")
        lines.append(line)
    url = re.search(r"websocket: (\S+)", "".join(lines)).group(1)  # type: ignore[union-attr]
    return proc, url, time.monotonic() - started


def stop(hub: subprocess.Popen[str]) -> None:
    hub.terminate()
    try:
        hub.wait(30)
    except subprocess.TimeoutExpired:
        hub.kill()
        hub.wait(30)


async def session(url: str, name: str) -> Any:
    return await connect(
        url, signer=NaclSigner(name.encode().ljust(32, b".")), verifier=VERIFIER, trusted=None
    )


async def throughput(send_url: str, recv_url: str, batch: list[dict[str, Any]]) -> dict[str, float]:
    sender = await session(send_url, "sender")
    receiver = await session(recv_url, "receiver")
    want = len(batch)
    t0 = time.perf_counter()
    for p in batch:
        sender.share(p)
    await sender.sync(600)
    acked = time.perf_counter() - t0
    while sum(isinstance(e, PatternAccepted) for e in receiver.events) < want:
        await asyncio.sleep(0.005)
    done = time.perf_counter() - t0
    await sender.close()
    await receiver.close()
    return {"patterns_per_s": want / done, "seconds": done, "acked_s": acked}


async def catch_up(url: str, stored: int) -> float:
    bank = await session(url, "newcomer")
    t0 = time.perf_counter()
    await bank.sync(3600)
    took = time.perf_counter() - t0
    got = sum(isinstance(e, PatternAccepted) for e in bank.events)
    assert got == stored and any(isinstance(e, InSync) for e in bank.events), got
    await bank.close()
    return took


async def fill_stream(urls: str, batch: list[dict[str, Any]]) -> None:
    """Put patterns in the hubs' stream directly (as hubs would, without the sessions)."""
    import nats

    from reasoningbank.bus.aio.cluster import LOG_SUBJECT

    nc = await nats.connect(urls.split(","))
    js = nc.jetstream()
    pending = []
    for p in batch:
        author = p["metadata"]["provenance"]["author"]
        headers = {"Nats-Msg-Id": pattern_id(p)}
        pending.append(js.publish(f"{LOG_SUBJECT}.{author}", canonical_json(p), headers=headers))
        if len(pending) >= 500:
            await asyncio.gather(*pending)
            pending = []
    await asyncio.gather(*pending)
    await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patterns", type=int, default=2000)
    parser.add_argument("--stored", type=int, default=10_000)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.cluster.natsnodes import NatsCluster, nats_server_binary

    binary = nats_server_binary()
    if binary is None:
        raise SystemExit("bench.cluster: nats-server is not installed")
    results: dict[str, dict[str, float]] = {"single": {}, "cluster": {}}
    stored = patterns(args.stored, "stored")
    fresh = patterns(args.patterns, "fresh")
    total = args.stored + args.patterns
    with tempfile.TemporaryDirectory() as tmp:
        # single: throughput on an empty hub, then a hub holding everything for catch-up
        hub, url, _ = start_hub()
        try:
            results["single"].update(asyncio.run(throughput(url, url, fresh)))
        finally:
            stop(hub)
        store = Path(tmp) / "hub.jsonl"
        store.write_text("".join(canonical_json(p).decode() + "\n" for p in stored + fresh))
        hub, url, started = start_hub("--store", str(store))
        try:
            results["single"]["hub_start_s"] = started
            results["single"]["catch_up_s"] = asyncio.run(catch_up(url, total))
            print("single:", json.dumps(results["single"]), flush=True)
        finally:
            stop(hub)
        # cluster: throughput between two hubs on an empty stream, then the stream filled
        # and a third hub started on it (it folds everything) for catch-up
        cluster = NatsCluster(binary, Path(tmp) / "nats")
        cluster.start()
        hubs = []
        try:
            hub1, url1, _ = start_hub("--nats", cluster.urls)  # it creates the stream
            hubs.append(hub1)
            hub2, url2, _ = start_hub("--nats", cluster.urls)
            hubs.append(hub2)
            results["cluster"].update(asyncio.run(throughput(url1, url2, fresh)))
            asyncio.run(fill_stream(cluster.urls, stored))
            hub3, url3, started = start_hub("--nats", cluster.urls)  # folds all of it
            hubs.append(hub3)
            results["cluster"]["hub_start_s"] = started
            results["cluster"]["catch_up_s"] = asyncio.run(catch_up(url3, total))
            print("cluster:", json.dumps(results["cluster"]), flush=True)
        finally:
            for hub in hubs:
                stop(hub)
            cluster.stop()
    single, clustered = results["single"], results["cluster"]
    print(f"{'':16}{'single':>12}{'cluster':>12}{'ratio':>8}")
    for key in ("patterns_per_s", "acked_s", "catch_up_s", "hub_start_s"):
        ratio = clustered[key] / single[key] if single[key] else float("nan")
        print(f"{key:16}{single[key]:12.2f}{clustered[key]:12.2f}{ratio:8.2f}")
    print(f"({args.patterns} patterns pushed; {total} to catch up; 20 authors)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
