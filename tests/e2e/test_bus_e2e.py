"""Browsers on the neural bus, end to end: Chromium and Firefox over WebTransport (pinned with
serverCertificateHashes) and a CPython bank over WebTransport, all through one real hub."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from harness import pattern

WAIT = 30.0


def eventually(check: Callable[[], Any], timeout: float = WAIT, what: str = "") -> Any:
    deadline = time.time() + timeout
    last: Any = None
    while time.time() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out: {what} (last: {last!r})")


def converge(bank: Any, expected: set[str], timeout: float = WAIT) -> None:
    """Wait until ``bank`` holds exactly ``expected``; on timeout say what differs."""
    deadline = time.time() + timeout
    got: set[str] = set()
    while time.time() < deadline:
        got = bank.pattern_ids()
        if got == expected:
            return
        time.sleep(0.1)
    status = bank.status() if hasattr(bank, "status") else None
    raise AssertionError(
        f"{getattr(bank, 'engine', 'cpython')}: missing {sorted(expected - got)}, "
        f"extra {sorted(got - expected)}; status {status}"
    )


def link_all(hub: Any, chrome: Any, fox: Any, cp: Any) -> None:
    cp.trust(chrome.key, fox.key)
    chrome.link(hub, [fox.key, cp.key])
    fox.link(hub, [chrome.key, cp.key])
    cp.connect(hub)
    cp.sync()
    for b in (chrome, fox):
        b.wait_status(lambda s: s["synced"], what="first sync")


def test_chromium_firefox_and_cpython_converge_on_the_same_signed_patterns(
    hub, open_bank, cpython_bank
):
    from reasoningbank.bus.provenance import provenance_of, shareable, verify_pattern
    from reasoningbank.bus.signers import NaclVerifier

    chrome, fox, cp = open_bank("chromium"), open_bank("firefox"), cpython_bank
    assert len({chrome.key, fox.key, cp.key}) == 3
    # Learned before linking (each bank alone) ...
    chrome.store(pattern("chrome-before", "chromium learned to refresh oauth tokens"))
    fox.store(pattern("firefox-before", "firefox learned to fix a flaky login modal"))
    cp.loop.run(_open(cp))
    cp.store(pattern("cpython-before", "cpython agent learned to plug a connection pool leak"))
    link_all(hub, chrome, fox, cp)
    for b in (chrome, fox):
        assert b.status()["transport"] == "webtransport"
    # ... and live, after linking.
    chrome.store(
        pattern("chrome-live", "chromium rotated signing keys with a checklist", "security")
    )
    fox.store(pattern("firefox-live", "firefox built a responsive settings page", "frontend"))
    cp.store(pattern("cpython-live", "cpython agent migrated the schema with backfills", "backend"))
    cp.sync()

    expected = {
        "chrome-before",
        "firefox-before",
        "cpython-before",
        "chrome-live",
        "firefox-live",
        "cpython-live",
    }
    eventually(lambda: chrome.pattern_ids() == expected, what="chromium has every pattern")
    eventually(lambda: fox.pattern_ids() == expected, what="firefox has every pattern")
    eventually(lambda: cp.sync() and cp.pattern_ids() == expected, what="cpython has every pattern")

    signed = hub.store_ids()
    assert len(signed) == 6
    assert chrome.signed_ids() == fox.signed_ids() == cp.signed_ids() == signed
    status = chrome.status()
    assert set(status["authors"]) == {chrome.key, fox.key, cp.key}
    assert status["rejected"] == {} and status["pending"] == 0

    # Browser signatures (WebCrypto, non-extractable key) verify with libsodium in CPython.
    for pid, author in (("chrome-live", chrome.key), ("firefox-before", fox.key)):
        stored = cp.loop.run(cp.bank.get_pattern(pid)).to_dict(with_embedding=False)
        assert provenance_of(stored)["author"] == author
        assert (
            verify_pattern(shareable(stored), {bytes.fromhex(author)}, NaclVerifier()).author.hex()
            == author
        )
    # And the CPython author's signature survived the trip into the browsers' IndexedDB.
    prov = fox.py("(await bank.get_pattern('cpython-live')).metadata.extra['provenance']")
    assert prov["author"] == cp.key

    # The pages show the link and the other browser as a peer.
    chrome.wait_status(
        lambda s: fox.key in {p["key"] for p in s["peers"]}, what="firefox as a peer"
    )
    fox.wait_status(
        lambda s: chrome.key in {p["key"] for p in s["peers"]}, what="chromium as a peer"
    )
    text = chrome.bus_text()
    assert "online via webtransport" in text and "firefox" in text, text
    assert "received 4" in text, text  # 2 from Firefox, 2 from CPython
    # The page's own stats follow what arrived over the bus.
    stats = "async () => document.querySelector('#stats dd').textContent"
    eventually(lambda: chrome.driver.call(stats) == "6", what="stats card refreshed")
    assert chrome.driver.errors == [] and fox.driver.errors == []


async def _open(cp: Any) -> None:
    from reasoningbank import ReasoningBank

    if cp.bank is None:
        cp.bank = await ReasoningBank.open(str(cp.path))


def test_forged_and_untrusted_patterns_are_rejected_everywhere(hub, open_bank, cpython_bank):
    chrome, fox, cp = open_bank("chromium"), open_bank("firefox"), cpython_bank
    link_all(hub, chrome, fox, cp)
    honest = {
        "id": "honest-1",
        "task_description": "cache api responses with etags",
        "task_category": "backend",
        "strategy": "spike",
        "outcome": {"success": True, "success_score": 0.8},
    }
    out = chrome.py(f"""
        from reasoningbank.bus.events import PatternRejected
        from reasoningbank.bus.frames import FrameType
        from reasoningbank.bus.provenance import asign_pattern, canonical_json, pattern_id
        from transport_webtransport.identity import ephemeral_identity
        link = _link()
        client = link.client
        base = {honest!r}
        # 1. Claims to be Firefox's pattern, signed with Chromium's own key: a forgery.
        forged = await asign_pattern(dict(base, id="forged-1"), link.signer, 1000.0)
        forged["metadata"]["provenance"]["author"] = {fox.key!r}
        local = [type(e).__name__ + ":" + e.reason for e in await client.share(forged)
                 if isinstance(e, PatternRejected)]
        # 2. Correctly signed, but by a key nobody trusts.
        rogue = await ephemeral_identity()
        untrusted = await asign_pattern(dict(base, id="untrusted-1"), rogue, 1000.0)
        # Push both past the local checks, as a malicious page could.
        for p in (forged, untrusted):
            await client.send(FrameType.GOSSIP, "gossip.push",
                              canonical_json({{"hops": 0, "pattern": p}}))
        {{"forged": pattern_id(forged), "untrusted": pattern_id(untrusted),
          "rogue": rogue.public_key.hex(), "local": local}}
    """)
    assert out["local"] == ["PatternRejected:forged"], "share() must refuse a forgery locally"
    # A marker sent after them: once it arrived everywhere, the two were processed too.
    chrome.store(pattern("marker-1", "chromium learned to debounce search input", "frontend"))
    eventually(lambda: "marker-1" in fox.pattern_ids(), what="marker at firefox")
    eventually(lambda: cp.sync() and "marker-1" in cp.pattern_ids(), what="marker at cpython")

    # The hub verified the author signature: the forgery was dropped and never relayed.
    assert out["forged"] not in hub.store_ids() and hub.seen(out["forged"])
    # A valid signature by an unknown key is relayed (the hub cannot know whom banks trust),
    # and every bank refuses it against its own trust list.
    assert out["untrusted"] in hub.store_ids()
    fox.wait_status(lambda s: s["rejected"].get("untrusted", 0) >= 1, what="firefox rejects")
    rejected = cp.loop.run(cp.link.import_received())[1]
    assert cp.link.client.peer.gossip.seen.seen(out["untrusted"], time.time()) or rejected
    for bank in (chrome, fox, cp):
        ids = bank.pattern_ids()
        assert "forged-1" not in ids and "untrusted-1" not in ids, (bank, ids)
        assert out["forged"] not in bank.signed_ids() and out["untrusted"] not in bank.signed_ids()
    # Anti-entropy still ends (the hub holds an id Firefox refuses; it must not loop on it).
    assert fox.sync_now()["synced"]
    assert "untrusted-1" not in fox.pattern_ids()


def test_offline_page_queues_what_it_learns_and_catches_up(hub, open_bank, cpython_bank):
    chrome, fox, cp = open_bank("chromium"), open_bank("firefox"), cpython_bank
    link_all(hub, chrome, fox, cp)
    context = chrome.driver.context
    context.set_offline(True)
    chrome.wait_status(lambda s: s["state"] == "offline", what="chromium offline")
    chrome.add_via_ui("profile slow queries offline", "backend", "measure first", True)
    chrome.add_via_ui("write a migration rollback plan offline", "backend", "checklist", True)
    chrome.wait_status(lambda s: s["pending"] == 2, what="two queued")
    text = chrome.bus_text()
    assert "offline" in text and "2 queued" in text, text
    # Meanwhile the others keep learning.
    fox.store(pattern("firefox-while-away", "firefox learned to lazy-load images", "frontend"))
    cp.store(pattern("cpython-while-away", "cpython agent learned to batch inserts", "backend"))
    cp.sync()
    time.sleep(1.0)
    offline_ids = chrome.pattern_ids()
    assert "firefox-while-away" not in offline_ids and "cpython-while-away" not in offline_ids
    assert not fox.pattern_ids() & offline_ids, "nothing learned offline can have left"

    context.set_offline(False)
    chrome.wait_status(
        lambda s: (
            s["state"] == "online" and s["synced"] and s["pending"] == 0 and s["connects"] == 2
        ),
        what="back online and synced",
    )
    expected = offline_ids | {"firefox-while-away", "cpython-while-away"}
    assert len(expected) == 4
    eventually(lambda: chrome.pattern_ids() == expected, what="chromium caught up")
    eventually(lambda: fox.pattern_ids() == expected, what="firefox got the queued patterns")
    eventually(lambda: cp.sync() and cp.pattern_ids() == expected, what="cpython got them")


def test_dropped_sessions_reconnect_with_backoff_and_resume(hub, open_bank, cpython_bank):
    chrome, fox, cp = open_bank("chromium"), open_bank("firefox"), cpython_bank
    link_all(hub, chrome, fox, cp)
    chrome.store(pattern("before-drop", "chromium learned to pin dependencies"))
    eventually(lambda: "before-drop" in fox.pattern_ids(), what="before the drop")
    cp.close()

    hub.stop()  # every session is closed, the ports stop listening
    for b in (chrome, fox):
        b.wait_status(lambda s: s["state"] != "online", what="noticed the drop")
    chrome.store(pattern("during-drop", "chromium learned to cache build outputs"))
    chrome.wait_status(lambda s: s["pending"] == 1, what="queued while the hub is down")
    time.sleep(2.0)  # several failed attempts, spaced by the backoff
    hub.start()  # same port, same certificate (same pin), empty store
    for b in (chrome, fox):
        b.wait_status(
            lambda s: s["state"] == "online" and s["synced"] and s["connects"] == 2,
            what="reconnected",
        )
    assert chrome.status()["attempts"] >= 4, chrome.status()
    eventually(lambda: "during-drop" in fox.pattern_ids(), what="resumed")
    # Anti-entropy on reconnection refilled the restarted hub from the banks' gossip state.
    eventually(
        lambda: (
            hub.store_ids() == chrome.signed_ids() == fox.signed_ids() and len(hub.store_ids()) == 2
        ),
        what="hub refilled",
    )


def test_browser_identity_is_non_extractable_and_survives_a_reload(open_bank):
    chrome = open_bank("chromium")
    check = """
        from transport_webtransport.identity import load_identity
        from transport_webtransport.transport import glue
        rec = await glue().identity("reasoningbank-identity")
        try:
            await js.crypto.subtle.exportKey("pkcs8", rec.privateKey)
            exported = True
        except Exception:
            exported = False
        signer = await load_identity()
        sig = await signer.sign(b"hello")
        [signer.public_key.hex(), bool(rec.privateKey.extractable), exported, sig.hex()]
    """
    key, extractable, exported, sig = chrome.py(check)
    assert key == chrome.key and extractable is False and exported is False
    chrome.page.reload()
    chrome.page.wait_for_function("window.rbReady || window.rbError", timeout=120_000)
    again = chrome.py(check)
    assert again[0] == key, "the identity must come back from IndexedDB, not be re-made"
    assert again[3] == sig  # Ed25519 is deterministic: same key, same signature
    from reasoningbank.bus.signers import NaclVerifier

    assert NaclVerifier().verify_sync(bytes.fromhex(key), bytes.fromhex(sig), b"hello")


def test_installed_pwa_reloaded_offline_keeps_its_link_queues_and_syncs(
    hub, app_url, chromium, cpython_bank
):
    """The whole PWA path: service worker installed, hub linked once (remembered), the page
    reloaded with no network at all, learning queued, then synced when the network is back."""
    from harness import BrowserBank, PlaywrightDriver

    context = chromium.new_context()
    try:
        page = context.new_page()
        app = BrowserBank("chromium", PlaywrightDriver(page, context), app_url, sw=True)
        cp = cpython_bank
        cp.trust(app.key)
        app.link(hub, [cp.key])
        app.wait_status(lambda s: s["synced"], what="linked")
        page.wait_for_function(
            "navigator.serviceWorker && navigator.serviceWorker.controller !== null",
            timeout=120_000,
        )
        cp.connect(hub)
        cp.sync()

        context.set_offline(True)
        page.reload()  # served by the service worker; the hub link comes from localStorage
        page.wait_for_function("window.rbReady || window.rbError", timeout=120_000)
        assert page.evaluate("window.rbError || null") is None
        assert page.evaluate("navigator.onLine") is False
        app.wait_status(lambda s: s["state"] == "offline", what="offline after reload")
        app.add_via_ui("tune the service worker cache offline", "frontend", "measure first", True)
        app.wait_status(lambda s: s["pending"] == 1, what="queued")
        assert "1 queued" in app.bus_text()
        cp.store(pattern("cpython-meanwhile", "cpython agent learned to retry with jitter"))
        cp.sync()

        context.set_offline(False)
        app.wait_status(
            lambda s: s["state"] == "online" and s["synced"] and s["pending"] == 0,
            what="synced after coming back",
        )
        mine = app.pattern_ids() - {"cpython-meanwhile"}
        assert len(mine) == 1
        eventually(lambda: "cpython-meanwhile" in app.pattern_ids(), what="caught up")
        eventually(lambda: cp.sync() and mine <= cp.pattern_ids(), what="queued pattern shared")
    finally:
        context.close()


def test_a_push_lost_in_flight_still_reaches_everyone_through_periodic_anti_entropy(hub, open_bank):
    """A pattern the hub only gets through anti-entropy is stored there but not relayed
    live (catch-up pushes carry the hop limit): the periodic digest exchange delivers it."""
    chrome, fox = open_bank("chromium"), open_bank("firefox")
    chrome.link(hub, [fox.key], syncEvery="1")
    fox.link(hub, [chrome.key], syncEvery="1")
    for b in (chrome, fox):
        b.wait_status(lambda s: s["synced"], what="synced")
    chrome.py("""
        from reasoningbank.bus.intents import run_async
        from reasoningbank.bus.provenance import asign_pattern, shareable
        link = _link()
        await bank.store_pattern({"id": "lost-1", "task_description": "shard the job queue",
                                  "task_category": "backend", "strategy": "spike",
                                  "outcome": {"success": True, "success_score": 0.7}})
        data = shareable((await bank.get_pattern("lost-1")).to_dict(with_embedding=False))
        signed = await asign_pattern(data, link.signer, 1000.0)
        # Known to this session's gossip state, but its push never leaves: lost in flight.
        out = await run_async(link.client.peer.gossip.publish_flow(signed), verifier=link.verifier)
        len(out.messages)
    """)
    assert "lost-1" not in fox.pattern_ids()
    eventually(lambda: "lost-1" in fox.pattern_ids(), timeout=20, what="delivered by anti-entropy")
