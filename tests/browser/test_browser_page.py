"""The page people use, in Chromium and Firefox (WebKitGTK runs the same scenario in
test_browser_webkit.py): errors shown where they happen, outcomes and scores explained, the
chart, the pattern list, bundles, the trust list, and what it says about the network and
where patterns go."""

from __future__ import annotations

import uuid

import scenarios
from browsers import launch
from test_browser_pwa import open_app


def test_page_scenario(playwright, app_url, engine):
    foreign = scenarios.foreign_bundle()
    browser = launch(playwright, engine)
    try:
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        open_app(page, app_url, f"page-{uuid.uuid4().hex[:6]}", "&nosw")
        out = page.evaluate(scenarios.page_playwright_js(), foreign)
        scenarios.check_page(out, foreign)
        assert errors == []
    finally:
        browser.close()
