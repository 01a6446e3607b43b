"""The PWA and the JS API in real Chromium and Firefox: correct results, no PyProxy leaks,
IndexedDB surviving reload and browser restart, and the app working offline."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import scenarios
from browsers import launch, launch_persistent

BOOT_TIMEOUT_MS = 90_000

UI_PATTERNS = [
    ("add oauth token refresh", "backend", "test-driven", True),
    ("refresh expired oauth tokens in the mobile app", "backend", "spec-first", True),
    ("rotate oauth signing keys", "security", "checklist", False),
    ("build responsive login form", "frontend", "prototype then harden", True),
]


def open_app(page: Any, url: str, db: str, extra: str = "") -> None:
    page.goto(f"{url}?db={db}{extra}")
    page.wait_for_function("window.rbReady || window.rbError", timeout=BOOT_TIMEOUT_MS)
    error = page.evaluate("window.rbError || null")
    assert error is None, error


def reopen_offline(page: Any, ctx: Any, server: Any, url: str, db: str) -> None:
    """Offline for real: the server is gone (and the browser is told so); the page reloads
    from the service worker alone, asking the server nothing."""
    server.shutdown()
    server.server_close()
    ctx.set_offline(True)
    served = server.requests
    page.reload()
    open_app(page, url, db)
    assert server.requests == served


def add_via_ui(page: Any, task: str, category: str, strategy: str, success: bool) -> None:
    page.fill("#a-text", task)
    page.fill("#a-cat", category)
    page.fill("#a-strategy", strategy)
    page.set_checked("#a-success", success)
    page.evaluate("document.querySelector('#status').textContent = ''")
    page.click("#add-form button[type=submit]")
    page.wait_for_function("document.querySelector('#status').textContent.startsWith('Saved')")


def search_via_ui(page: Any, text: str, category: str = "") -> list[str]:
    page.fill("#q-text", text)
    page.fill("#q-cat", category)
    page.evaluate("document.querySelector('#results').replaceChildren()")
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("#results li")
    return page.eval_on_selector_all("#results li .title", "els => els.map(e => e.textContent)")


def test_js_api_returns_plain_correct_results(playwright, app_url, engine):
    browser = launch(playwright, engine)
    try:
        page = browser.new_page()
        open_app(page, app_url, f"boot-{uuid.uuid4().hex[:6]}", "&nosw")
        result = page.evaluate(scenarios.playwright_js(), f"api-{uuid.uuid4().hex[:8]}")
        scenarios.check(result)
    finally:
        browser.close()


def test_indexeddb_survives_reload_and_restart(playwright, app_url, engine, tmp_path: Path):
    profile = tmp_path / "profile"
    db = "persist"
    ctx = launch_persistent(playwright, engine, profile)
    try:
        page = ctx.new_page()
        open_app(page, app_url, db, "&nosw")
        for task, cat, strategy, ok in UI_PATTERNS:
            add_via_ui(page, task, cat, strategy, ok)
        page.reload()
        open_app(page, app_url, db, "&nosw")
        assert page.evaluate("window.rb.getStats()")["total_patterns"] == len(UI_PATTERNS)
        assert (
            search_via_ui(page, "refresh oauth tokens", "backend")[0] == "add oauth token refresh"
        )
    finally:
        ctx.close()
    ctx = launch_persistent(playwright, engine, profile)  # a new browser process, same profile
    try:
        page = ctx.new_page()
        open_app(page, app_url, db, "&nosw")
        stats = page.evaluate("window.rb.getStats()")
        assert stats["total_patterns"] == len(UI_PATTERNS), stats
        assert stats["storage"] == {"backend": "idb", "location": f"idb://{db}", "fallback": None}
        titles = search_via_ui(page, "refresh oauth tokens", "backend")
        assert titles[0] == "add oauth token refresh", titles
    finally:
        ctx.close()


def test_pwa_works_offline_after_first_visit(playwright, engine, artifacts):
    """After one online visit the app starts, finds and learns with the server gone."""
    from browsers import DEPS

    from reasoningbank.serve import serve_in_thread

    app_server, app_url = serve_in_thread(
        port=0, pyodide_dir=str(DEPS / "node_modules" / "pyodide")
    )
    browser = launch(playwright, engine)
    try:
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        db = f"offline-{uuid.uuid4().hex[:6]}"
        open_app(page, app_url, db)
        # First visit: the service worker installs, pre-caches everything and takes control.
        page.wait_for_function(
            "navigator.serviceWorker && navigator.serviceWorker.controller !== null",
            timeout=BOOT_TIMEOUT_MS,
        )
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        for task, cat, strategy, ok in UI_PATTERNS:
            add_via_ui(page, task, cat, strategy, ok)

        reopen_offline(page, ctx, app_server, app_url, db)
        assert page.evaluate("window.rb.getStats()")["total_patterns"] == len(UI_PATTERNS)
        titles = search_via_ui(page, "refresh oauth tokens", "backend")
        assert titles[:2] == [
            "add oauth token refresh",
            "refresh expired oauth tokens in the mobile app",
        ]
        rec = page.text_content("#rec-strategy")
        assert rec in {"test-driven", "spec-first"}
        # Learning works offline too: a recorded outcome changes what is shown.
        first = page.get_attribute("#results li:first-child", "data-id")
        used = page.evaluate(f"window.rb.getPattern({first!r})")["metadata"]["usage_count"]
        page.click("#results li:first-child button:has-text('worked')")
        page.wait_for_function(
            """([id, n]) => [...document.querySelectorAll('#results li')]
                 .some((li) => li.dataset.id === id && li.textContent.includes(`used ${n}×`))""",
            arg=[first, used + 1],
        )
        add_via_ui(page, "renew oauth refresh tokens offline", "backend", "test-driven", True)
        assert page.evaluate("window.rb.getStats()")["total_patterns"] == len(UI_PATTERNS) + 1
        search_via_ui(page, "refresh oauth tokens", "backend")
        page.screenshot(path=str(artifacts / f"pwa-offline-{engine}.png"), full_page=True)
    finally:
        browser.close()
        app_server.server_close()


WORKER_JS = """
async ([origin, db]) => {
  const src = `
    const { ReasoningBank } = await import(${JSON.stringify(origin + "reasoningbank.js")});
    try {
      const rb = await ReasoningBank.load({ db: ${JSON.stringify(db)} });
      const id = await rb.storePattern({ task_description: "index worker messages", task_category: "web",
                                          strategy: "offload", success_score: 0.8 });
      const found = await rb.findSimilar("worker messages", "web", 1);
      const stats = await rb.getStats();
      const code = "from reasoningbank import runtime, default_location; [runtime.detect(), default_location()]";
      const where = rb.pyodide.runPython(code).toJs();
      await rb.close();
      postMessage({ ok: true, id, found: found.map((m) => m.pattern.id), stats, where });
    } catch (e) {
      postMessage({ ok: false, error: String(e && e.stack || e) });
    }`;
  const url = URL.createObjectURL(new Blob([src], { type: "text/javascript" }));
  const worker = new Worker(url, { type: "module" });
  const reply = await new Promise((resolve, reject) => {
    worker.onmessage = (e) => resolve(e.data);
    worker.onerror = (e) => reject(new Error(e.message || "worker failed"));
  });
  worker.terminate();
  return reply;
}
"""


def test_js_api_in_a_worker(playwright, app_url, engine):
    """In a (module) Worker: runtime detected as pyodide-worker, default bank in IndexedDB."""
    browser = launch(playwright, engine)
    try:
        page = browser.new_page()
        page.goto(f"{app_url}icon.svg")  # same origin, no app booting in the page
        reply = page.evaluate(WORKER_JS, [app_url, f"worker-{uuid.uuid4().hex[:6]}"])
        assert reply["ok"], reply
        assert reply["found"] == [reply["id"]]
        assert reply["where"] == ["pyodide-worker", "idb://reasoningbank"]
        assert reply["stats"]["runtime"] == "pyodide-worker"
        assert reply["stats"]["storage"]["backend"] == "idb"
    finally:
        browser.close()
