"""``reasoningbank`` command line: thin commands over the public ``ReasoningBank`` API.

``--db PATH`` (or ``REASONINGBANK_DB``) is accepted before or after the subcommand.
``--json`` prints one JSON document on stdout. Read commands (get, search, recommend, stats)
never create a bank: a mistyped ``--db`` says "no bank at PATH". Every error is one line on
stderr, exit status 1 (usage errors 2); an unexpected one too, with its traceback only when
``REASONINGBANK_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from .bank import ReasoningBank, default_location
from .errors import InvalidPattern, ReasoningBankError
from .files import decode_utf8, load_json

__all__ = ["main", "build_parser", "open_bank", "progress_printer"]


def progress_printer(label: str) -> Callable[[int, int], None] | None:
    """A stderr progress bar when stderr is a terminal, else ``None`` (no noise in pipes)."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        width = 30
        filled = int(width * done / total) if total else width
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


async def open_bank(args: argparse.Namespace, **options: Any) -> ReasoningBank:
    """Open the bank named by ``--db`` (or the default location).

    Read commands pass ``create=False``: a mistyped ``--db`` then says "no bank at PATH"
    instead of leaving an empty bank behind.
    """
    options.setdefault("progress", progress_printer("re-indexing"))
    return await ReasoningBank.open(args.db, **options)


def _print_json(doc: Any) -> None:
    json.dump(doc, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) for r in rows]
    return "\n".join(out)


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


# -- commands -----------------------------------------------------------------------------
async def cmd_store(args: argparse.Namespace) -> int:
    """Store a pattern from flags, or JSON patterns (object, array or JSONL) from --file.

    Example: reasoningbank store --task "add oauth token refresh" --category backend
             --strategy test-driven --score 0.9 --context lang=python
    """
    if args.file:
        data = sys.stdin.buffer.read() if args.file == "-" else _read(args.file)
        patterns = _parse_json_patterns(data, "standard input" if args.file == "-" else args.file)
    else:
        missing = [f for f in ("task", "category", "strategy") if not getattr(args, f)]
        if missing:
            raise InvalidPattern(
                "missing " + ", ".join("--" + m for m in missing) + " (or use --file)"
            )
        if args.score is None and args.success is None:
            raise InvalidPattern("give the outcome: --success, --failure or --score X")
        context = {}
        for item in args.context or []:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise InvalidPattern(f"--context takes key=value, got {item!r}")
            context[key] = value
        outcome: dict[str, Any] = {"success": args.success, "success_score": args.score}
        if args.duration is not None:
            outcome["duration_seconds"] = args.duration
        patterns = [{
            "task_description": args.task, "task_category": args.category,
            "strategy": args.strategy, "context": context, "outcome": outcome,
            "tags": [t for t in (args.tags or "").split(",") if t],
        }]  # fmt: skip
    async with await open_bank(args) as bank:
        ids = await bank.store_patterns(patterns)
    if args.json:
        _print_json({"ids": ids})
    else:
        print("\n".join(ids))
    return 0


async def cmd_get(args: argparse.Namespace) -> int:
    """Show one pattern. Example: reasoningbank get 3f2a… --json"""
    async with await open_bank(args, create=False) as bank:
        pattern = await bank.get_pattern(args.id)
    if pattern is None:
        raise ReasoningBankError(f"no pattern with id {args.id!r}")
    doc = pattern.to_dict()
    if args.json:
        _print_json(doc)
    else:
        meta = doc["metadata"]
        for key in ("id", "task_description", "task_category", "strategy"):
            print(f"{key:18} {doc[key]}")
        print(
            f"{'outcome':18} success={doc['outcome']['success']} score={doc['outcome']['success_score']}"
        )
        print(f"{'confidence':18} {meta['confidence']:.3f} (usage {meta['usage_count']})")
        if doc["context"]:
            print(f"{'context':18} {json.dumps(doc['context'])}")
    return 0


async def cmd_search(args: argparse.Namespace) -> int:
    """Find patterns similar to TEXT. Example: reasoningbank search "refresh tokens" -k 3"""
    async with await open_bank(args, create=False) as bank:
        matches = await bank.find_similar(
            args.text, args.category, top_k=args.k, min_score=args.min_score
        )
    if args.json:
        _print_json([m.to_dict() for m in matches])
        return 0
    rows = [
        [f"{m.score:.3f}", f"{m.similarity:.3f}", m.pattern.task_category, _short(m.pattern.strategy, 20),
         _short(m.pattern.task_description), m.pattern.id]
        for m in matches
    ]  # fmt: skip
    print(
        _table(rows, ["score", "sim", "category", "strategy", "task", "id"])
        if rows
        else "no matches"
    )
    return 0


async def cmd_recommend(args: argparse.Namespace) -> int:
    """Recommend a strategy for TEXT. Example: reasoningbank recommend "refresh tokens" -c backend"""
    async with await open_bank(args, create=False) as bank:
        rec = await bank.recommend_strategy(
            args.text, args.category, explore=args.explore, seed=args.seed
        )
    if args.json:
        _print_json(rec.to_dict())
    elif rec.strategy is None:
        print("no evidence yet: store some patterns in this category first")
    else:
        print(
            f"{rec.strategy}  (confidence {rec.confidence:.2f}, {len(rec.evidence)} supporting patterns)"
        )
        for alt in rec.alternatives[1:4]:
            print(f"  then: {alt['strategy']} ({alt['confidence']:.2f})")
    return 0


async def cmd_outcome(args: argparse.Namespace) -> int:
    """Record a new outcome for a pattern. Example: reasoningbank outcome ID --failure"""
    if args.score is None and args.success is None:
        raise InvalidPattern("give the outcome: --success, --failure or --score X")
    async with await open_bank(args) as bank:
        pattern = await bank.record_outcome(args.id, success=args.success, score=args.score)
    if args.json:
        _print_json(pattern.to_dict())
    else:
        print(
            f"{pattern.id}: confidence {pattern.metadata.confidence:.3f} after {pattern.metadata.usage_count} uses"
        )
    return 0


async def cmd_stats(args: argparse.Namespace) -> int:
    """Counts per category and strategy, storage and index facts. Example: reasoningbank stats"""
    async with await open_bank(args, create=False) as bank:
        stats = await bank.get_stats()
    if args.json:
        _print_json(stats)
        return 0
    print(
        f"patterns      {stats['total_patterns']} in {stats['storage']['location']} ({stats['storage']['backend']})"
    )
    print(f"success rate  {stats['success_rate']:.3f}   contradictions {stats['contradictions']}")
    if stats["categories"]:
        print(
            _table([[k, str(v)] for k, v in stats["categories"].items()], ["category", "patterns"])
        )
    return 0


async def cmd_bench(args: argparse.Namespace) -> int:
    """Time bulk store, durable single store and find_similar. Example: reasoningbank bench --n 10000"""
    from .benchmark import run_benchmark

    result = await run_benchmark(n=args.n, queries=args.queries, progress=progress_printer("bench"))
    if args.bus:
        from .bus.bench import arun

        result["bus"] = await arun()
    if args.json:
        _print_json(result)
    else:
        for key, value in result.items():
            print(f"{key:28} {value:.3f}" if isinstance(value, float) else f"{key:28} {value}")
    return 0


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise ReasoningBankError(f"cannot read {path}: {exc.strerror}") from exc


def _parse_json_patterns(data: bytes, source: str) -> list[Any]:
    """One JSON document (an object or an array of them), else JSON lines."""
    text = decode_utf8(data, source).strip()
    if not text:
        raise InvalidPattern("no patterns given (empty input)")
    try:
        doc = load_json(text, source)
        return doc if isinstance(doc, list) else [doc]
    except InvalidPattern:
        if "\n" not in text:
            raise
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.strip():
            out.append(load_json(line, f"{source} line {lineno}"))
    return out


# -- parser -------------------------------------------------------------------------------
def _outcome_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--success",
        dest="success",
        action="store_const",
        const=True,
        default=None,
        help="the attempt succeeded",
    )
    g.add_argument(
        "--failure", dest="success", action="store_const", const=False, help="the attempt failed"
    )
    p.add_argument("--score", type=float, help="graded outcome in [0, 1]")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (subcommand parsers inherit the class)."""

    def error(self, message: str) -> NoReturn:
        print(_one_line(f"{self.prog}: error: {message} (see {self.prog} --help)"), file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    db_parent = _Parser(add_help=False)
    db_parent.add_argument(
        "--db",
        default=argparse.SUPPRESS,
        metavar="PATH",
        help="bank file, ':memory:' or idb://name (env REASONINGBANK_DB)",
    )
    json_parent = _Parser(add_help=False)
    json_parent.add_argument("--json", action="store_true", help="print one JSON document")

    parser = _Parser(
        prog="reasoningbank",
        description="Agent memory that learns from outcomes.",
        epilog=f"Default bank: {default_location()}",
    )
    parser.add_argument(
        "--db",
        default=None,
        metavar="PATH",
        help="bank file, ':memory:' or idb://name (env REASONINGBANK_DB)",
    )
    parser.add_argument("--version", action="version", version="reasoningbank " + _version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def add(
        name: str,
        handler: Callable[[argparse.Namespace], Awaitable[int]],
        help_: str,
        parents: tuple[_Parser, ...] = (),
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_,
            description=handler.__doc__,
            parents=[db_parent, *parents],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(handler=handler)
        return p

    p = add("store", cmd_store, "store a pattern", (json_parent,))
    p.add_argument("--task", help="task description")
    p.add_argument("--category", help="task category")
    p.add_argument("--strategy", help="strategy used")
    _outcome_flags(p)
    p.add_argument("--duration", type=float, help="seconds the attempt took")
    p.add_argument(
        "--context", action="append", metavar="KEY=VALUE", help="context entry (repeatable)"
    )
    p.add_argument("--tags", help="comma-separated tags")
    p.add_argument("--file", help="JSON/JSONL patterns to store ('-' for stdin)")

    p = add("get", cmd_get, "show a pattern", (json_parent,))
    p.add_argument("id")

    p = add("search", cmd_search, "find similar patterns", (json_parent,))
    p.add_argument("text")
    p.add_argument("--category", "-c")
    p.add_argument("-k", type=int, default=5, help="number of results (default 5)")
    p.add_argument("--min-score", type=float, default=0.0)

    p = add("recommend", cmd_recommend, "recommend a strategy", (json_parent,))
    p.add_argument("text")
    p.add_argument("--category", "-c")
    p.add_argument("--explore", action="store_true", help="Thompson sampling instead of greedy")
    p.add_argument("--seed", type=int, help="seed for --explore")

    p = add("outcome", cmd_outcome, "record a new outcome for a pattern", (json_parent,))
    p.add_argument("id")
    _outcome_flags(p)

    add("stats", cmd_stats, "show bank statistics", (json_parent,))

    p = add("bench", cmd_bench, "run the built-in benchmark", (json_parent,))
    p.add_argument("--n", type=int, default=10_000, help="patterns (default 10000)")
    p.add_argument("--queries", type=int, default=200, help="queries (default 200)")
    p.add_argument("--bus", action="store_true", help="also run the neural-bus benchmark")

    for module in _PLUGINS:
        importlib.import_module(f"reasoningbank.{module}").register(sub, db_parent)
    return parser


#: Modules contributing subcommands through ``register(subparsers, db_parent)``.
_PLUGINS: tuple[str, ...] = (
    "migrate", "bundle", "mcp_server", "bus.commands", "serve", "semantic",
)  # fmt: skip


def _version() -> str:
    from . import __version__

    return __version__


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _say(message: str) -> None:
    """Print ``reasoningbank: MESSAGE`` as exactly one line on stderr."""
    print(_one_line("reasoningbank: " + message), file=sys.stderr)


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
    """Run one command; every failure is one line on stderr (exit 1, usage errors 2).

    Set ``REASONINGBANK_DEBUG=1`` to see the traceback of an unexpected error.
    """
    argv = sys.argv[1:] if argv is None else argv
    try:
        _check_utf8(argv)
        args = build_parser().parse_args(argv)
        result = args.handler(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except ReasoningBankError as exc:
        _say(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except BrokenPipeError:  # e.g. `reasoningbank stats | head -1`: not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's flush quiet
        return 0
    except Exception as exc:  # the last resort: a bug still gets one line, not a traceback
        if os.environ.get("REASONINGBANK_DEBUG"):
            raise
        _say(
            f"error: unexpected {type(exc).__name__}: {exc} "
            "(a bug: please report it; REASONINGBANK_DEBUG=1 shows the traceback)"
        )
        return 1
