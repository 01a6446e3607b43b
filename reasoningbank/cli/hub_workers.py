"""``hub --workers N``: N hub processes on one port pair, supervised by this one.

Why processes: one Python process uses one core. Every worker listens on the same UDP and
TCP port with ``SO_REUSEPORT``; the kernel picks a worker per 4-tuple, so a QUIC connection
(one client address and port) stays on its worker. Workers keep no state of their own (the
NATS stream holds the patterns), so a dead worker is simply started again. They share one
certificate (so the pin clients hold fits every worker), written by the parent to a
private temporary directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import tempfile
import time
from argparse import Namespace
from pathlib import Path
from typing import Any

from ..bus.errors import LocalBusError

__all__ = ["supervise", "worker_setup"]

#: A worker that dies sooner than this after starting is restarted only after a pause.
RESTART_BACKOFF = 1.0
#: Seconds workers get to close cleanly when the parent stops, before they are killed.
STOP_GRACE = 5.0
#: Seconds a worker may take to connect to NATS, fold the stream and listen.
START_TIMEOUT = 300.0


def worker_setup(args: Namespace) -> Any:
    """In a worker: die with the parent, and use the parent's certificate."""
    if not args.worker_cert:
        return None
    _die_with_parent()
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from cryptography.x509 import load_pem_x509_certificate

    from ..bus.aio.quic import Certificate

    folder = Path(args.worker_cert)
    cert = load_pem_x509_certificate((folder / "cert.pem").read_bytes())
    key = load_pem_private_key((folder / "key.pem").read_bytes(), password=None)
    return Certificate(cert, key)


def _die_with_parent() -> None:
    """Linux: SIGTERM this worker when the supervising parent dies, even by SIGKILL."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _write_certificate(folder: Path, host: str) -> str:
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    from ..bus.aio.quic import generate_certificate

    hosts = ["localhost", "127.0.0.1", "::1"] + ([host] if host not in ("", "0.0.0.0") else [])
    cert = generate_certificate(hosts)
    (folder / "cert.pem").write_bytes(cert.cert.public_bytes(Encoding.PEM))
    key_path = folder / "key.pem"
    key_path.touch(mode=0o600)
    key_path.write_bytes(cert.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    return cert.sha256


def _free_port(host: str) -> int:
    """A port free for both TCP and UDP on ``host`` (workers are then told that port)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
                return port
    raise LocalBusError(f"no free port on {host}")


def _worker_argv(args: Namespace, port: int, cert_dir: str) -> list[str]:
    argv = [sys.executable, "-m", "reasoningbank"]
    db = args.db or os.environ.get("REASONINGBANK_DB")
    if db:
        argv += ["--db", str(db)]
    argv += ["hub", "--host", args.host, "--port", str(port), "--nats", args.nats]
    argv += ["--max-patterns", str(args.max_patterns), "--worker-cert", cert_dir]
    argv += ["--max-patterns-per-author", str(args.max_patterns_per_author)]
    argv += ["--budget", str(args.budget)]
    for origin in args.allow_origin:
        argv += ["--allow-origin", origin]
    for key in args.allow or []:
        argv += ["--allow", key]
    for flag in ("no_quic", "allow_trusted", "open", "trusted_only"):
        if getattr(args, flag):
            argv.append("--" + flag.replace("_", "-"))
    return argv


class _Worker:
    def __init__(self, index: int, argv: list[str]) -> None:
        self.index, self.argv = index, argv
        self.proc: asyncio.subprocess.Process | None = None
        self.started = 0.0
        self.banner: list[str] = []

    async def start(self) -> None:
        self.started = time.monotonic()
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, stdout=asyncio.subprocess.PIPE, stderr=None
        )

    async def read_banner(self) -> list[str]:
        """Lines the worker prints until it listens (``hub key: ...`` is the last)."""
        assert self.proc is not None and self.proc.stdout is not None
        lines: list[str] = []
        while True:
            raw = await self.proc.stdout.readline()
            if not raw:
                raise LocalBusError(f"hub worker {self.index} exited while starting")
            line = raw.decode("utf-8", "replace").rstrip("\n")
            lines.append(line)
            if line.startswith("hub key:"):
                return lines

    async def forward(self) -> None:
        """Relay the worker's later output, prefixed with its number."""
        assert self.proc is not None and self.proc.stdout is not None
        while raw := await self.proc.stdout.readline():
            print(f"worker {self.index}: {raw.decode('utf-8', 'replace').rstrip()}", flush=True)

    async def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), STOP_GRACE)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


async def supervise(args: Namespace) -> None:
    """Start ``args.workers`` hub processes, restart any that dies, stop all on exit."""
    port = args.port or _free_port(args.host)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    with tempfile.TemporaryDirectory(prefix="reasoningbank-hub-") as cert_dir:
        os.chmod(cert_dir, 0o700)
        _write_certificate(Path(cert_dir), args.host)
        argv = _worker_argv(args, port, cert_dir)
        workers = [_Worker(i + 1, argv) for i in range(args.workers)]
        forwards: list[asyncio.Task[None]] = []
        try:
            for worker in workers:
                await worker.start()
            banners = [await asyncio.wait_for(w.read_banner(), START_TIMEOUT) for w in workers]
            for line in banners[0]:
                if not line.startswith("hub key:"):
                    print(line)
            pids = ", ".join(str(w.proc.pid) for w in workers if w.proc)
            print(f"workers: {len(workers)} processes (pids {pids}) on port {port} (SO_REUSEPORT)")
            print(banners[0][-1], flush=True)
            forwards = [loop.create_task(w.forward()) for w in workers]
            await _watch(workers, forwards, stop)
        finally:
            for task in forwards:
                task.cancel()
            await asyncio.gather(*(w.stop() for w in workers), return_exceptions=True)


async def _watch(
    workers: list[_Worker], forwards: list[asyncio.Task[None]], stop: asyncio.Event
) -> None:
    """Restart workers as they die, until ``stop`` is set (SIGTERM/SIGINT)."""
    loop = asyncio.get_running_loop()
    stopping = loop.create_task(stop.wait())
    try:
        while not stop.is_set():
            waits = {loop.create_task(w.proc.wait()): w for w in workers if w.proc}
            done, _ = await asyncio.wait([stopping, *waits], return_when=asyncio.FIRST_COMPLETED)
            for task in waits:
                if task not in done:
                    task.cancel()
            if stop.is_set():
                return
            for task in done:
                worker = waits.get(task)
                if worker is None:
                    continue
                status = task.result()
                print(f"hub worker {worker.index} exited ({status}); restarting", flush=True)
                if time.monotonic() - worker.started < RESTART_BACKOFF * 5:
                    await asyncio.sleep(RESTART_BACKOFF)
                await worker.start()
                assert worker.proc is not None
                print(f"hub worker {worker.index} restarted (pid {worker.proc.pid})", flush=True)
                forwards[worker.index - 1].cancel()
                forwards[worker.index - 1] = loop.create_task(worker.forward())
    finally:
        stopping.cancel()
