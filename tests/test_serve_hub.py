"""`reasoningbank serve` runs a hub and links the local bank to it (the main job)."""

import json
import threading
import time
import urllib.request

import pytest

from reasoningbank import ReasoningBank
from reasoningbank.bus.keys import TrustList
from tests.conftest import pattern, run

pytest.importorskip("aioquic")


def test_serve_announces_its_hub_and_links_the_local_bank(tmp_path):
    from reasoningbank.serve import _LocalHub, make_server

    local_db, other_db = str(tmp_path / "local.db"), str(tmp_path / "other.db")

    async def seed():
        async with await ReasoningBank.open(local_db) as bank:
            await bank.store_pattern(pattern("rotate tls certificates before expiry", "devops"))

    run(seed())
    hub = _LocalHub(local_db, "127.0.0.1", 0)
    server = make_server("127.0.0.1", 0, bus=hub.info)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/build-info.json"
        info = json.loads(urllib.request.urlopen(url, timeout=10).read())
        assert info["bus"] == hub.info and len(info["bus"]["certHash"]) == 64
        TrustList.load(other_db).add(bytes.fromhex(hub.bank_key), "local bank")

        async def catch_up():
            async with await ReasoningBank.open(other_db) as other:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:  # the local bank shares every 5 s
                    await other.sync(hub.info["hub"], cert_hash=hub.info["certHash"])
                    found = await other.find_similar("tls certificate rotation", "devops")
                    if found:
                        return found
                    time.sleep(1)
                return []

        found = run(catch_up())
        assert [m.pattern.task_description for m in found] == ["rotate tls certificates before expiry"]
        assert found[0].pattern.metadata.extra["provenance"]["author"] == hub.bank_key
    finally:
        server.shutdown()
        server.server_close()


def test_serve_keeps_its_hub_certificate_across_restarts(tmp_path):
    """Pages pin the hub's certificate hash: a restarted `serve` must present the same one."""
    import os
    import stat

    from reasoningbank.serve import _hub_certificate

    db = str(tmp_path / "bank.db")
    first = _hub_certificate(db)
    assert stat.S_IMODE(os.stat(db + ".hub.pem").st_mode) == 0o600
    assert _hub_certificate(db).sha256 == first.sha256
    (tmp_path / "bank.db.hub.pem").write_text("garbage")
    assert _hub_certificate(db).sha256 != first.sha256  # unreadable: replaced, not a crash
