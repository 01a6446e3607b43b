"""Two tabs of one origin writing to one IndexedDB bank at the same time lose nothing.

Each tab records outcomes on the same pattern and stores near-duplicates of it (which merge
into it) as fast as it can. Every write was acknowledged, so every observation must be in
the pattern afterwards, as both tabs and a freshly opened third tab see it: Chromium and
Firefox through Playwright, WebKitGTK through Selenium (one window, two tabs).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from browsers import launch, webkit_driver
from test_browser_pwa import open_app

OUTCOMES_PER_TAB = 100
MERGES_PER_TAB = OUTCOMES_PER_TAB // 2
SEED = {
    "id": "seed",
    "task_description": "retry flaky network calls with exponential backoff",
    "task_category": "backend",
    "strategy": "retry with jitter",
    "success_score": 1.0,
}
DUPLICATE = {k: v for k, v in SEED.items() if k != "id"}
JOB_TIMEOUT = 300.0

OPEN_JS = """
const { ReasoningBank } = await import("/reasoningbank.js");
window.tabBank = await ReasoningBank.load({ db: args[0] });
return typeof navigator.locks?.request === "function";  // what keeps the tabs in turn
"""

SEED_JS = "return await window.tabBank.storePattern(args[0]);"

# Started without waiting, so that both tabs write at once; the outcome lands in tabDone.
START_JS = """
const [outcomes, duplicate] = [args[0], args[1]];
window.tabDone = null;
(async () => {
  const ids = [];
  for (let i = 0; i < outcomes; i++) {
    await window.tabBank.recordOutcome("seed", { success: true, score: 1.0 });
    if (i % 2 === 0) ids.push(await window.tabBank.storePattern(duplicate));
  }
  return ids;
})().then((v) => { window.tabDone = [true, v]; },
          (e) => { window.tabDone = [false, String((e && e.stack) || e)]; });
return true;
"""

READ_JS = """
const p = await window.tabBank.getPattern("seed");
const stats = await window.tabBank.getStats();
const m = p.metadata;
return { usage: m.usage_count, merged: m.merged_count,
         observations: m.success_count + m.failure_count, total: stats.total_patterns };
"""

EXPECTED = {
    # The seed's own outcome is its first observation; it does not count as a use.
    "usage": 2 * (OUTCOMES_PER_TAB + MERGES_PER_TAB),
    "merged": 2 * MERGES_PER_TAB,
    "observations": 1 + 2 * (OUTCOMES_PER_TAB + MERGES_PER_TAB),
    "total": 1,
}


def _playwright_js(body: str) -> str:
    """``body`` (which reads ``args``) as a function ``page.evaluate`` can call."""
    return f"async (args) => {{ {body} }}"


def _check(results: list[dict[str, Any]]) -> None:
    for seen in results:
        rounded = {**seen, "observations": round(seen["observations"], 6)}
        assert rounded == EXPECTED, f"lost updates: {results} (expected {EXPECTED})"


def test_two_tabs_lose_no_outcome_or_merge(playwright, app_url, engine):
    browser = launch(playwright, engine)
    try:
        ctx = browser.new_context()
        db = f"tabs-{uuid.uuid4().hex[:8]}"
        tabs = [ctx.new_page(), ctx.new_page()]
        for page in tabs:
            open_app(page, app_url, f"boot-{uuid.uuid4().hex[:6]}", "&nosw")
            assert page.evaluate(_playwright_js(OPEN_JS), [db]), f"{engine} has no Web Locks"
        assert tabs[0].evaluate(_playwright_js(SEED_JS), [SEED]) == "seed"
        for page in tabs:
            page.evaluate(_playwright_js(START_JS), [OUTCOMES_PER_TAB, DUPLICATE])
        for page in tabs:
            page.wait_for_function("window.tabDone", timeout=JOB_TIMEOUT * 1000)
            ok, ids = page.evaluate("window.tabDone")
            assert ok, ids
            assert ids == ["seed"] * MERGES_PER_TAB
        late = ctx.new_page()  # opens the bank from IndexedDB alone
        open_app(late, app_url, f"boot-{uuid.uuid4().hex[:6]}", "&nosw")
        late.evaluate(_playwright_js(OPEN_JS), [db])
        _check([page.evaluate(_playwright_js(READ_JS), []) for page in [*tabs, late]])
    finally:
        browser.close()


# -- WebKitGTK -----------------------------------------------------------------------------


@pytest.fixture
def webkit() -> Iterator[Any]:
    with webkit_driver(JOB_TIMEOUT) as driver:
        yield driver


def _wk_run(driver: Any, body: str, *args: Any) -> Any:
    ok, value = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];\n"
        f"(async (args) => {{ {body} }})(Array.from(arguments).slice(0, -1))"
        ".then((v) => done([true, v]), (e) => done([false, String(e && e.stack || e)]));",
        *args,
    )
    assert ok, value
    return value


def _wk_open(driver: Any, url: str, db: str) -> None:
    from test_browser_webkit import open_app as open_webkit_app

    open_webkit_app(driver, url, f"wk-boot-{uuid.uuid4().hex[:6]}")
    assert _wk_run(driver, OPEN_JS, db), "WebKitGTK has no Web Locks"


def test_webkit_two_tabs_lose_no_outcome_or_merge(webkit, app_url):
    db = f"wk-tabs-{uuid.uuid4().hex[:8]}"
    first = webkit.current_window_handle
    _wk_open(webkit, app_url, db)
    webkit.switch_to.new_window("tab")
    second = webkit.current_window_handle
    _wk_open(webkit, app_url, db)
    webkit.switch_to.window(first)
    assert _wk_run(webkit, SEED_JS, SEED) == "seed"
    for handle in (first, second):
        webkit.switch_to.window(handle)
        _wk_run(webkit, START_JS, OUTCOMES_PER_TAB, DUPLICATE)
    deadline = time.monotonic() + JOB_TIMEOUT
    for handle in (first, second):
        webkit.switch_to.window(handle)
        while (done := webkit.execute_script("return window.tabDone")) is None:
            assert time.monotonic() < deadline, "the tabs did not finish writing"
            time.sleep(0.2)
        assert done[0], done[1]
        assert done[1] == ["seed"] * MERGES_PER_TAB
    results = []
    for handle in (first, second):
        webkit.switch_to.window(handle)
        results.append(_wk_run(webkit, READ_JS))
    webkit.switch_to.new_window("tab")
    _wk_open(webkit, app_url, db)
    results.append(_wk_run(webkit, READ_JS))
    _check(results)
