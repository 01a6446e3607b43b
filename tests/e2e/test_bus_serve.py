"""`reasoningbank serve` as a user runs it: the page offers the hub the server announces (no
URL parameters) but sends it nothing until the user turns sharing on; the hub admits the page
once the local SQLite bank trusts its key (added while serving), what the page learns reaches
that bank, and the choice is remembered."""

from __future__ import annotations

import gc
import sqlite3
import threading
import time

from reasoningbank.bus.keys import TrustList


def _sessions(hub_url: str) -> int:
    """Sessions open on the served hub (found in this process, as `serve` runs it)."""
    from reasoningbank.bus.aio import HubServer

    (server,) = [o for o in gc.get_objects() if isinstance(o, HubServer) and o.url == hub_url]
    return len(server.hub.sessions)


def test_served_page_shares_with_the_announced_hub_only_after_opt_in(chromium, tmp_path):
    from browsers import DEPS
    from harness import BrowserBank, PlaywrightDriver

    from reasoningbank.serve import LocalHub, make_server

    db = str(tmp_path / "local.db")
    hub = LocalHub(db, "127.0.0.1", 0, every=0.5)
    server = make_server(
        "127.0.0.1", 0, pyodide_dir=str(DEPS / "node_modules" / "pyodide"), bus=hub.info
    )
    hub.admit_pages_of(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    context = chromium.new_context()
    try:
        page = BrowserBank(
            "chromium",
            PlaywrightDriver(context.new_page(), context),
            f"http://127.0.0.1:{server.server_address[1]}/",
        )
        driver = page.driver
        driver.call("async () => await window.rbBusAttached")
        time.sleep(3)  # time enough to connect, were it allowed to
        assert _sessions(hub.info["hub"]) == 1  # the local bank's own link only
        assert driver.call("async () => window.rbBus") is None
        assert driver.page.text_content("#where") == "Stored only in this browser."
        host = hub.info["hub"].split("/")[2]
        assert driver.page.text_content("#bus-hub") == f"the hub at {host}"
        TrustList.load(db).add(bytes.fromhex(page.key), "served page")  # while serving
        driver.page.click("#bus-share")  # the user opts in
        deadline = time.time() + 60
        status = None
        while time.time() < deadline:
            status = page.driver.call(
                "async () => window.rbBus ? await window.rbBus.status() : null"
            )
            if status and status.get("state") == "online" and status.get("synced"):
                break
            time.sleep(0.2)
        assert status and status["state"] == "online", status
        assert status["hub"] == hub.info["hub"]

        pid = page.store(
            {"task_description": "warm the cache before the launch", "task_category": "ops",
             "strategy": "checklist", "success_score": 0.9}
        )  # fmt: skip

        def local_has_it() -> bool:  # read the bank file as another process would
            with sqlite3.connect(db) as conn:
                return (
                    conn.execute("SELECT 1 FROM patterns WHERE pattern_id = ?", (pid,)).fetchone()
                    is not None
                )

        deadline = time.time() + 60
        while time.time() < deadline and not local_has_it():
            time.sleep(0.5)
        assert local_has_it(), page.driver.call("async () => await window.rbBus.status()")
        assert driver.page.text_content("#where").startswith(
            f"Stored in this browser and shared with the hub at {host}"
        )
        driver.page.reload()  # remembered for this origin: shares again without asking
        driver.goto(driver.page.url)
        deadline, status = time.time() + 60, None
        while time.time() < deadline and not (status and status["state"] == "online"):
            time.sleep(0.2)
            status = driver.call("async () => window.rbBus ? await window.rbBus.status() : null")
        assert status and status["state"] == "online", status
        assert driver.page.is_checked("#bus-share")
    finally:
        context.close()
        server.shutdown()
        server.server_close()
