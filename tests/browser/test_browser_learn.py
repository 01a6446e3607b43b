"""The "learn from this attempt" panel and the JS API's closed loop in real Chromium and
Firefox: paste a trajectory, see the distilled items; learn with a JS model; the items reach
retrieve, memoryPrompt and the search, and survive a reload (IndexedDB)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from browsers import launch

BOOT_TIMEOUT_MS = 90_000
FAILED_RUN = (
    "$ python manage.py migrate\n"
    "Traceback (most recent call last):\n"
    '  File "manage.py", line 22, in <module>\n'
    "django.db.utils.OperationalError: no such table: auth_user\n"
    "exit code 1\n"
)
STEPS = [{"thought": "run the suite", "action": "npm test", "observation": "42 passing, 0 failing"}]


def open_app(page: Any, url: str, db: str) -> None:
    page.goto(f"{url}?db={db}&nosw")
    page.wait_for_function("window.rbReady || window.rbError", timeout=BOOT_TIMEOUT_MS)
    assert page.evaluate("window.rbError || null") is None
    page.wait_for_selector("#learn-card:not([hidden]) #learn-form button:not([disabled])")


def learn_via_panel(page: Any, task: str, trajectory: str, outcome: str = "") -> list[str]:
    page.fill("#l-task", task)
    page.fill("#l-trajectory", trajectory)
    page.select_option("#l-outcome", outcome)
    page.evaluate("document.querySelector('#l-items').replaceChildren()")
    page.click("#learn-form button[type=submit]")
    page.wait_for_selector("#l-items li")
    return page.eval_on_selector_all("#l-items li", "els => els.map(e => e.className)")


def test_learn_panel_shows_distilled_items(playwright, app_url, engine, artifacts):
    browser = launch(playwright, engine)
    try:
        page = browser.new_page()
        db = f"learn-{uuid.uuid4().hex[:6]}"
        open_app(page, app_url, db)
        kinds = learn_via_panel(page, "migrate the user table", FAILED_RUN)
        assert kinds and all("failure" in k for k in kinds), kinds
        verdict = page.text_content("#l-verdict")
        assert verdict.startswith("Failed") and "judged by heuristic" in verdict, verdict
        titles = page.eval_on_selector_all("#l-items .title", "els => els.map(e => e.textContent)")
        assert all(t.strip() for t in titles)
        # The page's own stats follow (the first figure is the pattern count).
        page.wait_for_function(
            "n => document.querySelector('#stats dd').textContent === String(n)", arg=len(kinds)
        )
        # JSON steps and a stated outcome: no judge, success items.
        kinds = learn_via_panel(page, "add a login page", json.dumps(STEPS), "success")
        assert all("success" in k for k in kinds), kinds
        assert "judged by outcome" in page.text_content("#l-verdict")
        # A bad input is shown in the panel, not only in the console.
        page.fill("#l-task", "x")
        page.fill("#l-trajectory", "[]")
        page.click("#learn-form button[type=submit]")
        page.wait_for_function("document.querySelector('#l-error').textContent.length > 0")
        page.screenshot(path=str(artifacts / f"learn-panel-{engine}.png"), full_page=True)
        # What was learned is in the bank: after a reload, retrieve and the prompt see it.
        page.reload()
        open_app(page, app_url, db)
        items = page.evaluate("window.rb.retrieve('migrate the users table', { k: 3 })")
        assert items and items[0]["provenance"]["task"] == "migrate the user table"
        block = page.evaluate("window.rb.memoryPrompt('migrate the users table', { k: 3 })")
        assert items[0]["title"] in block
    finally:
        browser.close()


LEARN_WITH_MODEL_JS = """
async () => {
  const prompts = [];
  const model = async (p) => {
    prompts.push(p);
    await new Promise((r) => setTimeout(r, 10));
    if (p.includes('"success": true or false'))
      return '{"success": true, "score": 0.9, "reason": "all tests pass"}';
    return '```json\\n{"items": [{"title": "Run the whole suite before pushing",' +
      ' "description": "The full run catches what a single test misses.",' +
      ' "content": "Run every test before pushing because partial runs hide regressions."}]}\\n```';
  };
  const report = await window.rb.learn("add a login page", STEPS, { category: "web", llm: model });
  const items = await window.rb.retrieve("add a signup page", { category: "web", k: 2 });
  return { report, items, asked: prompts.length };
}
"""


def test_js_api_learn_with_a_page_model(playwright, app_url, engine):
    browser = launch(playwright, engine)
    try:
        page = browser.new_page()
        open_app(page, app_url, f"learn-js-{uuid.uuid4().hex[:6]}")
        got = page.evaluate(LEARN_WITH_MODEL_JS.replace("STEPS", json.dumps(STEPS)))
        assert got["asked"] == 2
        assert got["report"]["verdict"]["judged_by"] == "llm"
        assert [i["title"] for i in got["report"]["items"]] == [
            "Run the whole suite before pushing"
        ]
        assert got["items"][0]["id"] == got["report"]["ids"][0]
    finally:
        browser.close()


def test_learn_panel_in_webkit(app_url):
    """The same panel in WebKitGTK (Selenium; needs a display: run under ``xvfb-run -a``)."""
    import time

    from browsers import webkit_driver
    from selenium.webdriver.common.by import By

    with webkit_driver(120.0) as driver:
        driver.get(f"{app_url}?nosw&db=wk-learn-{uuid.uuid4().hex[:6]}")
        ready = "return window.rbError || (document.querySelector('#learn-form') ? 'ready' : null)"
        deadline = time.monotonic() + 120
        while (state := driver.execute_script(ready)) is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert state == "ready", state
        driver.find_element(By.ID, "l-task").send_keys("migrate the user table")
        driver.find_element(By.ID, "l-trajectory").send_keys(FAILED_RUN)
        driver.find_element(By.CSS_SELECTOR, "#learn-form button[type=submit]").click()
        deadline = time.monotonic() + 60
        while not driver.find_elements(By.CSS_SELECTOR, "#l-items li"):
            assert time.monotonic() < deadline, driver.find_element(By.ID, "l-error").text
            time.sleep(0.2)
        kinds = [
            li.get_attribute("class") for li in driver.find_elements(By.CSS_SELECTOR, "#l-items li")
        ]
        assert kinds and all("failure" in k for k in kinds), kinds
        assert "judged by heuristic" in driver.find_element(By.ID, "l-verdict").text
