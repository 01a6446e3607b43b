"""End-to-end: Chromium and Firefox (WebTransport), WebKitGTK (WebSocket) and a CPython bank
on one real hub. Collected only with ``RB_E2E_TESTS=1`` (``scripts/run-e2e-tests.sh`` sets
it), so a plain ``pytest`` run needs no browser (it runs only the pure unit checks). A
browser that cannot start fails its test.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "browser"))

if os.environ.get("RB_E2E_TESTS") != "1":
    collect_ignore_glob = ["test_bus_*.py"]  # test_transport_units.py needs no browser


@pytest.fixture(scope="session")
def app_url() -> Iterator[str]:
    from browsers import DEPS

    from reasoningbank.serve import serve_in_thread

    server, url = serve_in_thread(port=0, pyodide_dir=str(DEPS / "node_modules" / "pyodide"))
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def loops() -> Iterator[tuple[Any, Any]]:
    from harness import LoopThread

    hub_loop, agent_loop = LoopThread("hub"), LoopThread("cpython-bank")
    yield hub_loop, agent_loop
    hub_loop.stop()
    agent_loop.stop()


@pytest.fixture()
def hub(loops: tuple[Any, Any]) -> Iterator[Any]:
    from harness import RunningHub

    running = RunningHub(loops[0])
    running.start()
    yield running
    try:
        running.stop()
    except Exception:
        pass


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def chromium(playwright: Any) -> Iterator[Any]:
    from browsers import launch

    # WebTransport needs QUIC: never --disable-quic here.
    browser = launch(playwright, "chromium")
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def firefox(playwright: Any) -> Iterator[Any]:
    from browsers import launch

    browser = launch(playwright, "firefox")
    yield browser
    browser.close()


@pytest.fixture()
def open_bank(app_url: str, chromium: Any, firefox: Any) -> Iterator[Any]:
    """``open_bank("chromium")``: a fresh context (fresh IndexedDB, so a fresh identity) with
    the PWA loaded; closed after the test."""
    from harness import BrowserBank, PlaywrightDriver

    contexts: list[Any] = []

    def open_(engine: str) -> Any:
        browser = {"chromium": chromium, "firefox": firefox}[engine]
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        return BrowserBank(engine, PlaywrightDriver(page, context), app_url)

    yield open_
    for context in contexts:
        try:
            context.close()
        except Exception:
            pass


@pytest.fixture()
def cpython_bank(loops: tuple[Any, Any], tmp_path: Path) -> Iterator[Any]:
    from harness import CPythonBank

    bank = CPythonBank(loops[1], tmp_path / "cpython.db")
    yield bank
    try:
        bank.close()
    except Exception:
        pass


@pytest.fixture(scope="module")
def webkit() -> Iterator[Any]:
    """WebKitGTK's MiniBrowser through Selenium (needs a display: the run script uses xvfb)."""
    from browsers import webkit_driver

    with webkit_driver(30.0) as driver:  # Selenium's default script timeout
        yield driver
