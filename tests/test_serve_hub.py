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
        assert [m.pattern.task_description for m in found] == [
            "rotate tls certificates before expiry"
        ]
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


def test_the_main_job_starts_on_a_first_run(tmp_path):
    """`reasoningbank serve` with nothing set up yet: the default bank's folder does not
    exist, so the hub's certificate (kept next to the bank) must create it."""
    import os
    import subprocess
    import sys

    data = tmp_path / "fresh" / "data"  # XDG_DATA_HOME: the default bank lives under it
    env = {**os.environ, "XDG_DATA_HOME": str(data)}
    env.pop("REASONINGBANK_DB", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "reasoningbank", "serve", "--port", "0", "--hub-port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("ReasoningBank app: http://localhost:"), (
            first + proc.stderr.read() if proc.poll() is not None else first
        )
        url = first.split()[2].split("?")[0]
        info = json.loads(urllib.request.urlopen(url + "build-info.json", timeout=10).read())
        assert info["bus"]["hub"].startswith("https://") and len(info["bus"]["certHash"]) == 64
        assert (data / "reasoningbank" / "bank.db").exists()
        assert (data / "reasoningbank" / "bank.db.hub.pem").exists()
    finally:
        proc.terminate()
        proc.wait(10)
