"""The PWA with the semantic embedder, served by the real server: the asset is announced,
fetched once on first use, cached by the service worker, and served from that cache when
the page reloads offline."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from browsers import DEPS, launch
from test_browser_pwa import BOOT_TIMEOUT_MS, open_app, reopen_offline

pytest.importorskip("wordllama", reason="the server offers the asset with the [semantic] extra")


class _CountingPath(type(Path())):  # type: ignore[misc]
    """The asset file, counting how often the server reads it (once per GET; it streams the
    file, so a read is an open)."""

    reads = 0

    def open(self, *args: Any, **kwargs: Any) -> Any:
        type(self).reads += 1
        return super().open(*args, **kwargs)


def test_semantic_pwa_fetches_the_asset_once_and_works_offline(playwright, engine):
    from reasoningbank.serve import serve_in_thread

    server, url = serve_in_thread(port=0, pyodide_dir=str(DEPS / "node_modules" / "pyodide"))
    assert server.semantic is not None, "the [semantic] extra is installed: it must be offered"
    asset_url = url + server.semantic[0].lstrip("/")
    counting = type("Counting", (_CountingPath,), {"reads": 0})
    server.semantic = (server.semantic[0], counting(server.semantic[1]))
    browser = launch(playwright, engine)
    try:
        ctx = browser.new_context()
        page = ctx.new_page()
        db = f"semantic-{uuid.uuid4().hex[:6]}"
        open_app(page, url, db, "&semantic=1")
        page.wait_for_function(
            "navigator.serviceWorker && navigator.serviceWorker.controller !== null",
            timeout=BOOT_TIMEOUT_MS,
        )
        assert "semantic" in page.text_content("#status")
        cached = page.evaluate(
            "caches.open('reasoningbank-v1').then((c) => c.keys()).then((ks) => ks.map((r) => r.url))"
        )
        assert asset_url in cached
        assert counting.reads == 1
        rb: Any = "window.rb"
        page.evaluate(
            f"""{rb}.storePatterns([
              {{ task_description: "renew expiring authentication credentials",
                 task_category: "auth", strategy: "s", success_score: 0.8 }},
              {{ task_description: "bake a chocolate cake", task_category: "kitchen",
                 strategy: "s", success_score: 0.8 }}])"""
        )
        page.reload()  # online again: the asset now comes from the service worker's cache
        open_app(page, url, db)  # the choice is remembered without ?semantic
        assert counting.reads == 1

        reopen_offline(page, ctx, server, url, db)
        hits = page.evaluate(f"{rb}.findSimilar('refresh oauth token', null, 2)")
        assert hits[0]["pattern"]["task_description"] == "renew expiring authentication credentials"
        assert hits[0]["parts"]["lexical"] == 0.0 and hits[0]["parts"]["semantic"] > 0.2
    finally:
        browser.close()
        server.server_close()


def test_semantic_pwa_falls_back_to_lexical_without_the_asset(playwright, engine):
    """A server without the extra: the page asked for semantic search still starts."""
    import threading

    from reasoningbank.serve import make_server

    server = make_server(port=0, pyodide_dir=str(DEPS / "node_modules" / "pyodide"), semantic=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    browser = launch(playwright, engine)
    try:
        page = browser.new_page()
        open_app(page, url, f"nosem-{uuid.uuid4().hex[:6]}", "&nosw&semantic=1")
        status = page.text_content("#status")
        assert status.startswith("Ready") and "semantic" not in status
    finally:
        browser.close()
        server.shutdown()
        server.server_close()
