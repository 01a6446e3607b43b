"""Runs inside Pyodide (Node): the WebCrypto backend and the async flows of the sans-IO core.
pyodide_run.mjs executes this file, then awaits ``main()`` and prints what it returns."""

import json
import random
import sys

sys.path.insert(0, "/home/pyodide")

from reasoningbank.bus.connection import Connection  # noqa: E402
from reasoningbank.bus.frames import FrameType  # noqa: E402
from reasoningbank.bus.provenance import asign_pattern, averify_pattern  # noqa: E402
from reasoningbank.bus.signers import (  # noqa: E402
    WebCryptoSigner,
    WebCryptoVerifier,
    default_signer,
    default_verifier,
)
from reasoningbank.runtime import detect  # noqa: E402

RFC_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")


async def main() -> str:
    signer = await WebCryptoSigner.create(bytes(range(32)))
    verifier = WebCryptoVerifier()
    rfc = await WebCryptoSigner.create(RFC_SEED)
    sig = await signer.sign(b"bus")
    rng = random.Random(1)
    a = Connection(signer=signer, verifier=verifier, is_client=True, nonce_source=rng.randbytes)
    b = Connection(
        signer=await WebCryptoSigner.create(bytes(32)),
        verifier=verifier,
        is_client=False,
        nonce_source=rng.randbytes,
    )
    await a.ahello(1.7e9)
    await b.ahello(1.7e9)
    await a.asend(1.7e9, type=FrameType.REQUEST, op="sync.ping", payload=b"{}")
    b.receive_data(a.data_to_send())
    events = []
    while (ev := await b.anext_event(1.7e9)) is not None:
        events.append(type(ev).__name__)
    pattern = {
        "id": "x",
        "task_description": "t",
        "task_category": "c",
        "strategy": "s",
        "outcome": {"success": True},
    }
    signed = await asign_pattern(pattern, signer, 1.7e9)
    checked = await averify_pattern(signed, {signer.public_key}, verifier)
    return json.dumps(
        {
            "runtime": detect(),
            "public_key": signer.public_key.hex(),
            "signature": sig.hex(),
            "rfc_public_key": rfc.public_key.hex(),
            "rfc_signature": (await rfc.sign(b"")).hex(),
            "good": await verifier.verify(signer.public_key, sig, b"bus"),
            "bad": await verifier.verify(signer.public_key, bytes(64), b"bus"),
            "junk_key": await verifier.verify(b"\xff" * 32, sig, b"bus"),
            "events": events,
            "pattern": signed,
            "pattern_author_ok": checked.author == signer.public_key,
            "defaults": [
                type(await default_signer(bytes(32))).__name__,
                type(default_verifier()).__name__,
            ],
        }
    )
