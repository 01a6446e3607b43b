"""Hub fan-out benchmarks: every set-up in one run, so the ratios share a machine state.

usage: python -m bench.hub_cluster [--sessions 500] [--messages 20] [--interval 0.2]
       [--setups single,nats1,nats2] [--transports websocket,webtransport]
       [--loop asyncio|uvloop] [--json FILE]

Set-ups, each a ``reasoningbank hub --open`` process on free ports:

* ``single``  one process, no NATS (today's hub);
* ``nats1``   one hub on a 3-node local NATS JetStream cluster (``--nats``);
* ``nats2``   two workers on that cluster (``--nats --workers 2``).

For each: fan-out p50/p99 at ``--sessions`` sessions over WebSocket and WebTransport (the
load test of ``reasoningbank.bus.aio.loadgen``: one publisher, every other session times
each relayed push) and the hub's CPU per message (all its processes). The NATS nodes and
hubs are started and stopped here. Patterns/s through the cluster and catch-up time are
``bench.cluster``'s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from reasoningbank.bus.aio.loadgen import _load, _run

ROOT = Path(__file__).resolve().parent.parent


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
    out["load_average_at_end"] = os.getloadavg()[0]
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
