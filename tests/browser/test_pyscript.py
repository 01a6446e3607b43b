"""The PyScript example (examples/pyscript/): PyScript core from npm, Pyodide and our wheel,
all served locally, the wheel declared in the page's config; in Chromium with every request
off this machine refused, it opens an IndexedDB bank and answers, and again after a reload."""

from __future__ import annotations

import functools
import http.server
import json
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from browsers import DEPS, ROOT, launch, offline_context


class _Static(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".wasm": "application/wasm",
        ".json": "application/json",
    }

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    out = tmp_path_factory.mktemp("pyscript")
    subprocess.run(
        [str(ROOT / "examples" / "pyscript" / "build.sh"), str(out), str(DEPS / "node_modules"),
         str(DEPS / "pyodide-dist")],
        check=True, capture_output=True,
    )  # fmt: skip
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Static, directory=str(out))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_pyscript_page_uses_the_wheel_offline(playwright: Any, site: str) -> None:
    browser = launch(playwright, "chromium")
    try:
        ctx, refused = offline_context(browser)
        page = ctx.new_page()
        runs = []
        for _ in range(2):
            page.goto(site)
            page.wait_for_function("window.rbPyScript", timeout=180_000)
            runs.append(json.loads(page.evaluate("window.rbPyScript")))
        text = page.text_content("#out")
    finally:
        browser.close()
    assert refused == []
    first, second = runs
    assert first["best"] == "test-driven" and first["backend"] == "idb"
    assert first["runtime"] == "pyodide-browser"
    assert first["before"] == 0 and second["before"] == 1  # persisted across the reload
    assert "best strategy for 'refresh oauth tokens': test-driven" in (text or "")
