"""Neural-bus commands: identity, trust add/remove/list, hub and sync.

Keys live beside the bank (``<bank>.key``, ``<bank>.trust.json``); ``hub`` runs until
interrupted and prints its URLs, policy and certificate hash as it starts.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from argparse import Namespace
from typing import Any
from urllib.parse import urlsplit

from ..bank import ReasoningBank, default_location
from ..bus.errors import LocalBusError
from ..files import load_json
from .run import Output

__all__ = ["hub", "identity", "sync", "trust_add", "trust_list", "trust_remove"]

_JSON_FILE_LIMIT = 1024 * 1024  # rotation statements and key lists are a few hundred bytes


def _db(args: Namespace) -> str:
    return str(args.db or default_location())


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


async def identity(args: Namespace) -> Output:
    """This bank's public key; with --rotate, a new key and its signed rotation statement."""
    from ..bus.keys import identity_path, load_or_create_seed, rotate_identity
    from ..bus.signers import NaclSigner

    db = _db(args)
    if args.rotate:
        statement = rotate_identity(db)
        return Output(statement, json.dumps(statement, indent=2, sort_keys=True))
    key = NaclSigner(load_or_create_seed(db)).public_key.hex()
    path = identity_path(db)
    return Output({"public_key": key, "file": str(path) if path else None}, key)


async def trust_add(args: Namespace) -> Output:
    """Trust KEY, or the new key of a rotation statement whose old key is trusted."""
    from ..bus.keys import TrustList, accept_rotation, parse_key
    from ..bus.signers import NaclVerifier

    trust = TrustList.load(_db(args))
    if args.rotation:
        statement = _read_json_file(args.rotation, "rotation statement")
        key = accept_rotation(statement, trust, NaclVerifier())
        return Output({"trusted": key.hex()}, f"trusted {key.hex()} (rotated key)")
    if not args.key:
        raise LocalBusError("give a KEY (64 hex characters) or --rotation FILE")
    key = parse_key(args.key)
    added = trust.add(key, label=args.label or "")
    return Output(
        {"trusted": key.hex()}, f"{'trusted' if added else 'already trusted'} {key.hex()}"
    )


async def trust_remove(args: Namespace) -> Output:
    """Stop trusting KEY; exit status 1 when it was not trusted."""
    from ..bus.keys import TrustList, parse_key

    key = parse_key(args.key)
    removed = TrustList.load(_db(args)).remove(key)
    text = f"{'removed' if removed else 'was not trusted:'} {key.hex()}"
    return Output({"removed": removed}, text, status=0 if removed else 1)


async def trust_list(args: Namespace) -> Output:
    """Every trusted key with its label."""
    from ..bus.keys import TrustList

    trust = TrustList.load(_db(args))
    lines = [f"{k}  {v.get('label', '')}".rstrip() for k, v in sorted(trust.keys.items())]
    return Output(trust.keys, "\n".join(lines) if lines else "(no trusted keys)")


def _admission(args: Namespace) -> set[bytes] | None:
    """The keys given with --allow (``None`` with --open: any key may hold a session).

    Why: a hub relays every pattern it is sent to every session, so an open hub publishes
    what its users share; the operator must choose that with --open rather than get it
    by default.
    """
    from ..bus.keys import parse_key

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


def _nats_urls(args: Namespace) -> list[str]:
    """The --nats servers, checked (empty without --nats)."""
    if not args.nats:
        return []
    urls = [u.strip() for u in args.nats.split(",") if u.strip()]
    for url in urls:
        if urlsplit(url).scheme.lower() not in ("nats", "tls") or not urlsplit(url).hostname:
            raise LocalBusError(f"--nats {url}: give nats://HOST:PORT (comma-separated)")
    if not urls:
        raise LocalBusError("--nats needs at least one nats://HOST:PORT")
    return urls


def _check_cluster_flags(args: Namespace) -> list[str]:
    urls = _nats_urls(args)
    if urls and args.store:
        raise LocalBusError("--store and --nats: the NATS stream keeps the patterns; drop --store")
    if args.workers is not None and not urls:
        raise LocalBusError(
            "--workers needs --nats: worker processes share their patterns through NATS"
        )
    if args.workers is not None and not 1 <= args.workers <= MAX_WORKERS:
        raise LocalBusError(f"--workers must be between 1 and {MAX_WORKERS}")
    return urls


#: Most hub processes --workers starts (more than cores only adds switching).
MAX_WORKERS = 64


async def hub(args: Namespace) -> None:
    """Run a hub until interrupted, printing how to reach it (a long-running command)."""
    from ..bus.aio import HubServer
    from ..bus.events import PatternAccepted
    from ..bus.hub import Hub
    from ..bus.hubstore import HubStore
    from ..bus.intents import Policy
    from ..bus.keys import TrustList, load_or_create_seed
    from ..bus.signers import NaclSigner, NaclVerifier

    nats_urls = _check_cluster_flags(args)
    if args.budget < 1:
        raise LocalBusError("--budget must be at least 1 spend unit per key per 60 s")
    db = args.db or os.environ.get("REASONINGBANK_DB")
    if (args.allow_trusted or args.trusted_only) and not db:
        flag = "--allow-trusted" if args.allow_trusted else "--trusted-only"
        raise LocalBusError(f"{flag} needs --db: the hub uses that bank's trust list")
    allowed = _admission(args)
    if args.workers is not None:
        from .hub_workers import supervise

        await supervise(args)
        return
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
    relay = Hub(
        signer=signer,
        verifier=NaclVerifier(),
        nonce_source=secrets.token_bytes,
        on_event=keep,
        trusted=trusted,
        max_patterns=args.max_patterns,
        max_patterns_per_author=args.max_patterns_per_author,
        allowed=allowed,
        journal=bool(nats_urls),
        policy=Policy(budget=args.budget),
    )
    if store is not None:
        kept = relay.preload(store.load())
        print(f"kept patterns: {kept} from {args.store}")
    server = HubServer(relay)
    link = None
    origins = None if "*" in args.allow_origin else args.allow_origin
    try:
        if nats_urls:
            from ..bus.aio.cluster import STREAM, ClusterLink
            from .hub_workers import worker_setup

            certificate = worker_setup(args)
            link = ClusterLink(
                server,
                nats_urls,
                max_patterns=args.max_patterns,
                max_per_author=args.max_patterns_per_author,
            )
            await link.start()
            print(
                f"cluster: {len(relay.gossip.store)} patterns from NATS stream {STREAM} "
                f"(replicas {link.replicas})"
            )
        else:
            certificate = None
        try:
            await server.start(
                args.host,
                args.port,
                quic=not args.no_quic,
                origins=origins,
                certificate=certificate,
                reuse_port=bool(args.worker_cert),
            )
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
        stop = asyncio.Event()
        if nats_urls:  # systemd and the --workers parent stop cluster hubs with SIGTERM
            import signal

            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
    finally:
        await server.close()
        if link is not None:
            await link.close()
        if store is not None:
            store.close()


async def sync(args: Namespace) -> Output:
    """Share this bank's patterns with a hub and import the trusted ones it holds."""
    from ..bus.sync import sync_bank

    if urlsplit(args.hub).scheme.lower() == "https" and not args.cert_hash:
        raise LocalBusError(
            "an https:// hub needs --cert-hash HEX: the sha256 the hub printed when it "
            "started ('certificate sha256: HEX')"
        )
    db = _db(args)
    async with await ReasoningBank.open(db) as bank:
        result = await sync_bank(
            bank,
            args.hub,
            db_path=db,
            cert_hash=args.cert_hash,
            timeout=args.timeout,
            announce_trust=args.announce_trust,
        )
    text = (
        f"synced with {args.hub}: shared {result['shared']}, imported {result['imported']}, "
        f"rejected {sum(result['rejected'].values())}"
    )
    for s in result["skipped_patterns"]:  # an older version let these in: they stay home
        text += f"\nnot shared: {s['id']}: {s['reason']}"
    return Output(result, text)
