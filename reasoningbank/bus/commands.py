"""CLI subcommands of the neural bus: identity, trust, hub, sync.

``register(subparsers, db_parent)`` adds them to the ``reasoningbank`` argparse parser; each
handler takes the parsed ``args`` and returns an exit status (or a coroutine the CLI runs).
Library errors propagate as ``ReasoningBankError`` so the CLI prints one line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
from typing import Any
from urllib.parse import urlsplit

from ..files import load_json
from .errors import LocalBusError

__all__ = ["register"]


def _db(args: argparse.Namespace) -> str:
    db = getattr(args, "db", None) or os.environ.get("REASONINGBANK_DB")
    if db:
        return str(db)
    from ..bank import default_location

    return default_location()


_JSON_FILE_LIMIT = 1024 * 1024  # rotation statements and key lists are a few hundred bytes


def _read_json_file(path: str, what: str) -> Any:
    """A small JSON file given on the command line, as one clear error if it is not."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(_JSON_FILE_LIMIT + 1)
    except OSError as exc:
        raise LocalBusError(f"cannot read {what} {path}: {exc.strerror}") from exc
    if len(data) > _JSON_FILE_LIMIT:
        raise LocalBusError(f"{path} is larger than {_JSON_FILE_LIMIT} bytes: not a {what}")
    return load_json(data, f"{what} {path}")


def _print(doc: Any, as_json: bool, text: str) -> None:
    if as_json:
        json.dump(doc, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        print(text)


def cmd_identity(args: argparse.Namespace) -> int:
    """Print this bank's Ed25519 public key (created on first use, file <bank>.key, 0600).

    Example: reasoningbank --db bank.db identity
    With --rotate: make a new key and print the rotation statement, signed by the old key,
    that peers accept with `reasoningbank trust add --rotation FILE`."""
    from .keys import identity_path, load_or_create_seed, rotate_identity
    from .signers import NaclSigner

    db = _db(args)
    if args.rotate:
        statement = rotate_identity(db)
        print(json.dumps(statement, indent=2, sort_keys=True))
        return 0
    key = NaclSigner(load_or_create_seed(db)).public_key.hex()
    path = identity_path(db)
    _print({"public_key": key, "file": str(path) if path else None}, args.json, key)
    return 0


def cmd_trust_add(args: argparse.Namespace) -> int:
    """Trust a key: patterns it signed will be accepted. Example: reasoningbank trust add HEX"""
    from .keys import TrustList, accept_rotation, parse_key
    from .signers import NaclVerifier

    trust = TrustList.load(_db(args))
    if args.rotation:
        statement = _read_json_file(args.rotation, "rotation statement")
        key = accept_rotation(statement, trust, NaclVerifier())
        print(f"trusted {key.hex()} (rotated key)")
        return 0
    if not args.key:
        raise LocalBusError("give a KEY (64 hex characters) or --rotation FILE")
    key = parse_key(args.key)
    added = trust.add(key, label=args.label or "")
    print(f"{'trusted' if added else 'already trusted'} {key.hex()}")
    return 0


def cmd_trust_remove(args: argparse.Namespace) -> int:
    """Stop trusting a key. Example: reasoningbank trust remove HEX"""
    from .keys import TrustList, parse_key

    key = parse_key(args.key)
    removed = TrustList.load(_db(args)).remove(key)
    print(f"{'removed' if removed else 'was not trusted:'} {key.hex()}")
    return 0 if removed else 1


def cmd_trust_list(args: argparse.Namespace) -> int:
    """List trusted keys. Example: reasoningbank trust list --json"""
    from .keys import TrustList

    trust = TrustList.load(_db(args))
    lines = [f"{k}  {v.get('label', '')}".rstrip() for k, v in sorted(trust.keys.items())]
    _print(trust.keys, args.json, "\n".join(lines) if lines else "(no trusted keys)")
    return 0


async def cmd_hub(args: argparse.Namespace) -> int:
    """Run a neural-bus hub: HTTP/3 WebTransport (UDP) and WebSocket (TCP) on --port.

    Say who may use it (read and write): --allow KEY (repeatable), --allow-trusted (the --db
    bank's trust list and its own key) or --open (any key); with none of them it does not
    start. Prints the URLs, the policy and `certificate sha256: HEX`; clients pin that hash
    with --cert-hash (browsers with serverCertificateHashes). The certificate is regenerated
    on each start and is valid 10 days.
    Example: reasoningbank hub --port 4433 --allow 3f2a…(64 hex)"""
    from .aio import HubServer
    from .events import PatternAccepted
    from .hub import Hub
    from .hubstore import HubStore
    from .keys import TrustList, load_or_create_seed
    from .signers import NaclSigner, NaclVerifier

    db = getattr(args, "db", None) or os.environ.get("REASONINGBANK_DB")
    if (args.allow_trusted or args.trusted_only) and not db:
        flag = "--allow-trusted" if args.allow_trusted else "--trusted-only"
        raise LocalBusError(f"{flag} needs --db: the hub uses that bank's trust list")
    allowed = _admission(args)
    seed = load_or_create_seed(db) if db else secrets.token_bytes(32)
    signer = NaclSigner(seed)
    if allowed is None:
        policy = "open: any key may read and write"
    else:
        if args.allow_trusted and db:
            allowed |= TrustList.load(db).as_set(own=signer.public_key)
        policy = f"{len(allowed)} allowed keys may read and write; other keys are refused"
    store = HubStore(args.store) if args.store else None

    def keep(_sid: Any, event: Any) -> None:
        if store is not None and isinstance(event, PatternAccepted):
            store.append(event.pattern)

    trusted = None
    if args.trusted_only and db:
        trusted = TrustList.load(db).as_set(own=signer.public_key)
    hub = Hub(
        signer=signer,
        verifier=NaclVerifier(),
        nonce_source=secrets.token_bytes,
        on_event=keep,
        trusted=trusted,
        max_patterns=args.max_patterns,
        allowed=allowed,
    )
    if store is not None:
        kept = hub.preload(store.load())
        print(f"kept patterns: {kept} from {args.store}")
    server = HubServer(hub)
    origins = None if "*" in args.allow_origin else args.allow_origin
    try:
        try:
            await server.start(args.host, args.port, quic=not args.no_quic, origins=origins)
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise LocalBusError(
                f"cannot listen on {args.host} port {args.port}: {reason} (another hub "
                "there? pick another --port, or --port 0 for a free one)"
            ) from exc
        if server.url:
            print(f"hub listening on {server.url} (WebTransport)")
        print(f"websocket: {server.ws_url}")
        if server.cert_sha256:
            print(f"certificate sha256: {server.cert_sha256}")
        print(f"policy: {policy}")
        pages = "any origin" if origins is None else ", ".join(origins) or "none (--allow-origin)"
        print(f"browser pages admitted from: {pages}")
        print(f"hub key: {signer.public_key.hex()}", flush=True)
        await asyncio.Event().wait()
    finally:
        await server.close()
        if store is not None:
            store.close()
    return 0  # pragma: no cover - runs until interrupted


def _admission(args: argparse.Namespace) -> set[bytes] | None:
    """The keys given with --allow (``None`` with --open: any key may hold a session).

    Why: a hub relays every pattern it is sent to every session, so an open hub publishes
    what its users share; the operator must choose that with --open rather than get it
    by default.
    """
    from .keys import parse_key

    chosen = bool(args.allow or args.allow_trusted)
    if args.open and chosen:
        raise LocalBusError("--open admits any key: drop it, or drop --allow/--allow-trusted")
    if args.open:
        return None
    if not chosen:
        raise LocalBusError(
            "say who may use this hub: --allow KEY (repeatable), --allow-trusted (the --db "
            "bank's trust list) or --open (any key may read and write)"
        )
    return {parse_key(key) for key in args.allow or []}


async def cmd_sync(args: argparse.Namespace) -> int:
    """Share this bank's patterns with a hub and import trusted patterns from it.

    Example: reasoningbank --db bank.db sync --hub https://127.0.0.1:4433/bus --cert-hash HEX"""
    from ..bank import ReasoningBank
    from .sync import sync_bank

    if urlsplit(args.hub).scheme.lower() == "https" and not args.cert_hash:
        raise LocalBusError(
            "an https:// hub needs --cert-hash HEX: the sha256 the hub printed when it "
            "started ('certificate sha256: HEX')"
        )
    db = _db(args)
    bank = await ReasoningBank.open(db)
    try:
        result = await sync_bank(
            bank,
            args.hub,
            db_path=db,
            cert_hash=args.cert_hash,
            timeout=args.timeout,
            announce_trust=args.announce_trust,
        )
    finally:
        await bank.close()
    text = (
        f"synced with {args.hub}: shared {result['shared']}, imported {result['imported']}, "
        f"rejected {sum(result['rejected'].values())}"
    )
    for s in result["skipped_patterns"]:  # an older version let these in: they stay home
        text += f"\nnot shared: {s['id']}: {s['reason']}"
    _print(result, args.json, text)
    return 0


def register(subparsers: Any, db_parent: argparse.ArgumentParser) -> None:
    """Add identity, trust, hub and sync to the ``reasoningbank`` CLI."""
    json_parent = argparse.ArgumentParser(add_help=False)
    json_parent.add_argument("--json", action="store_true", help="print one JSON document")

    def add(name: str, handler: Any, help_: str, parents: list[Any], sub: Any = subparsers) -> Any:
        p = sub.add_parser(
            name,
            help=help_,
            description=handler.__doc__,
            parents=parents,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(handler=handler)
        return p

    p = add(
        "identity", cmd_identity, "print this bank's Ed25519 public key", [db_parent, json_parent]
    )
    p.add_argument("--rotate", action="store_true", help="replace the key; print the statement")

    trust = subparsers.add_parser(
        "trust",
        help="manage trusted keys",
        parents=[db_parent],
        description="Keys whose shared patterns this bank accepts.",
    )
    tsub = trust.add_subparsers(dest="trust_command", metavar="ACTION")
    tsub.required = True
    p = add("add", cmd_trust_add, "trust a key", [db_parent], tsub)
    p.add_argument("key", nargs="?", help="public key, 64 hex characters")
    p.add_argument("--label", help="a name to remember the key by")
    p.add_argument("--rotation", metavar="FILE", help="accept a key rotation statement")
    p = add("remove", cmd_trust_remove, "stop trusting a key", [db_parent], tsub)
    p.add_argument("key")
    add("list", cmd_trust_list, "list trusted keys", [db_parent, json_parent], tsub)

    p = add("hub", cmd_hub, "run a neural-bus hub (HTTP/3 + WebSocket)", [db_parent])
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=4433, help="UDP and TCP port (default 4433)")
    p.add_argument("--no-quic", action="store_true", help="WebSocket only")
    p.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="web origin whose pages may connect, e.g. http://localhost:8765 (repeatable; "
        "'*' for any; default: none, only non-browser clients)",
    )
    p.add_argument(
        "--allow",
        action="append",
        metavar="KEY",
        help="admit this key (64 hex characters, as `identity` prints it; repeatable)",
    )
    p.add_argument(
        "--allow-trusted",
        action="store_true",
        help="admit the keys the --db bank trusts, and its own",
    )
    p.add_argument(
        "--open",
        action="store_true",
        help="admit any key: whoever reaches the port reads and writes all it relays",
    )
    p.add_argument(
        "--trusted-only",
        action="store_true",
        help="relay only patterns by keys in the --db bank's trust list",
    )
    p.add_argument(
        "--max-patterns",
        type=int,
        default=1_000_000,
        metavar="N",
        help="most patterns the hub keeps (default 1000000)",
    )
    p.add_argument(
        "--store",
        metavar="FILE",
        help="keep relayed patterns in this JSON-lines file across restarts",
    )

    p = add("sync", cmd_sync, "sync patterns with a hub", [db_parent, json_parent])
    p.add_argument("--hub", required=True, metavar="URL", help="https://HOST:PORT/bus or ws://…")
    p.add_argument("--cert-hash", metavar="HEX", help="pin the hub certificate (sha256 it printed)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    p.add_argument(
        "--announce-trust",
        action="store_true",
        help="tell the hub which authors you trust so it sends only theirs "
        "(saves bandwidth; the hub operator learns your trust list)",
    )
