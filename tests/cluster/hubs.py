"""Cluster hubs as real ``python -m reasoningbank hub --nats`` subprocesses, and clients."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from reasoningbank.bus.aio import connect
from reasoningbank.bus.events import PatternAccepted, PeerClosed
from reasoningbank.bus.provenance import sign_pattern

from ..bus.helpers import VERIFIER, make_pattern, signer_for

ROOT = Path(__file__).resolve().parents[2]


class HubProc:
    """One hub command; ``lines`` collects everything it prints."""

    def __init__(self, nats_urls: str, *extra: str, ready_timeout: float = 120.0) -> None:
        argv = [sys.executable, "-m", "reasoningbank", "hub", "--nats", nats_urls]
        argv += ["--port", "0", "--open", *extra]
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self.lines: list[str] = []
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(ready_timeout):
            self.kill()
            raise AssertionError(f"hub did not start: {self.lines}")
        text = "".join(self.lines)
        if "hub key:" not in text:
            raise AssertionError(f"hub exited: {self.lines}")
        self.ws_url = re.search(r"websocket: (\S+)", text).group(1)  # type: ignore[union-attr]
        url = re.search(r"hub listening on (\S+)", text)
        self.url = url.group(1) if url else None
        cert = re.search(r"certificate sha256: (\S+)", text)
        self.cert_hash = cert.group(1) if cert else None

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if line.startswith("hub key:"):
                self._ready.set()
        self._ready.set()

    def wait_for_line(self, pattern: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if re.search(pattern, line):
                    return line
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r} in {self.lines}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def signed(author: str, n: int, **extra: Any) -> dict[str, Any]:
    return sign_pattern(make_pattern(author, n, **extra), signer_for(author), time.time())


async def client(url: str, name: str, cert_hash: str | None = None) -> Any:
    return await connect(
        url, signer=signer_for(name), verifier=VERIFIER, trusted=None, cert_hash=cert_hash
    )


def received(c: Any) -> set[str]:
    """Ids of patterns the client accepted from the hub (pushed live or caught up)."""
    return {e.pattern["id"] for e in c.events if isinstance(e, PatternAccepted)}


def closed_with(c: Any) -> PeerClosed | None:
    return next((e for e in c.events if isinstance(e, PeerClosed)), None)


async def wait_until(predicate: Any, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.05)


async def fresh_view(url: str, name: str, timeout: float = 60.0) -> set[str]:
    """What a bank that connects now and syncs gets from the hub at ``url``."""
    c = await client(url, name)
    try:
        await c.sync(timeout)
        return received(c)
    finally:
        await c.close()


async def converged_view(url: str, name: str, count: int, timeout: float = 60.0) -> set[str]:
    """A fresh bank's view through ``url`` once it holds ``count`` patterns: another hub
    relays a pattern as soon as the stream delivers it to that hub, a moment later."""
    deadline = time.monotonic() + timeout
    while True:
        view = await fresh_view(url, name)
        if len(view) >= count or time.monotonic() > deadline:
            return view
        await asyncio.sleep(0.25)
