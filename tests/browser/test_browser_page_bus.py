"""The page on a real hub: the peers it sees, trusting one from that list, and what it says
about patterns it refused (two pages of one engine, each with its own identity)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from browsers import launch
from test_browser_pwa import open_app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from harness import LoopThread, RunningHub  # noqa: E402

WAIT_MS = 60_000


@pytest.fixture()
def hub() -> Iterator[RunningHub]:
    loop = LoopThread("hub")
    running = RunningHub(loop)
    running.start()
    yield running
    running.stop()
    loop.stop()


def linked_page(browser: Any, app_url: str, hub: RunningHub) -> Any:
    """A fresh profile's page, linked to ``hub`` through a link the user accepts."""
    page = browser.new_context().new_page()
    query = urlencode({"db": f"peer-{uuid.uuid4().hex[:6]}", "nosw": "", "hub": hub.url,
                       "certHash": hub.cert_hash})  # fmt: skip
    open_app(page, app_url, "", "")
    page.goto(f"{app_url}?{query}")
    page.wait_for_selector("#bus-confirm[open]", timeout=WAIT_MS)
    page.click("#bus-confirm-accept")
    page.wait_for_function(
        "document.querySelector('#bus').dataset.state === 'online'", timeout=WAIT_MS
    )
    return page


def test_peers_trust_and_rejections_on_the_page(playwright, app_url, hub, engine):
    browser = launch(playwright, engine)
    try:
        a, b = linked_page(browser, app_url, hub), linked_page(browser, app_url, hub)
        key_a, key_b = a.text_content("#own-key"), b.text_content("#own-key")
        a.wait_for_selector(f"#peers li[data-key='{key_b}'] button", timeout=WAIT_MS)
        b.wait_for_selector(f"#peers li[data-key='{key_a}']", timeout=WAIT_MS)
        assert a.text_content("#net") == "Online · bus connected"

        # A pattern from a key A does not trust: refused, and the page says which and why.
        b.evaluate("""() => window.rb.storePattern({id: 'from-b', task_description: 'debounce search input',
            task_category: 'frontend', strategy: 'measure first', success_score: 0.9})""")
        a.wait_for_selector(
            "#bus details.rejected li[data-reason='untrusted']", state="attached", timeout=WAIT_MS
        )
        a.click("#bus details.rejected summary")  # opens the explanation
        assert a.is_visible("#bus details.rejected li")
        assert a.text_content("#bus details.rejected summary") == "1 rejected"
        reason = a.text_content("#bus details.rejected li")
        assert reason.startswith("1 signed by keys this browser does not trust"), reason
        assert a.evaluate("window.rb.getPattern('from-b')") is None

        # Trusted from the peers list: the link starts again and the refused pattern comes.
        a.click(f"#peers li[data-key='{key_b}'] button")
        a.wait_for_selector(f"#trust-list li[data-key='{key_b}']", timeout=WAIT_MS)
        a.wait_for_function(
            "window.rb.getPattern('from-b').then((p) => p !== null)", timeout=WAIT_MS
        )
        a.wait_for_selector(f"#peers li[data-key='{key_b}'] .ok", timeout=WAIT_MS)
        assert a.text_content(f"#peers li[data-key='{key_b}'] .ok") == "trusted"

        # Removed from the trust list: the running link (started afresh by the trust, so its
        # counts start again) stops accepting B's patterns.
        a.click(f"#trust-list li[data-key='{key_b}'] button")
        a.wait_for_selector(f"#trust-list li[data-key='{key_b}']", state="detached")
        assert (
            a.evaluate("async () => (await import('./sync.js')).BusSync.trustedKeys(window.rb)")
            == {}
        )
        b.evaluate("""() => window.rb.storePattern({id: 'from-b-2', task_description: 'lazy-load images',
            task_category: 'frontend', strategy: 'spike', success_score: 0.8})""")
        a.wait_for_function(
            "document.querySelector('#bus details.rejected summary')?.textContent === '1 rejected'",
            timeout=WAIT_MS,
        )
        assert a.evaluate("window.rb.getPattern('from-b-2')") is None
    finally:
        browser.close()
