"""Real hub, real browsers, real CPython bank: the pieces the end-to-end tests wire together.

* ``LoopThread``: an asyncio loop on a thread (the hub and the CPython bank run there while
  Playwright drives the browsers from the test thread).
* ``RunningHub``: ``HubServer`` on 127.0.0.1 in this process (UDP: HTTP/3 WebTransport, TCP:
  WebSocket), one certificate for its whole life, so it can be stopped (dropping every
  session) and started again on the same port with the same pin; tests can look inside it.
* ``HubProcess``: ``reasoningbank hub`` in its own process (benchmarks); ``AgentProcess``: a
  CPython agent streaming tokens (``agent.py``).
* ``BrowserBank``: a page of the PWA in one engine (Playwright or Selenium); runs Python in
  its Pyodide.
* ``CPythonBank``: a SQLite bank linked with ``reasoningbank.bus.sync.connect_bank``.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
BOOT_TIMEOUT_MS = 120_000


class LoopThread:
    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def _admitting_hub(allowed: set[bytes] | None, opened: list[Any]) -> Any:
    """A ``Hub`` that admits only ``allowed`` keys (``None``: any; the set stays live, so a
    test can add a key while it runs), as the hub ``serve`` starts does. It also lists every
    session it opens in ``opened``, so a test can tell that nobody connected."""
    from reasoningbank.bus.hub import Hub
    from reasoningbank.bus.signers import NaclSigner, NaclVerifier

    class RecordingHub(Hub):
        def open_session(self, sid: Any, now: float) -> Any:
            opened.append(sid)
            return super().open_session(sid, now)

    hub = RecordingHub(
        signer=NaclSigner(os.urandom(32)), verifier=NaclVerifier(), nonce_source=os.urandom
    )
    hub.allowed = allowed  # the caller's set itself, not a copy
    return hub


class RunningHub:
    """A hub that can be dropped and restarted on the same ports with the same certificate.
    ``allowed``: the keys it admits (``None``: any key), live."""

    def __init__(self, loop: LoopThread, allowed: set[bytes] | None = None) -> None:
        from reasoningbank.bus.aio.quic import generate_certificate

        self.loop = loop
        self.cert = generate_certificate()
        self.server: Any = None
        self.port = 0
        self.allowed = allowed
        self.opened: list[Any] = []  # every session any incarnation opened

    async def _start(self) -> None:
        from reasoningbank.bus.aio import HubServer

        hub = _admitting_hub(self.allowed, self.opened)
        server = HubServer(hub)  # pages come from the test app's origin: admit any
        await server.start("127.0.0.1", self.port, certificate=self.cert, origins=None)
        self.port = int(server.url.rsplit(":", 1)[1].split("/", 1)[0])
        self.server = server

    def start(self) -> None:
        self.loop.run(self._start())

    def stop(self) -> None:
        """Close every session (QUIC CONNECTION_CLOSE, WebSocket TCP close) and stop listening."""

        async def stop() -> None:
            server = self.server
            await server.close()
            for proto in list(_ws_protocols(server)):
                if proto.transport is not None:
                    proto.transport.close()

        self.loop.run(stop())

    @property
    def url(self) -> str:
        return str(self.server.url)

    @property
    def ws_url(self) -> str:
        return str(self.server.ws_url)

    @property
    def cert_hash(self) -> str:
        return str(self.server.cert_sha256)

    @property
    def hub(self) -> Any:
        return self.server.hub

    def store_ids(self) -> set[str]:
        async def ids() -> set[str]:
            return set(self.hub.gossip.store)

        return self.loop.run(ids())

    def seen(self, msg_id: str) -> bool:
        async def seen() -> bool:
            return self.hub.gossip.seen.seen(msg_id, time.time())

        return self.loop.run(seen())


def _ws_protocols(server: Any) -> list[Any]:
    """The hub's open WebSocket connections (so a test can drop them like a crash would)."""
    import gc

    from reasoningbank.bus.aio.websocket import _WsServerProtocol

    return [o for o in gc.get_objects() if isinstance(o, _WsServerProtocol) and o.server is server]


# -- browsers ----------------------------------------------------------------------------------
PY_PRELUDE = """
import json, time, js
from reasoningbank.jsapi import _bank
bank = _bank(int(js.rb._handle))
def _link():
    from transport_webtransport.page import get
    return get(int(js.rbBus.handle))
"""


class PlaywrightDriver:
    """Evaluates ``async (arg) => ...`` functions in a Playwright page."""

    def __init__(self, page: Any, context: Any = None) -> None:
        self.page = page
        self.context = context
        self.errors: list[str] = []
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def goto(self, url: str) -> None:
        self.page.goto(url)
        self.page.wait_for_function("window.rbReady || window.rbError", timeout=BOOT_TIMEOUT_MS)

    def call(self, fn: str, arg: Any = None, timeout: float = 60.0) -> Any:
        self.page.set_default_timeout(timeout * 1000)
        return self.page.evaluate(fn, arg)


class SeleniumDriver:
    """The same for a Selenium session (WebKitGTK)."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.errors: list[str] = []

    def goto(self, url: str) -> None:
        self.driver.get(url)
        deadline = time.monotonic() + BOOT_TIMEOUT_MS / 1000
        while time.monotonic() < deadline:
            if self.driver.execute_script("return !!(window.rbReady || window.rbError)"):
                return
            time.sleep(0.2)
        raise AssertionError("the app did not start in WebKit")

    def call(self, fn: str, arg: Any = None, timeout: float = 60.0) -> Any:
        self.driver.set_script_timeout(timeout)
        ok, value = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];\n"
            f"({fn})(arguments[0]).then((v) => done([true, v === undefined ? null : v]),"
            " (e) => done([false, String(e && e.stack || e)]));",
            arg,
        )
        if not ok:
            raise AssertionError(f"WebKit: {value}")
        return value


class BrowserBank:
    """One PWA page (its own IndexedDB bank) in one engine."""

    def __init__(self, engine: str, driver: Any, app_url: str, *, sw: bool = False) -> None:
        self.engine = engine
        self.driver = driver
        self.db = f"e2e-{engine}-{uuid.uuid4().hex[:6]}"
        driver.goto(f"{app_url}?db={self.db}" + ("" if sw else "&nosw"))
        error = driver.call("async () => window.rbError || null")
        assert error is None, f"{engine}: {error}"
        self.key: str = driver.call(
            "async () => (await import('./sync.js')).BusSync.identity(window.rb)"
        )

    @property
    def page(self) -> Any:
        return self.driver.page

    def py(self, code: str, timeout: float = 60.0) -> Any:
        """Run Python in the page's Pyodide; the last line must be an expression whose value
        is JSON-serialisable."""
        lines = code.strip("\n").split("\n")
        indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
        body = "\n".join(line[indent:] for line in lines)
        tree = compile(body, "<e2e>", "exec", ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        split = tree.body[-1].lineno - 1  # the last statement is the (maybe multi-line) result
        all_lines = body.split("\n")
        head, last = "\n".join(all_lines[:split]), "\n".join(all_lines[split:])
        source = f"{PY_PRELUDE}\n{head}\njson.dumps(\n{last}\n)"
        out = self.driver.call(
            "async (code) => await window.rb.pyodide.runPythonAsync(code)", source, timeout
        )
        return json.loads(out)

    def link(self, hub: RunningHub, trust: list[str], **extra: str) -> dict[str, Any]:
        """Link the bank the way the PWA does (``attach`` with URL parameters), accepting the
        page's confirmation dialog as the user would."""
        params = {
            "hub": hub.url,
            "certHash": hub.cert_hash,
            "trust": ",".join(trust),
            "label": self.engine,
            "backoffBase": "0.2",
            **extra,
        }
        return self.driver.call(
            """async (q) => {
                const m = await import('./sync.js');
                const linked = m.attach(window.rb, new URLSearchParams(q));
                let settled = false;
                linked.finally(() => (settled = true));
                const dialog = document.getElementById('bus-confirm');
                while (!dialog.open && !settled) await new Promise((r) => setTimeout(r, 20));
                if (dialog.open) document.getElementById('bus-confirm-accept').click();
                await linked;
                return window.rbBus.last;
            }""",
            params,
        )

    def status(self) -> dict[str, Any]:
        return self.driver.call("async () => await window.rbBus.status()")

    def wait_status(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30.0, what: str = ""
    ) -> dict[str, Any]:
        deadline = time.time() + timeout
        status: dict[str, Any] = {}
        while time.time() < deadline:
            status = self.status()
            if predicate(status):
                return status
            time.sleep(0.1)
        raise AssertionError(f"{self.engine}: timed out waiting for {what}: {status}")

    def store(self, pattern: dict[str, Any]) -> str:
        """Store through the JS API (the PWA's path: the bus shares right after)."""
        return str(self.driver.call("async (p) => await window.rb.storePattern(p)", pattern))

    def sync_now(self) -> dict[str, Any]:
        return self.driver.call("async () => await window.rbBus.syncNow(30)")

    def add_via_ui(self, task: str, category: str, strategy: str, success: bool) -> None:
        """Remember an attempt with the PWA's own form, as a user would."""
        page = self.page
        page.fill("#a-text", task)
        page.fill("#a-cat", category)
        page.fill("#a-strategy", strategy)
        page.set_checked("#a-success", success)
        page.evaluate("document.querySelector('#status').textContent = ''")
        page.click("#add-form button[type=submit]")
        page.wait_for_function("document.querySelector('#status').textContent.startsWith('Saved')")

    def bus_text(self) -> str:
        return str(self.driver.call("async () => document.querySelector('#bus').textContent"))

    def pattern_ids(self) -> set[str]:
        return set(self.py("sorted(p.id for p in await bank.all_patterns())"))

    def signed_ids(self) -> set[str]:
        """Gossip ids (content + signature addresses) of the signed patterns this link holds."""
        return set(self.py("sorted(_link().gossip.store) if _link().gossip else []"))


# -- CPython -----------------------------------------------------------------------------------
class CPythonBank:
    """A SQLite bank in this process, linked to the hub like ``reasoningbank sync`` does."""

    def __init__(self, loop: LoopThread, path: Path) -> None:
        from reasoningbank.bus.keys import load_or_create_seed
        from reasoningbank.bus.signers import NaclSigner

        self.loop = loop
        self.path = path
        self.key = NaclSigner(load_or_create_seed(str(path))).public_key.hex()
        self.bank: Any = None
        self.link: Any = None

    def trust(self, *keys: str) -> None:
        from reasoningbank.bus.keys import TrustList, parse_key

        trust = TrustList.load(str(self.path))
        for key in keys:
            trust.add(parse_key(key), label="e2e")

    def connect(self, hub: RunningHub) -> None:
        from reasoningbank import ReasoningBank
        from reasoningbank.bus.sync import connect_bank

        async def go() -> None:
            if self.bank is None:
                self.bank = await ReasoningBank.open(str(self.path))
            self.link = await connect_bank(
                self.bank, hub.url, db_path=str(self.path), cert_hash=hub.cert_hash
            )

        self.loop.run(go())

    def sync(self) -> dict[str, Any]:
        return self.loop.run(self.link.sync(30.0))

    def store(self, pattern: dict[str, Any]) -> str:
        return self.loop.run(self.bank.store_pattern(pattern))

    def pattern_ids(self) -> set[str]:
        async def ids() -> set[str]:
            return {p.id for p in await self.bank.all_patterns()}

        return self.loop.run(ids())

    def signed_ids(self) -> set[str]:
        async def ids() -> set[str]:
            return set(self.link.client.peer.gossip.store)

        return self.loop.run(ids())

    def close(self) -> None:
        async def close() -> None:
            if self.link is not None:
                await self.link.close()
            if self.bank is not None:
                await self.bank.close()

        self.loop.run(close())


def pattern(
    pid: str, text: str, category: str = "e2e", strategy: str = "test-driven", score: float = 0.8
) -> dict[str, Any]:
    return {
        "id": pid,
        "task_description": text,
        "task_category": category,
        "strategy": strategy,
        "outcome": {"success": score >= 0.5, "success_score": score},
    }


class HubProcess:
    """``reasoningbank hub --port 0`` in its own process, as deployed (used by the benchmarks
    so the hub does not share a GIL with the test driver)."""

    def __init__(self) -> None:
        import re
        import subprocess
        import sys

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reasoningbank", "hub", "--host", "127.0.0.1", "--port", "0"]
            + ["--allow-origin", "*", "--open"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.url = self.ws_url = self.cert_hash = ""
        deadline = time.time() + 30
        while time.time() < deadline and not (self.url and self.cert_hash and self.ws_url):
            line = self.proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            if m := re.search(r"(https://\S+)", line):
                self.url = m.group(1)
            if m := re.search(r"(ws://\S+)", line):
                self.ws_url = m.group(1)
            if m := re.search(r"certificate sha256: ([0-9a-f]{64})", line):
                self.cert_hash = m.group(1)
        if not (self.url and self.cert_hash):
            self.stop()
            raise AssertionError("reasoningbank hub did not print its URL and certificate hash")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except Exception:
            self.proc.kill()


class AgentProcess:
    """``agent.py``: a CPython agent in its own process streaming tokens through the hub."""

    def __init__(self, hub: Any, tokens: int, batch: int) -> None:
        import subprocess
        import sys

        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).with_name("agent.py")),
                hub.url,
                hub.cert_hash,
                str(tokens),
                str(batch),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        ready = json.loads(self.proc.stdout.readline())  # type: ignore[union-attr]
        assert ready.get("ready"), ready
        self.key = ready["key"]

    def go(self) -> dict[str, Any]:
        self.proc.stdin.write("\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        return json.loads(self.proc.stdout.readline())  # type: ignore[union-attr,no-any-return]

    def stop(self) -> None:
        try:
            self.proc.stdin.write("\n")  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
            self.proc.wait(10)
        except Exception:
            self.proc.kill()
