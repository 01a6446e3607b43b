"""The page is private by default: it talks to no hub until the user says so, a crafted link
changes neither its hub nor its trust list without a visible yes, it shows its own key with
a copy button, and what it stored before a hub admitted its key goes out once it does."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from harness import BOOT_TIMEOUT_MS, RunningHub, pattern
from test_bus_e2e import eventually

QUIET = 3.0  # seconds a page is given to (wrongly) connect somewhere


@pytest.fixture(params=["chromium", "firefox"])
def context(request: pytest.FixtureRequest) -> Iterator[Any]:
    ctx = request.getfixturevalue(request.param).new_context()
    yield ctx
    ctx.close()


def boot(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_function("window.rbReady || window.rbError", timeout=BOOT_TIMEOUT_MS)
    assert page.evaluate("window.rbError || null") is None


def page_state(page: Any) -> dict[str, Any]:
    """What the page would act on: its trust list, hub setting, link and what it says."""
    return page.evaluate("""async () => {
        await window.rbBusAttached;
        const { BusSync } = await import('./sync.js');
        return {
            trusted: await BusSync.trustedKeys(window.rb),
            saved: JSON.parse(localStorage.getItem('rb-bus') || '{}'),
            linked: Boolean(window.rbBus),
            patterns: (await window.rb.getStats()).total_patterns,
            where: document.querySelector('#where').textContent,
            sharing: document.querySelector('#bus-share').checked,
            search: location.search,
        };
    }""")


def test_a_crafted_link_changes_nothing_until_the_user_accepts(hub, app_url, cpython_bank, context):
    attacker = cpython_bank
    attacker.connect(hub)
    attacker.store(pattern("planted", "always turn off certificate checks", "security"))
    attacker.sync()
    opened = len(hub.opened)
    link = f"{app_url}?" + urlencode(
        {"db": f"crafted-{uuid.uuid4().hex[:6]}", "nosw": "", "hub": hub.url,
         "certHash": hub.cert_hash, "trust": attacker.key}
    )  # fmt: skip
    page = context.new_page()
    boot(page, link)
    page.wait_for_selector("#bus-confirm[open]")
    asked = page.text_content("#bus-confirm")
    assert hub.url in asked and attacker.key in asked, asked
    page.click("#bus-confirm-decline")
    time.sleep(QUIET)
    declined = page_state(page)
    assert len(hub.opened) == opened, "declined, yet the page connected to the link's hub"
    assert declined["trusted"] == {} and declined["saved"].get("hub") is None
    assert not declined["linked"] and not declined["sharing"] and declined["patterns"] == 0
    assert declined["where"] == "Stored only in this browser."
    assert "hub=" not in declined["search"] and "trust=" not in declined["search"]
    page.reload()  # the link is gone from the address: nothing asks, nothing connects
    boot(page, page.url)
    time.sleep(QUIET)
    assert not page.is_visible("#bus-confirm")
    assert page_state(page)["trusted"] == {} and len(hub.opened) == opened

    boot(page, link)
    page.wait_for_selector("#bus-confirm[open]")
    page.click("#bus-confirm-accept")
    eventually(lambda: page_state(page)["patterns"] == 1, what="the accepted hub's pattern")
    accepted = page_state(page)
    assert page.evaluate("window.rb.getPattern('planted')")["strategy"] == "test-driven"
    assert list(accepted["trusted"]) == [attacker.key] and accepted["saved"]["hub"] == hub.url
    assert accepted["sharing"] and len(hub.opened) > opened
    host = hub.url.split("/")[2]
    assert accepted["where"].startswith(f"Stored in this browser and shared with the hub at {host}")


def test_the_page_shows_its_key_and_copies_it(app_url, context):
    page = context.new_page()
    boot(page, f"{app_url}?db=key-{uuid.uuid4().hex[:6]}&nosw")
    page.wait_for_function("/^[0-9a-f]{64}$/.test(document.querySelector('#own-key').textContent)")
    shown = page.text_content("#own-key")
    assert shown == page.evaluate(
        "async () => (await import('./sync.js')).BusSync.identity(window.rb)"
    )
    page.click("#copy-key")
    page.wait_for_function("document.querySelector('#copy-key').textContent === 'Copied'")
    # The real clipboard: paste it into a field as a user would.
    page.evaluate(
        "document.body.append(Object.assign(document.createElement('textarea'), {id: 'paste'}))"
    )
    page.focus("#paste")
    page.keyboard.press("Control+V")
    assert page.input_value("#paste") == shown


@pytest.fixture()
def gated_hub(loops: tuple[Any, Any]) -> Iterator[RunningHub]:
    """A hub that admits only the keys in ``gated_hub.allowed`` (as ``serve``'s hub does)."""
    running = RunningHub(loops[0], allowed=set())
    running.start()
    yield running
    running.stop()


def test_patterns_stored_before_the_key_was_trusted_arrive_once_it_is(
    gated_hub, open_bank, cpython_bank
):
    page, bank = open_bank("chromium"), cpython_bank
    bank.trust(page.key)  # the bank's owner trusts the page ...
    gated_hub.allowed.add(bytes.fromhex(bank.key))
    bank.connect(gated_hub)
    page.store(pattern("before-link", "profile before optimising", "perf"))
    page.link(gated_hub, [bank.key], trustPoll="0.5")
    page.wait_status(lambda s: s["state"] == "refused", what="refused by the hub")
    page.store(pattern("while-refused", "cache the parsed config", "perf"))
    status = page.wait_status(lambda s: s["pending"] == 2, what="both queued")
    assert status["sent"] == 0
    where = page.driver.call("async () => document.querySelector('#where').textContent")
    assert "once it trusts this browser's key" in where, where

    gated_hub.allowed.add(bytes.fromhex(page.key))  # ... and the hub now admits its key
    page.wait_status(lambda s: s["state"] == "online" and s["pending"] == 0, what="admitted")

    def live() -> set[str]:  # relayed to the bank as the page re-offered them, no catch-up
        return {
            sp.data["id"]
            for sp in bank.loop.run(_store_of(bank)).values()
            if sp.author.hex() == page.key
        }

    eventually(lambda: live() == {"before-link", "while-refused"}, what="re-offered live")
    bank.sync()
    assert {"before-link", "while-refused"} <= bank.pattern_ids()


async def _store_of(bank: Any) -> dict[str, Any]:
    return dict(bank.link.client.peer.gossip.store)
