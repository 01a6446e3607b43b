"""Browsers on the neural bus: a Pyodide-side transport to a ``reasoningbank hub``.

* ``transport``: WebTransport (pinned with ``serverCertificateHashes``) or, where the engine
  has none (WebKit), WebSocket, chosen by feature detection; both through ``glue.js``.
* ``client``: ``BrowserBusClient``, the sans-IO ``BusPeer`` driven with WebCrypto.
* ``identity``: a non-extractable WebCrypto Ed25519 key and the trust list, in IndexedDB.
* ``link``: ``BusSync``, a bank kept in sync across drops (backoff, anti-entropy resume,
  offline queue, presence of other browsers).
* ``page``: the JSON dispatcher behind ``web/sync.js``.

Everything here needs Pyodide in a browser; importing the package does not.
"""

from __future__ import annotations

__all__ = ["BrowserBusClient", "BusSync", "connect", "load_identity", "open_transport"]


def __getattr__(name: str) -> object:
    if name in ("BrowserBusClient", "connect"):
        from . import client

        return getattr(client, name)
    if name == "BusSync":
        from .link import BusSync

        return BusSync
    if name == "load_identity":
        from .identity import load_identity

        return load_identity
    if name == "open_transport":
        from .transport import open_transport

        return open_transport
    raise AttributeError(name)
