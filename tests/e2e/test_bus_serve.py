"""`reasoningbank serve` as a user runs it: the page links itself to the hub the server
announces (no URL parameters) once the local SQLite bank trusts the page's key (added while
serving: the hub admits only trusted keys), and what it learns reaches that bank."""

from __future__ import annotations

import sqlite3
import threading
import time

from reasoningbank.bus.keys import TrustList


def test_served_page_links_to_the_announced_hub_and_reaches_the_local_bank(chromium, tmp_path):
    from browsers import DEPS
    from harness import BrowserBank, PlaywrightDriver

    from reasoningbank.serve import _LocalHub, make_server

    db = str(tmp_path / "local.db")
    hub = _LocalHub(db, "127.0.0.1", 0, every=0.5)
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
        TrustList.load(db).add(bytes.fromhex(page.key), "served page")  # while serving
        deadline = time.time() + 60
        status = None
        while time.time() < deadline:  # app.js attaches the bus by itself, retrying
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
                    conn.execute("SELECT 1 FROM patterns WHERE id = ?", (pid,)).fetchone()
                    is not None
                )

        deadline = time.time() + 60
        while time.time() < deadline and not local_has_it():
            time.sleep(0.5)
        assert local_has_it(), page.driver.call("async () => await window.rbBus.status()")
    finally:
        context.close()
        server.shutdown()
        server.server_close()
