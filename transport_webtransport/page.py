"""The Python half of ``web/sync.js``: a page's bus links, behind one JSON dispatcher.

Same shape as ``reasoningbank.jsapi``: arguments and results cross the FFI as JSON strings
and come back through ``resolve``/``reject``, so the page holds a single ``PyProxy`` (the
dispatcher). ``start`` links a bank opened through ``reasoningbank.js`` (its handle) to a hub.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from reasoningbank.errors import ReasoningBankError

from .identity import DEFAULT_IDENTITY_DB, BrowserTrust, load_identity
from .link import BusSync

__all__ = ["dispatch", "get"]

_syncs: dict[int, BusSync] = {}
_trusts: dict[int, BrowserTrust] = {}
_trust_lists: dict[str, BrowserTrust] = {}  # identity db -> the one live list of the page
_next = 1
_tasks: set[asyncio.Task[None]] = set()


class SyncError(ReasoningBankError):
    """Misuse of the sync API from the page (unknown handle, bad option)."""


def get(handle: int) -> BusSync:
    """The ``BusSync`` behind a handle (tests reach the live objects through this)."""
    sync = _syncs.get(handle)
    if sync is None:
        raise SyncError(f"no bus link {handle}; start one with BusSync.start()")
    return sync


async def _trust_list(db: str) -> BrowserTrust:
    """The page's trust list for identity database ``db``: one object per page, so a key
    trusted while a link runs applies to that link at once."""
    trust = _trust_lists.get(db)
    if trust is None:
        signer = await load_identity(db)
        trust = _trust_lists.setdefault(db, await BrowserTrust.load(signer.public_key, db))
    return trust


async def _start(_: int, options: dict[str, Any], on_change: Any = None) -> dict[str, Any]:
    global _next
    from reasoningbank.jsapi import bank_for

    options = dict(options)
    bank = bank_for(int(options.pop("bank")))
    hub = options.pop("hub", None)
    if not isinstance(hub, str) or not hub:
        raise SyncError("hub: the hub URL (https://HOST:PORT/bus or ws://HOST:PORT/bus)")
    db = str(options.pop("identityDb", DEFAULT_IDENTITY_DB))
    signer = await load_identity(db)
    trust = await _trust_list(db)
    for key in options.pop("trust", []) or []:
        await trust.add(str(key))
    kwargs = {}
    for js_name, py_name in (
        ("certHash", "cert_hash"),
        ("wsUrl", "ws_url"),
        ("prefer", "prefer"),
        ("label", "label"),
        ("backoffBase", "backoff_base"),
        ("backoffMax", "backoff_max"),
        ("syncEvery", "sync_every"),
        ("timeout", "timeout"),
        ("trustPoll", "trust_poll"),
    ):
        if options.get(js_name) is not None:
            kwargs[py_name] = options.pop(js_name)
        else:
            options.pop(js_name, None)
    if options:
        raise SyncError(f"unknown options: {', '.join(sorted(options))}")
    callback = None
    if on_change is not None:

        def callback(status: dict[str, Any]) -> None:
            on_change(json.dumps(status))

    sync = BusSync(bank, hub, signer=signer, trusted=trust.keys, on_change=callback, **kwargs)
    handle = _next
    _next += 1
    _syncs[handle] = sync
    _trusts[handle] = trust
    await sync.start()
    return {"handle": handle, **sync.status()}


async def _status(h: int) -> dict[str, Any]:
    sync = get(h)
    if sync.client is None:
        sync.pending_count = await sync.pending()
    return sync.status()


async def _share(h: int, ids: list[str] | None = None) -> int:
    return await get(h).share(ids)


async def _sync_now(h: int, timeout: float = 30.0) -> dict[str, Any]:
    return await get(h).sync_now(timeout)


async def _trust(h: int, key: str, label: str = "") -> bool:
    get(h)
    return await _trusts[h].add(key, label)


async def _untrust(h: int, key: str) -> bool:
    get(h)
    return await _trusts[h].remove(key)


async def _trusted(h: int) -> dict[str, Any]:
    get(h)
    return dict(_trusts[h].entries)


async def _stop(h: int) -> None:
    sync = _syncs.pop(h, None)
    _trusts.pop(h, None)
    if sync is not None:
        await sync.stop()


async def _identity(_: int, db: str = DEFAULT_IDENTITY_DB) -> str:
    return (await load_identity(db)).public_key.hex()


async def _trust_keys(_: int, keys: list[str], db: str = DEFAULT_IDENTITY_DB) -> int:
    """Trust ``keys`` without a link (the page confirmed a link's ``?trust=``); returns how
    many were new."""
    trust = await _trust_list(db)
    return sum([await trust.add(str(key)) for key in keys])


async def _trusted_keys(_: int, db: str = DEFAULT_IDENTITY_DB) -> dict[str, Any]:
    return dict((await _trust_list(db)).entries)


async def _trust_key(_: int, key: str, label: str = "", db: str = DEFAULT_IDENTITY_DB) -> bool:
    """Trust one key with a label (the page's trust list form); False if it already was."""
    return await (await _trust_list(db)).add(str(key), str(label))


async def _untrust_key(_: int, key: str, db: str = DEFAULT_IDENTITY_DB) -> bool:
    """Stop trusting ``key``; running links stop accepting it at once."""
    return await (await _trust_list(db)).remove(str(key))


async def _export_bundle(_: int, bank: int, db: str = DEFAULT_IDENTITY_DB) -> dict[str, Any]:
    from reasoningbank.jsapi import bank_for

    from .bundles import export_bundle

    return await export_bundle(bank_for(int(bank)), db)


async def _import_bundle(
    _: int, bank: int, text: str, db: str = DEFAULT_IDENTITY_DB
) -> dict[str, Any]:
    from reasoningbank.jsapi import bank_for

    from .bundles import import_bundle

    return await import_bundle(bank_for(int(bank)), str(text), await _trust_list(db))


METHODS: dict[str, Callable[..., Awaitable[Any]]] = {
    "start": _start,
    "status": _status,
    "share": _share,
    "syncNow": _sync_now,
    "trust": _trust,
    "untrust": _untrust,
    "trusted": _trusted,
    "stop": _stop,
    "identity": _identity,
    "trustKeys": _trust_keys,
    "trustedKeys": _trusted_keys,
    "trustKey": _trust_key,
    "untrustKey": _untrust_key,
    "exportBundle": _export_bundle,
    "importBundle": _import_bundle,
}


def _error(exc: BaseException) -> str:
    return json.dumps({"name": type(exc).__name__, "message": str(exc)})


def dispatch(
    handle: int,
    method: str,
    args: str,
    resolve: Callable[[str], Any],
    reject: Callable[[str], Any],
    extra: Any = None,
) -> None:
    """Run ``method`` with JSON ``args``; ``resolve(json)`` or ``reject(json error)``.
    ``extra`` is a JS callback passed to ``start`` (status changes, as a JSON string)."""

    async def run() -> None:
        try:
            fn = METHODS.get(method)
            if fn is None:
                raise SyncError(f"unknown method {method!r}")
            params = json.loads(args)
            result = await (
                fn(handle, *params, extra) if method == "start" else fn(handle, *params)
            )
        except BaseException as exc:  # every failure goes back to the page as a rejection
            reject(_error(exc))
            if not isinstance(exc, Exception):
                raise
            return
        resolve(json.dumps(result))

    task = asyncio.get_running_loop().create_task(run())
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
