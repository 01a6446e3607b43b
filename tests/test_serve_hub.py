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


def key_of(db: str) -> bytes:
    from reasoningbank.bus.sync import bank_identity

    return bank_identity(db)[0].public_key


async def refusal(url: str, cert_hash: str, db: str) -> int | None:
    """The error code the hub closes a session of ``db``'s key with (None: admitted)."""
    from reasoningbank.bus.aio import connect
    from reasoningbank.bus.events import PeerClosed
    from reasoningbank.bus.signers import NaclSigner, NaclVerifier
    from reasoningbank.bus.sync import bank_identity

    signer: NaclSigner = bank_identity(db)[0]
    client = await connect(
        url, signer=signer, verifier=NaclVerifier(), trusted=None, cert_hash=cert_hash
    )
    try:
        await client.sync(timeout=5)
    except Exception:
        closed = [e for e in client.events if isinstance(e, PeerClosed)]
        return closed[0].error_code if closed else -1
    finally:
        await client.close()
    return None


def test_serve_announces_its_hub_and_links_the_local_bank(tmp_path):
    from reasoningbank.serve import LocalHub, make_server

    local_db, other_db = str(tmp_path / "local.db"), str(tmp_path / "other.db")

    async def seed():
        async with await ReasoningBank.open(local_db) as bank:
            await bank.store_pattern(pattern("rotate tls certificates before expiry", "devops"))

    run(seed())
    TrustList.load(local_db).add(key_of(other_db), "other bank")  # or its hub refuses it
    hub = LocalHub(local_db, "127.0.0.1", 0)
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


def test_serve_hub_admits_only_keys_the_bank_trusts(tmp_path):
    """Private by default: a key the local bank does not trust cannot read its patterns
    from the hub `serve` runs; `trust add` while serving lets it in, `trust remove` out."""
    from reasoningbank.bus.errors import ErrorCode
    from reasoningbank.serve import LocalHub

    local_db, stranger_db = str(tmp_path / "local.db"), str(tmp_path / "stranger.db")
    hub = LocalHub(local_db, "127.0.0.1", 0, every=0.2)
    url, pin = hub.info["hub"], hub.info["certHash"]
    assert run(refusal(url, pin, stranger_db)) == ErrorCode.UNTRUSTED_KEY
    assert run(refusal(hub.info["wsUrl"], pin, stranger_db)) == ErrorCode.UNTRUSTED_KEY

    TrustList.load(local_db).add(key_of(stranger_db), "a friend")
    time.sleep(1.0)  # the trust list is reloaded every 0.2 s here
    assert run(refusal(url, pin, stranger_db)) is None

    trust = TrustList.load(local_db)
    trust.remove(key_of(stranger_db))
    time.sleep(1.0)
    assert run(refusal(url, pin, stranger_db)) == ErrorCode.UNTRUSTED_KEY


def test_serve_hub_admits_browser_pages_only_from_the_app_origin(tmp_path):
    import socket

    from reasoningbank.serve import LocalHub, make_server

    hub = LocalHub(str(tmp_path / "local.db"), "127.0.0.1", 0)
    server = make_server("127.0.0.1", 0, bus=hub.info, semantic=False)
    hub.admit_pages_of(server)
    host, port = hub.info["wsUrl"][len("ws://") :].split("/")[0].split(":")

    def upgrade(origin: str) -> bytes:
        with socket.create_connection((host, int(port)), 5) as sock:
            sock.sendall(
                (
                    "GET /bus HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Key: AAECAwQFBgcICQoLDA0ODw==\r\n"
                    f"Sec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n\r\n"
                ).encode()
            )
            return sock.makefile("rb").readline().strip()

    try:
        app_port = server.server_address[1]
        time.sleep(0.2)
        assert upgrade(f"http://localhost:{app_port}") == b"HTTP/1.1 101 Switching Protocols"
        assert upgrade(f"http://127.0.0.1:{app_port}") == b"HTTP/1.1 101 Switching Protocols"
        assert upgrade("https://evil.example") == b"HTTP/1.1 403 Forbidden"
        assert upgrade(f"http://localhost:{app_port + 1}") == b"HTTP/1.1 403 Forbidden"
    finally:
        server.server_close()
