"""``mcp``: serve the bank to MCP clients (stdio, or streamable HTTP with --http)."""

from __future__ import annotations

from argparse import Namespace

from ..mcp_server import serve

__all__ = ["mcp"]


async def mcp(args: Namespace) -> None:
    """Serve until the client disconnects (stdio) or the process is interrupted (HTTP)."""
    await serve(args.db, http=args.http, host=args.host, port=args.port)
