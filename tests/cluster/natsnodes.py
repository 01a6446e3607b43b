"""A real NATS JetStream cluster on localhost for tests: three nats-server processes with
their own free ports and store directories, each one stoppable and restartable."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path


def nats_server_binary() -> str | None:
    for path in (shutil.which("nats-server"), "/usr/sbin/nats-server", "/usr/bin/nats-server"):
        if path and os.access(path, os.X_OK):
            return path
    return None


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports: all held at once while picked (one at a time, the system
    may hand out a port just released again: a node's client and route port collided)."""
    held = [socket.socket() for _ in range(n)]
    try:
        for s in held:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in held]
    finally:
        for s in held:
            s.close()


class NatsNode:
    """One nats-server of the cluster."""

    def __init__(self, binary: str, root: Path, name: str, port: int, route_port: int) -> None:
        self.binary, self.name, self.port, self.route_port = binary, name, port, route_port
        self.dir = root / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "nats.conf"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def write_config(self, routes: list[int]) -> None:
        """A node of a cluster routed to ``routes``, or a lone server without them."""
        text = (
            f"server_name: {self.name}\n"
            f"listen: 127.0.0.1:{self.port}\n"
            f'jetstream {{ store_dir: "{self.dir / "store"}", max_mem: 64MB, max_file: 16GB }}\n'
        )
        if routes:
            route_urls = ", ".join(f"nats-route://127.0.0.1:{p}" for p in routes)
            text += (
                f"cluster {{ name: rbtest, listen: 127.0.0.1:{self.route_port}, "
                f"routes: [{route_urls}] }}\n"
            )
        self.config.write_text(text)

    def start(self) -> None:
        log = open(self.dir / "nats.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen([self.binary, "-c", str(self.config)], stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nats-server {self.name} did not listen on {self.port}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


class NatsCluster:
    """``size`` JetStream nodes routed to each other (R3 streams need three at creation);
    ``size=1``: one server, no cluster."""

    def __init__(self, binary: str, root: Path, size: int = 3) -> None:
        ports = free_ports(2 * size)
        self.nodes = [
            NatsNode(binary, root, f"n{i + 1}", ports[2 * i], ports[2 * i + 1]) for i in range(size)
        ]
        for node in self.nodes:
            node.write_config([n.route_port for n in self.nodes if n is not node])

    @property
    def urls(self) -> str:
        return ",".join(n.url for n in self.nodes)

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        self.wait_ready()

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until JetStream answers with a meta leader (every node routed and voting)."""
        import asyncio

        import nats

        async def ready() -> bool:
            try:
                nc = await nats.connect(self.nodes[0].url, connect_timeout=1, allow_reconnect=False)
            except Exception:
                return False
            try:
                await nc.jetstream().account_info()
                return True
            except Exception:
                return False
            finally:
                await nc.close()

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if asyncio.run(ready()):
                return
            time.sleep(0.2)
        raise RuntimeError("the NATS cluster did not elect a JetStream leader")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
