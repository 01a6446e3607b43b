"""``serve`` (the offline web app, with a local hub linked to the bank) and
``semantic-asset`` (the file the app's semantic embedder loads)."""

from __future__ import annotations

import sys
from argparse import Namespace
from pathlib import Path

from ..bank import default_location
from ..errors import ServeError
from ..semantic import write_asset
from ..serve import LocalHub, bus_available, make_server
from .run import Output

__all__ = ["semantic_asset", "serve"]


def serve(args: Namespace) -> None:
    """Serve the app until interrupted, printing where (a long-running command).

    Why not async: the app server is a threading ``http.server``; the hub runs its own loop
    on a thread of its own.
    """
    hub = None
    try:
        if not args.no_hub and bus_available():
            hub = LocalHub(args.db or default_location(), args.host, args.hub_port)
        server = make_server(
            args.host,
            args.port,
            pyodide_dir=args.pyodide_dir,
            verbose=args.verbose,
            bus=hub.info if hub else None,
            semantic=not args.no_semantic,
        )
        if hub:
            hub.admit_pages_of(server)
    except OSError as exc:
        raise ServeError(str(exc)) from exc
    host, port = str(server.server_address[0]), int(server.server_address[1])
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    query = f"?trust={hub.bank_key}" if hub else ""
    print(f"ReasoningBank app: http://{shown}:{port}/{query}", flush=True)
    if hub:
        print(f"neural-bus hub: {hub.info['hub']} (websocket {hub.info['wsUrl']})")
        print(f"certificate sha256: {hub.info['certHash']}")
        print(f"local bank {hub.db} is linked; its key: {hub.bank_key}")
        print("to link a browser page with this bank: reasoningbank trust add <key it shows>")
    else:
        print("neural bus: off (install 'reasoningbank[bus]' for the local hub)")
    if server.semantic is not None:
        print(f"semantic embedder for pages: /{server.semantic[0].lstrip('/')}")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


async def semantic_asset(args: Namespace) -> Output:
    """Write the browser's semantic-embedder asset, made from the installed wordllama wheel."""
    size = write_asset(Path(args.out), args.dims)
    doc = {"path": args.out, "bytes": size, "dims": args.dims}
    return Output(doc, f"{args.out}: {size} bytes ({args.dims} dims, int8)")
