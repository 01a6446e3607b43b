"""``ReasoningBank.load({worker: true})``: Python and the bank live in a dedicated worker
(web/reasoningbank-worker.js) and the page drives them through the same JS API, in Chromium
and Firefox; the page's own thread never loads Pyodide."""

from __future__ import annotations

import uuid
from typing import Any

from browsers import launch

SCENARIO = """
async ([db]) => {
  const { ReasoningBank, ReasoningBankError } = await import('/reasoningbank.js');
  const rb = await ReasoningBank.load({ db, worker: true, dedupThreshold: null });
  const ids = await rb.storePatterns([
    { task_description: 'add oauth token refresh', task_category: 'backend',
      strategy: 'test-driven', success_score: 0.9 },
    { task_description: 'refresh expired oauth tokens', task_category: 'backend',
      strategy: 'spike', success_score: 0.4 },
  ]);
  const found = await rb.findSimilar('refresh oauth tokens', 'backend', 5);
  const rec = await rb.recommendStrategy('refresh oauth tokens', 'backend');
  const stats = await rb.getStats();
  let error = null;
  try { await rb.recordOutcome('no-such-id', { success: true }); }
  catch (e) { error = [e instanceof ReasoningBankError, e.name]; }
  await rb.close();
  // Reopened through the same worker: the bank persisted in IndexedDB.
  const again = await ReasoningBank.load({ db, worker: true });
  const count = (await again.getStats()).total_patterns;
  let closed = null;
  try { await rb.getStats(); } catch (e) { closed = e.name; }
  await again.close();
  return { ids: ids.length, found: found.map((m) => m.pattern.id), rec: rec.strategy,
           runtime: stats.runtime, backend: stats.storage.backend, error, count, closed,
           pagePyodide: rb.pyodide, pageLoaded: typeof globalThis.loadPyodide,
           pageScripts: performance.getEntriesByType('resource').map((r) => r.name)
             .filter((n) => n.includes('pyodide.asm')).length };
}
"""


def test_bank_in_a_dedicated_worker(playwright: Any, app_url: str, engine: str) -> None:
    browser = launch(playwright, engine)
    try:
        page = browser.new_page()
        # A bare page of the app's origin (the app page itself would boot Pyodide here).
        page.route(
            "**/blank.html", lambda r: r.fulfill(body="<!doctype html>", content_type="text/html")
        )
        page.goto(app_url + "blank.html")
        got = page.evaluate(SCENARIO, [f"worker-{uuid.uuid4().hex[:6]}"])
    finally:
        browser.close()
    assert got["ids"] == 2 and len(got["found"]) == 2
    assert got["rec"] in {"test-driven", "spike"}
    assert got["runtime"] == "pyodide-worker" and got["backend"] == "idb"
    assert got["error"] == [True, "NotFound"]
    assert got["count"] == 2 and got["closed"] == "BankClosed"
    assert got["pagePyodide"] is None and got["pageLoaded"] == "undefined"
    assert got["pageScripts"] == 0  # the runtime was fetched by the worker, not the page
