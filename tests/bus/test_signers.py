"""Ed25519 backends: RFC 8032 vectors, and cross-verification with WebCrypto (Node)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

from reasoningbank.bus.frames import FrameType, signing_bytes
from reasoningbank.bus.intents import sign_frame
from reasoningbank.bus.provenance import pattern_content, sign_pattern, signed_bytes
from reasoningbank.bus.signers import NaclSigner, NaclVerifier, Signer, Verifier

from .helpers import T0, make_pattern, nonces

# RFC 8032 §7.1, TEST 1 and TEST 2.
RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
]
NODE_SCRIPT = Path(__file__).parent / "js" / "webcrypto_ed25519.mjs"


def test_rfc8032_vectors():
    verifier = NaclVerifier()
    for seed, public, message, signature in RFC8032:
        signer = NaclSigner(bytes.fromhex(seed))
        assert signer.public_key.hex() == public
        assert signer.sign_sync(bytes.fromhex(message)).hex() == signature
        assert verifier.verify_sync(
            bytes.fromhex(public), bytes.fromhex(signature), bytes.fromhex(message)
        )


def test_backends_satisfy_the_async_interface():
    signer, verifier = NaclSigner(bytes(32)), NaclVerifier()
    assert isinstance(signer, Signer) and isinstance(verifier, Verifier)
    sig = asyncio.run(signer.sign(b"m"))
    assert asyncio.run(verifier.verify(signer.public_key, sig, b"m"))


def test_garbage_never_verifies_and_never_raises():
    verifier = NaclVerifier()
    signer = NaclSigner(bytes(32))
    sig = signer.sign_sync(b"m")
    assert not verifier.verify_sync(signer.public_key, sig, b"n")
    assert not verifier.verify_sync(b"short", sig, b"m")
    assert not verifier.verify_sync(signer.public_key, sig[:63], b"m")
    assert not verifier.verify_sync(b"\xff" * 32, sig, b"m")  # not a curve point
    assert not verifier.verify_sync(bytes(32), bytes(64), b"m")  # small-order key


def _node(payload: dict) -> dict:
    node = shutil.which("node")
    assert node, "node (>= 20) is needed for the WebCrypto interop test"
    out = subprocess.run(
        [node, str(NODE_SCRIPT)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout)


def test_webcrypto_and_pynacl_signatures_cross_verify():
    """Golden vectors + real bus bytes: WebCrypto (Node) signs → PyNaCl verifies, and back."""
    seed = bytes(range(32))
    signer, verifier = NaclSigner(seed), NaclVerifier()
    frame = sign_frame(
        signer, nonces(0)(16), T0, type=FrameType.GOSSIP, payload=b"{}", op="gossip.push"
    )
    pattern = sign_pattern(make_pattern("x", 1), signer, T0)
    messages = [
        b"",
        bytes.fromhex(RFC8032[1][2]),
        signing_bytes(frame),
        signed_bytes(pattern_content(pattern), signer.public_key.hex(), T0),
    ]
    ours = [signer.sign_sync(m) for m in messages]
    forged = bytearray(ours[2])
    forged[0] ^= 1
    checks = [
        {"public_key": signer.public_key.hex(), "signature": s.hex(), "message": m.hex()}
        for s, m in zip(ours, messages, strict=True)
    ]
    checks.append(
        {
            "public_key": signer.public_key.hex(),
            "signature": bytes(forged).hex(),
            "message": messages[2].hex(),
        }
    )
    got = _node({"seed": seed.hex(), "messages": [m.hex() for m in messages], "checks": checks})
    assert got["public_key"] == signer.public_key.hex()
    # Ed25519 is deterministic: the same seed signs the same bytes identically in both.
    assert got["signatures"] == [s.hex() for s in ours]
    assert got["signatures"][2] == frame.signature.hex()
    assert got["verified"] == [True, True, True, True, False]
    for sig, m in zip(got["signatures"], messages, strict=True):
        assert verifier.verify_sync(signer.public_key, bytes.fromhex(sig), m)
    rfc = _node({"seed": RFC8032[0][0], "messages": [""], "checks": []})
    assert rfc["public_key"] == RFC8032[0][1] and rfc["signatures"] == [RFC8032[0][3]]


def test_webcrypto_backend_under_pyodide_matches_pynacl():
    """The real WebCryptoSigner/Verifier (through pyodide.ffi) inside Pyodide in Node: RFC 8032
    vector, signatures byte-identical to PyNaCl's, a signed session and a signed pattern."""
    import os

    import reasoningbank

    root = Path(reasoningbank.__file__).parent
    deps = Path(os.environ.get("RB_BROWSER_DEPS", root.parent / ".browser-deps"))
    module = deps / "node_modules" / "pyodide" / "pyodide.mjs"
    assert module.exists(), f"{module} missing: run scripts/install-test-deps.sh"
    js = Path(__file__).parent / "js"
    out = subprocess.run(
        [
            shutil.which("node"),
            str(js / "pyodide_run.mjs"),
            module.as_uri(),
            str(root),
            str(js / "webcrypto_in_pyodide.py"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    got = json.loads(out.stdout)
    nacl = NaclSigner(bytes(range(32)))
    assert got["runtime"] == "pyodide-node"
    assert got["public_key"] == nacl.public_key.hex()
    assert got["signature"] == nacl.sign_sync(b"bus").hex()
    assert (got["rfc_public_key"], got["rfc_signature"]) == (RFC8032[0][1], RFC8032[0][3])
    assert (got["good"], got["bad"], got["junk_key"]) == (True, False, False)
    assert got["events"] == ["HelloReceived", "IntentReceived"]
    assert got["pattern_author_ok"] and got["defaults"] == ["WebCryptoSigner", "WebCryptoVerifier"]
    # a pattern signed by WebCrypto in Pyodide verifies with PyNaCl under CPython
    from reasoningbank.bus.provenance import verify_pattern

    assert (
        verify_pattern(got["pattern"], {nacl.public_key}, NaclVerifier()).author == nacl.public_key
    )
