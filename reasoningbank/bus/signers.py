"""Ed25519 signer/verifier backends behind one interface.

Why async: WebCrypto (the only Ed25519 available to Pyodide in browsers and Node) answers
through promises, so the common interface is ``await signer.sign(data)`` and
``await verifier.verify(key, sig, data)``. PyNaCl also offers ``sign_sync``/``verify_sync``;
the sans-IO flows in ``intents`` use them when present, which is what makes 10k+ verified
frames per second possible on CPython.

Backends are imported lazily: importing this module needs only the stdlib.

* ``NaclSigner`` / ``NaclVerifier``       PyNaCl (libsodium), CPython
* ``WebCryptoSigner`` / ``WebCryptoVerifier``  ``crypto.subtle`` Ed25519 through ``pyodide.ffi``

Both produce identical signatures for the same seed and message (Ed25519 is deterministic);
``tests/bus/test_signers.py`` checks this against Node's WebCrypto.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Protocol, runtime_checkable

from .errors import LocalBusError

__all__ = [
    "NaclSigner",
    "NaclVerifier",
    "PKCS8_ED25519_PREFIX",
    "Signer",
    "Verifier",
    "WebCryptoSigner",
    "WebCryptoVerifier",
    "default_signer",
    "default_verifier",
]

#: DER prefix turning a 32-byte Ed25519 seed into a PKCS#8 private key (RFC 8410), which is
#: the only private-key format WebCrypto imports for Ed25519 besides JWK.
PKCS8_ED25519_PREFIX = bytes.fromhex("302e020100300506032b657004220420")


@runtime_checkable
class Signer(Protocol):
    """Holds one private key. ``public_key`` is the raw 32-byte Ed25519 key."""

    public_key: bytes

    async def sign(self, data: bytes) -> bytes: ...


@runtime_checkable
class Verifier(Protocol):
    async def verify(self, public_key: bytes, signature: bytes, data: bytes) -> bool: ...


def _nacl() -> Any:
    try:
        import nacl.bindings
        import nacl.exceptions
        import nacl.signing
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise LocalBusError(
            "PyNaCl is needed for signing under CPython: pip install 'reasoningbank[crypto]'"
        ) from exc
    return nacl


class NaclSigner:
    """Ed25519 signer over a 32-byte seed, using PyNaCl."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise LocalBusError("an Ed25519 seed is 32 bytes")
        nacl = _nacl()
        self._key = nacl.signing.SigningKey(seed)
        self.public_key: bytes = bytes(self._key.verify_key)

    def sign_sync(self, data: bytes) -> bytes:
        return bytes(self._key.sign(data).signature)

    async def sign(self, data: bytes) -> bytes:
        return self.sign_sync(data)


class NaclVerifier:
    """Ed25519 verification straight through libsodium's ``crypto_sign_open``.

    Why not ``nacl.bindings.crypto_sign_open``: it allocates two C buffers and copies the
    message back out for every call, a tenth of a verification's time; here the output
    goes to one scratch buffer that is reused (its content is never read).
    """

    def __init__(self) -> None:
        nacl = _nacl()
        from nacl._sodium import ffi, lib  # type: ignore[import-not-found]

        self._ffi, self._open = ffi, lib.crypto_sign_open
        self._room = 4096
        self._scratch = ffi.new("unsigned char[]", self._room)
        self._scratch_len = ffi.new("unsigned long long *")
        self._bad = nacl.exceptions.BadSignatureError

    def verify_sync(self, public_key: bytes, signature: bytes, data: bytes) -> bool:
        """True iff ``signature`` is a valid Ed25519 signature of ``data`` by ``public_key``."""
        if len(public_key) != 32 or len(signature) != 64:
            return False
        signed = signature + data
        size = len(signed)
        if size > self._room:
            self._scratch, self._room = self._ffi.new("unsigned char[]", size), size
        try:
            ok = self._open(self._scratch, self._scratch_len, signed, size, public_key)
        except Exception:  # a type libsodium's binding refuses is not a valid signature
            return False
        return ok == 0  # type: ignore[no-any-return]

    async def verify(self, public_key: bytes, signature: bytes, data: bytes) -> bool:
        return self.verify_sync(public_key, signature, data)


def _ffi() -> tuple[Any, Any]:
    try:
        import js  # type: ignore[import-not-found]
        from pyodide.ffi import to_js  # type: ignore[import-not-found]
    except ImportError as exc:
        raise LocalBusError("WebCrypto signing needs Pyodide (the js module)") from exc
    return js, to_js


def _u8(js: Any, to_js: Any, data: bytes) -> Any:
    return to_js(bytes(data))  # bytes → Uint8Array


class WebCryptoSigner:
    """Ed25519 through ``crypto.subtle`` (browsers, Node 20+). Create with ``await create``."""

    def __init__(self, public_key: bytes, key_handle: Any) -> None:
        self.public_key = public_key
        self._handle = key_handle

    @classmethod
    async def create(cls, seed: bytes) -> WebCryptoSigner:
        if len(seed) != 32:
            raise LocalBusError("an Ed25519 seed is 32 bytes")
        js, to_js = _ffi()
        subtle = js.crypto.subtle
        alg = to_js({"name": "Ed25519"}, dict_converter=js.Object.fromEntries)
        priv = await subtle.importKey(
            "pkcs8", _u8(js, to_js, PKCS8_ED25519_PREFIX + seed), alg, True, to_js(["sign"])
        )
        jwk = await subtle.exportKey("jwk", priv)
        public_key = _b64url_decode(str(jwk.x))
        return cls(public_key, priv)

    async def sign(self, data: bytes) -> bytes:
        js, to_js = _ffi()
        alg = to_js({"name": "Ed25519"}, dict_converter=js.Object.fromEntries)
        sig = await js.crypto.subtle.sign(alg, self._handle, _u8(js, to_js, data))
        return bytes(js.Uint8Array.new(sig).to_bytes())


class WebCryptoVerifier:
    """Ed25519 verification through ``crypto.subtle``; imported public keys are cached."""

    def __init__(self, cache_size: int = 1024) -> None:
        self._keys: OrderedDict[bytes, Any] = OrderedDict()
        self._cache_size = cache_size

    async def _key(self, public_key: bytes) -> Any:
        handle = self._keys.get(public_key)
        if handle is None:
            js, to_js = _ffi()
            alg = to_js({"name": "Ed25519"}, dict_converter=js.Object.fromEntries)
            handle = await js.crypto.subtle.importKey(
                "raw", _u8(js, to_js, public_key), alg, False, to_js(["verify"])
            )
            self._keys[public_key] = handle
            if len(self._keys) > self._cache_size:
                self._keys.popitem(last=False)
        return handle

    async def verify(self, public_key: bytes, signature: bytes, data: bytes) -> bool:
        if len(public_key) != 32 or len(signature) != 64:
            return False
        js, to_js = _ffi()
        try:
            handle = await self._key(public_key)
            alg = to_js({"name": "Ed25519"}, dict_converter=js.Object.fromEntries)
            ok = await js.crypto.subtle.verify(
                alg, handle, _u8(js, to_js, signature), _u8(js, to_js, data)
            )
        except Exception:  # a JsException for keys WebCrypto refuses = not a valid signature
            return False
        return bool(ok)


def _b64url_decode(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _has_nacl() -> bool:
    from ..runtime import has_module

    return has_module("nacl")


async def default_signer(seed: bytes) -> Any:
    """PyNaCl when installed, otherwise WebCrypto (Pyodide)."""
    if _has_nacl():
        return NaclSigner(seed)
    return await WebCryptoSigner.create(seed)


def default_verifier() -> Any:
    if _has_nacl():
        return NaclVerifier()
    return WebCryptoVerifier()
