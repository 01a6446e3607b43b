"""WebKitGTK has no WebTransport: feature detection picks the hub's WebSocket endpoint, and
the bus behaves the same (same frames, signatures, gossip) next to Chromium on WebTransport."""

from __future__ import annotations

from harness import BrowserBank, SeleniumDriver, pattern
from test_bus_e2e import converge, eventually


def test_webkit_syncs_over_websocket_with_chromium_and_cpython(
    hub, webkit, app_url, open_bank, cpython_bank
):
    wk = BrowserBank("webkit", SeleniumDriver(webkit), app_url)
    chrome, cp = open_bank("chromium"), cpython_bank
    assert wk.driver.call("async () => typeof globalThis.WebTransport") == "undefined"
    wk.store(pattern("webkit-before", "webkit learned to throttle scroll handlers", "frontend"))
    cp.trust(wk.key, chrome.key)
    wk.link(hub, [chrome.key, cp.key])  # no wsUrl given: derived from the https:// URL
    chrome.link(hub, [wk.key, cp.key])
    cp.connect(hub)
    cp.sync()
    status = wk.wait_status(lambda s: s["synced"], what="webkit synced")
    assert status["transport"] == "websocket"
    assert chrome.wait_status(lambda s: s["synced"])["transport"] == "webtransport"

    wk.store(pattern("webkit-live", "webkit learned to debounce resize events", "frontend"))
    chrome.store(pattern("chrome-live", "chromium learned to virtualise long lists", "frontend"))
    cp.store(pattern("cpython-live", "cpython agent learned to index foreign keys", "backend"))
    cp.sync()
    expected = {"webkit-before", "webkit-live", "chrome-live", "cpython-live"}
    converge(wk, expected)
    converge(chrome, expected)
    eventually(lambda: cp.sync() and cp.pattern_ids() == expected, what="cpython has every pattern")
    assert wk.signed_ids() == chrome.signed_ids() == cp.signed_ids() == hub.store_ids()
    assert wk.status()["rejected"] == {}
    wk.wait_status(
        lambda s: chrome.key in {p["key"] for p in s["peers"]}, what="chromium as a peer"
    )
    assert "online via websocket" in wk.bus_text()

    # The WebSocket path reconnects and resumes too: drop every session, learn meanwhile.
    cp.close()
    hub.stop()
    wk.wait_status(lambda s: s["state"] != "online", what="webkit noticed the drop")
    wk.store(pattern("webkit-during-drop", "webkit learned to preload fonts", "frontend"))
    wk.wait_status(lambda s: s["pending"] == 1, what="queued while the hub is down")
    hub.start()
    for b in (wk, chrome):
        b.wait_status(
            lambda s: s["state"] == "online" and s["synced"] and s["connects"] == 2,
            what="reconnected",
        )
    assert wk.status()["transport"] == "websocket"
    converge(chrome, expected | {"webkit-during-drop"})


def test_webkit_asks_before_adopting_a_link_and_shows_its_key(hub, webkit, app_url):
    import time
    from urllib.parse import urlencode

    from harness import SeleniumDriver
    from selenium.webdriver.common.by import By

    stranger = "ab" * 32
    driver = SeleniumDriver(webkit)
    # this browser session is shared with the other tests, whose pages (on 127.0.0.1) trust
    # keys and share: the same app under another name is a fresh origin
    app_url = app_url.replace("//127.0.0.1:", "//localhost:")
    opened = len(hub.opened)
    db = f"wk-confirm-{time.time_ns()}"
    query = {"db": db, "nosw": "", "hub": hub.url, "certHash": hub.cert_hash}
    driver.goto(f"{app_url}?{urlencode({**query, 'trust': stranger})}")
    eventually(
        lambda: webkit.execute_script("return document.getElementById('bus-confirm').open"),
        what="the confirmation dialog",
    )
    key = driver.call("async () => (await import('./sync.js')).BusSync.identity(window.rb)")
    assert webkit.find_element(By.ID, "own-key").text == key
    webkit.find_element(By.ID, "bus-confirm-decline").click()
    time.sleep(3)
    state = driver.call("""async () => {
        await window.rbBusAttached;
        const { BusSync } = await import('./sync.js');
        return [await BusSync.trustedKeys(window.rb), Boolean(window.rbBus),
                document.querySelector('#where').textContent];
    }""")
    assert state == [{}, False, "Stored only in this browser."]
    assert len(hub.opened) == opened
