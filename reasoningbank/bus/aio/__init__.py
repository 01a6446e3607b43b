"""The asyncio drivers of the bus, apart from its sans-IO logic (CPython only).

``client`` (a bank's session: ``BusClient``, ``connect``), ``server`` (``HubServer``),
``websocket`` (the WebSocket endpoints around the ``bus/ws.py`` codec), ``quic``
(WebTransport over HTTP/3, aioquic, imported lazily) and ``loadgen`` (the bus benchmarks).
Why a folder: the browser runs the same logic through its own driver
(``transport_webtransport``), so the browser wheel leaves this folder out whole.
"""

from __future__ import annotations

from .client import BusClient, connect, connect_memory
from .server import MAX_CONNECTIONS, TRANSPORT_WINDOW, UPGRADE_TIMEOUT, HubServer
from .websocket import BUS_PATH, WRITE_CHUNK, open_websocket

__all__ = [
    "BUS_PATH",
    "MAX_CONNECTIONS",
    "TRANSPORT_WINDOW",
    "UPGRADE_TIMEOUT",
    "WRITE_CHUNK",
    "BusClient",
    "HubServer",
    "connect",
    "connect_memory",
    "open_websocket",
]
