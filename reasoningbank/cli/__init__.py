"""``reasoningbank`` command line: thin commands over the library's public API.

``--db PATH`` (or ``REASONINGBANK_DB``) is accepted before or after the command. ``--json``
prints one JSON document on stdout. Read commands (get, search, recommend, stats) never
create a bank: a mistyped ``--db`` says "no bank at PATH". Every error is one line on stderr,
exit status 1 (usage errors 2); an unexpected one too, with its traceback only when
``REASONINGBANK_DEBUG=1``.

Layout: ``parser`` declares every command, ``HANDLERS`` below says which function runs each,
and ``run.run_command`` runs it (the one ``asyncio.run``, error line and ``--json`` path).
"""

from __future__ import annotations

import sys

from ..errors import InvalidPattern
from . import bank, bus, learn, mcp, serve, transfer
from .parser import build_parser
from .run import Handler, one_line, run_command

__all__ = ["HANDLERS", "build_parser", "main"]

#: Which handler runs each command (``args.command``, as the parser names it).
HANDLERS: dict[str, Handler] = {
    "store": bank.store,
    "get": bank.get,
    "search": bank.search,
    "recommend": bank.recommend,
    "outcome": bank.outcome,
    "stats": bank.stats,
    "bench": bank.bench,
    "learn": learn.learn,
    "prompt": learn.prompt,
    "import": transfer.import_,
    "export": transfer.export,
    "identity": bus.identity,
    "trust add": bus.trust_add,
    "trust remove": bus.trust_remove,
    "trust list": bus.trust_list,
    "hub": bus.hub,
    "sync": bus.sync,
    "mcp": mcp.mcp,
    "serve": serve.serve,
    "semantic-asset": serve.semantic_asset,
}


def _check_utf8(argv: list[str]) -> None:
    """Refuse arguments that were not UTF-8 bytes (Python keeps them as lone surrogates,
    which no bank, JSON document or terminal can hold)."""
    for position, arg in enumerate(argv, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            raw = arg.encode("utf-8", "surrogateescape")[:60]
            raise InvalidPattern(
                f"argument {position} is not UTF-8 text: {raw.decode('utf-8', 'backslashreplace')}"
                " (pass text and paths as UTF-8)"
            ) from None


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit status (the ``reasoningbank`` console script)."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        _check_utf8(argv)
    except InvalidPattern as exc:
        print(one_line(f"reasoningbank: error: {exc}"), file=sys.stderr)
        return 1
    args = build_parser().parse_args(argv)
    return run_command(args, HANDLERS[args.command])
