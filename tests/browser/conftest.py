"""Real-browser tests of the PWA and the JS API (Chromium and Firefox through Playwright,
WebKitGTK through Selenium under Xvfb).

Collected only with ``RB_BROWSER_TESTS=1`` (scripts/run-browser-tests.sh sets it), so a
plain ``pytest`` run needs no browser.
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
sys.path.insert(0, str(HERE.parent / "pyodide"))

from browsers import DEPS, ROOT  # noqa: E402

if os.environ.get("RB_BROWSER_TESTS") != "1":
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def app_server() -> Iterator[Any]:
    """``reasoningbank serve`` on a free localhost port, for the whole session."""
    from reasoningbank.serve import serve_in_thread

    server, url = serve_in_thread(port=0, pyodide_dir=str(DEPS / "node_modules" / "pyodide"))
    server.url = url
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def app_url(app_server: Any) -> str:
    return str(app_server.url)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go (RB_ARTIFACTS, default .browser-deps/artifacts)."""
    path = Path(os.environ.get("RB_ARTIFACTS", DEPS / "artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(params=["chromium", "firefox"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


__all__ = ["ROOT"]
