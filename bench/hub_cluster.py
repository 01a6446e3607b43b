"""Hub fan-out and cluster benchmarks, every set-up in one run so the ratios share a machine.

usage: python -m bench.hub_cluster [--sessions 500] [--messages 20] [--interval 0.2]
       [--setups single,nats1,nats2] [--transports websocket,webtransport]
       [--throughput 5000] [--catch-up 100000] [--loop asyncio|uvloop] [--json FILE]

Set-ups, each a ``reasoningbank hub --open`` process on free ports:

* ``single``  one process, no NATS (today's hub);
* ``nats1``   one hub on a 3-node local NATS JetStream cluster (``--nats``);
* ``nats2``   two workers on that cluster (``--nats --workers 2``).

For each: fan-out p50/p99 at ``--sessions`` sessions over WebSocket and WebTransport (the
load test of ``reasoningbank.bus.aio.loadgen``: one publisher, every other session times
each relayed push) and the hub's CPU per message (all its processes). Then, on a fresh NATS
cluster with two hubs: patterns per second end to end (signed patterns in through hub 1,
verified and accepted by a bank on hub 2), and catch-up against ``--catch-up`` stored
patterns (the rest appended straight to the NATS stream): how long a third hub takes to fold
them and listen, how long a new bank takes to sync them through it, and the same sync
through a single hub that loaded them from its ``--store`` file. The NATS nodes and hubs are started and stopped here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from reasoningbank.bus.aio.loadgen import _load, _run
from reasoningbank.bus.events import PatternAccepted
from reasoningbank.bus.provenance import sign_pattern
from reasoningbank.bus.signers import NaclSigner, NaclVerifier

ROOT = Path(__file__).resolve().parent.parent
#: Authors the stored patterns are spread over (the hub keeps at most 10,000 per author).
AUTHORS = 20


def _signer(name: str) -> NaclSigner:
    return NaclSigner(name.encode().ljust(32, b"."))


def _pattern(author: str, i: int) -> dict[str, Any]:
    return {
        "id": f"{author}-{i}",
        "task_description": f"bench task {i} by {author}",
        "task_category": "bench",
        "strategy": f"strategy {i}",
        "outcome": {"success": True},
    }


def signed_patterns(n: int) -> list[dict[str, Any]]:
    """``n`` signed patterns, round-robin over ``AUTHORS`` keys."""
    signers = [_signer(f"author-{a}") for a in range(AUTHORS)]
    now = time.time()
    return [
        sign_pattern(_pattern(f"author-{i % AUTHORS}", i), signers[i % AUTHORS], now)
        for i in range(n)
    ]


class HubProcess:
    """``reasoningbank hub --open`` on free ports; its URLs are read from its banner."""

    def __init__(self, *flags: str) -> None:
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reasoningbank", "hub", "--open", "--port", "0", *flags],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.url = self.ws_url = self.cert = ""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("hub listening on "):
                self.url = line.split()[3]
            elif line.startswith("websocket: "):
                self.ws_url = line.split()[1]
            elif line.startswith("certificate sha256: "):
                self.cert = line.split()[2]
            elif line.startswith("hub key: "):
                return
        raise RuntimeError(f"hub {' '.join(flags)} did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def fanout(hub: HubProcess, transport: str, args: argparse.Namespace) -> dict[str, Any]:
    wt = transport == "webtransport"
    return _run(
        _load(
            hub.url if wt else hub.ws_url,
            hub.cert if wt else None,
            args.sessions,
            args.messages,
            args.interval,
            hub.proc.pid,
        ),
        args.loop,
    )


async def _bank(url: str, *, publisher: bool = False) -> Any:
    """A bank's session; a ``publisher`` announces an empty author list, so the hub sends
    it nothing (otherwise every publisher would also verify everyone's patterns)."""
    from reasoningbank.bus.aio import connect

    return await connect(
        url,
        signer=_signer(f"bank-{time.monotonic_ns()}"),
        verifier=NaclVerifier(),
        trusted=None,
        info={"authors": []} if publisher else None,
        timeout=60,
    )


async def _throughput(source: str, sink: str, patterns: list[dict[str, Any]]) -> dict[str, Any]:
    """Share ``patterns`` through hub ``source``; a bank on hub ``sink`` verifies and
    accepts each. Publishers are one session per author (a key's frame budget is per key)."""
    receiver = await _bank(sink)
    publishers = [await _bank(source, publisher=True) for _ in range(AUTHORS)]
    t0 = time.perf_counter()
    for i, pattern in enumerate(patterns):
        publishers[i % AUTHORS].share(pattern)
        if i % 200 == 199:
            await asyncio.sleep(0)  # let the sockets drain
    want = {p["id"] for p in patterns}

    def accepted() -> int:
        return sum(isinstance(e, PatternAccepted) for e in receiver.events)

    while accepted() < len(want) and time.perf_counter() - t0 < 600:
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - t0
    got = accepted()
    for c in [receiver, *publishers]:
        await c.close()
    return {
        "patterns": len(patterns),
        "accepted": got,
        "seconds": round(elapsed, 2),
        "patterns_per_s": round(got / elapsed),
    }


async def _catch_up(url: str, expected: int) -> dict[str, Any]:
    """A new bank connects and syncs until it holds everything the hub keeps."""
    t0 = time.perf_counter()
    bank = await _bank(url)
    await bank.sync(timeout=1800)
    elapsed = time.perf_counter() - t0
    got = len(bank.peer.gossip.store)
    await bank.close()
    return {"stored": expected, "received": got, "seconds": round(elapsed, 2)}


async def _fill(urls: str, patterns: list[dict[str, Any]]) -> float:
    """Append ``patterns`` straight to the hubs' NATS stream, as hubs would; seconds taken."""
    import nats

    from reasoningbank.bus.aio.cluster import LOG_SUBJECT, STREAM
    from reasoningbank.bus.provenance import canonical_json, pattern_id

    nc = await nats.connect(urls.split(","))
    js = nc.jetstream()
    t0 = time.perf_counter()
    for i in range(0, len(patterns), 500):
        await asyncio.gather(
            *(
                js.publish(
                    LOG_SUBJECT,
                    canonical_json(p),
                    stream=STREAM,
                    headers={"Nats-Msg-Id": pattern_id(p)},
                )
                for p in patterns[i : i + 500]
            )
        )
    elapsed = time.perf_counter() - t0
    await nc.close()
    return elapsed


def _cluster_runs(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Patterns/s through two clustered hubs, then catch-up against ``--catch-up`` stored
    patterns: a hub joining late folds them, a new bank syncs them through it; and the
    same catch-up from a single hub's ``--store`` file."""
    out: dict[str, Any] = {}
    n = max(args.throughput, args.catch_up)
    t0 = time.perf_counter()
    patterns = signed_patterns(n)
    out["signing_s"] = round(time.perf_counter() - t0, 2)
    cluster = _nats_cluster(tmp / "nats-2")
    hubs = [HubProcess("--nats", cluster.urls) for _ in range(2)]
    try:
        if args.throughput:
            res = asyncio.run(
                _throughput(hubs[0].ws_url, hubs[1].ws_url, patterns[: args.throughput])
            )
            out["cluster_throughput"] = res
            print("throughput", json.dumps(res), flush=True)
        if args.catch_up:
            rest = patterns[args.throughput : args.catch_up]
            filled = asyncio.run(_fill(cluster.urls, rest)) if rest else 0.0
            out["stream_append_per_s"] = round(len(rest) / filled) if rest else None
            t0 = time.perf_counter()
            hubs.append(HubProcess("--nats", cluster.urls))  # folds the stream, then listens
            out["late_hub_ready_s"] = round(time.perf_counter() - t0, 2)
            res = asyncio.run(_catch_up(hubs[-1].ws_url, args.catch_up))
            out["catch_up_cluster"] = res
            print("catch-up (cluster)", json.dumps(res), flush=True)
    finally:
        for hub in hubs:
            hub.stop()
        cluster.stop()
    if args.catch_up:
        from reasoningbank.bus.hubstore import HubStore

        path = tmp / "store.jsonl"
        store = HubStore(path)
        for pattern in patterns[: args.catch_up]:
            store.append(pattern)
        store.close()
        t0 = time.perf_counter()
        hub = HubProcess("--store", str(path))
        out["single_hub_ready_s"] = round(time.perf_counter() - t0, 2)
        try:
            res = asyncio.run(_catch_up(hub.ws_url, args.catch_up))
        finally:
            hub.stop()
        out["catch_up_single"] = res
        print("catch-up (single)", json.dumps(res), flush=True)
    return out


def _nats_cluster(root: Path) -> Any:
    sys.path.insert(0, str(ROOT))
    from tests.cluster.natsnodes import NatsCluster, nats_server_binary

    binary = nats_server_binary()
    if binary is None:
        raise SystemExit("nats-server not found (install the nats-server package)")
    cluster = NatsCluster(binary, root)
    cluster.start()
    return cluster


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m bench.hub_cluster")
    ap.add_argument("--sessions", type=int, default=500)
    ap.add_argument("--messages", type=int, default=20)
    ap.add_argument("--interval", type=float, default=0.2)
    ap.add_argument("--setups", default="single,nats1,nats2")
    ap.add_argument("--transports", default="websocket,webtransport")
    ap.add_argument("--throughput", type=int, default=5000)
    ap.add_argument("--catch-up", type=int, default=100_000)
    ap.add_argument("--loop", default="asyncio", choices=["asyncio", "uvloop"])
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    out: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg()[0],
        "loop": args.loop,
        "fanout": {},
    }
    setups = [s for s in args.setups.split(",") if s]
    with tempfile.TemporaryDirectory(prefix="rb-bench-") as tmp:
        cluster = _nats_cluster(Path(tmp) / "nats") if {"nats1", "nats2"} & set(setups) else None
        try:
            for setup in setups:
                extra = [] if setup == "single" else ["--nats", cluster.urls]
                if setup == "nats2":
                    extra += ["--workers", "2"]
                for transport in [t for t in args.transports.split(",") if t]:
                    hub = HubProcess(*extra)
                    try:
                        res = fanout(hub, transport, args)
                    finally:
                        hub.stop()
                    out["fanout"][f"{setup}/{transport}"] = res
                    print(setup, transport, json.dumps(res), flush=True)
        finally:
            if cluster is not None:
                cluster.stop()
        if args.throughput or args.catch_up:
            out.update(_cluster_runs(args, Path(tmp)))
    out["load_average_at_end"] = os.getloadavg()[0]
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
