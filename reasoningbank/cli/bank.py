"""Commands over the public ``ReasoningBank`` API: store, get, search, recommend, outcome,
stats and bench. Read commands open with ``create=False``: a mistyped ``--db`` says "no bank
at PATH" instead of leaving an empty bank behind."""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from collections.abc import Callable
from typing import Any

from ..bank import ReasoningBank
from ..errors import InvalidPattern, NotFound, ReasoningBankError
from ..files import decode_utf8, load_json
from .run import Output

__all__ = ["bench", "get", "outcome", "read_file", "recommend", "search", "stats", "store"]


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


async def open_bank(args: Namespace, **options: Any) -> ReasoningBank:
    """The bank named by ``--db`` (or the default location), re-indexing with a progress bar."""
    options.setdefault("progress", progress_printer("re-indexing"))
    return await ReasoningBank.open(args.db, **options)


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


def _needs_outcome(args: Namespace) -> None:
    if args.score is None and args.success is None:
        raise InvalidPattern("give the outcome: --success, --failure or --score X")


async def store(args: Namespace) -> Output:
    """Store one pattern from flags, or the patterns of ``--file``; prints their ids."""
    if args.file:
        data = sys.stdin.buffer.read() if args.file == "-" else read_file(args.file)
        patterns = _parse_json_patterns(data, "standard input" if args.file == "-" else args.file)
    else:
        patterns = [_pattern_from_flags(args)]
    async with await open_bank(args) as bank:
        ids = await bank.store_patterns(patterns)
    return Output({"ids": ids}, "\n".join(ids))


def _pattern_from_flags(args: Namespace) -> dict[str, Any]:
    missing = [f for f in ("task", "category", "strategy") if not getattr(args, f)]
    if missing:
        raise InvalidPattern("missing " + ", ".join("--" + m for m in missing) + " (or use --file)")
    _needs_outcome(args)
    context = {}
    for item in args.context or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidPattern(f"--context takes key=value, got {item!r}")
        context[key] = value
    outcome: dict[str, Any] = {"success": args.success, "success_score": args.score}
    if args.duration is not None:
        outcome["duration_seconds"] = args.duration
    return {
        "task_description": args.task, "task_category": args.category,
        "strategy": args.strategy, "context": context, "outcome": outcome,
        "tags": [t for t in (args.tags or "").split(",") if t],
    }  # fmt: skip


async def get(args: Namespace) -> Output:
    """One pattern, as a short card or its full JSON."""
    async with await open_bank(args, create=False) as bank:
        pattern = await bank.get_pattern(args.id)
    if pattern is None:
        raise NotFound(f"no pattern with id {args.id!r}")
    doc = pattern.to_dict()
    meta, result = doc["metadata"], doc["outcome"]
    lines = [
        f"{key:18} {doc[key]}" for key in ("id", "task_description", "task_category", "strategy")
    ]
    lines.append(f"{'outcome':18} success={result['success']} score={result['success_score']}")
    lines.append(f"{'confidence':18} {meta['confidence']:.3f} (usage {meta['usage_count']})")
    if doc["context"]:
        lines.append(f"{'context':18} {json.dumps(doc['context'])}")
    return Output(doc, "\n".join(lines))


async def search(args: Namespace) -> Output:
    """Patterns similar to TEXT, as a table."""
    async with await open_bank(args, create=False) as bank:
        matches = await bank.find_similar(
            args.text, args.category, top_k=args.k, min_score=args.min_score
        )
    rows = [
        [f"{m.score:.3f}", f"{m.similarity:.3f}", m.pattern.task_category, _short(m.pattern.strategy, 20),
         _short(m.pattern.task_description), m.pattern.id]
        for m in matches
    ]  # fmt: skip
    headers = ["score", "sim", "category", "strategy", "task", "id"]
    return Output([m.to_dict() for m in matches], _table(rows, headers) if rows else "no matches")


async def recommend(args: Namespace) -> Output:
    """A strategy for TEXT with its confidence, then the next best ones."""
    async with await open_bank(args, create=False) as bank:
        rec = await bank.recommend_strategy(
            args.text, args.category, explore=args.explore, seed=args.seed
        )
    if rec.strategy is None:
        return Output(rec.to_dict(), "no evidence yet: store some patterns in this category first")
    lines = [
        f"{rec.strategy}  (confidence {rec.confidence:.2f}, {len(rec.evidence)} supporting patterns)"
    ]
    lines += [
        f"  then: {alt['strategy']} ({alt['confidence']:.2f})" for alt in rec.alternatives[1:4]
    ]
    return Output(rec.to_dict(), "\n".join(lines))


async def outcome(args: Namespace) -> Output:
    """Record a new outcome for a pattern; prints its new confidence."""
    _needs_outcome(args)
    async with await open_bank(args) as bank:
        pattern = await bank.record_outcome(args.id, success=args.success, score=args.score)
    meta = pattern.metadata
    text = f"{pattern.id}: confidence {meta.confidence:.3f} after {meta.usage_count} uses"
    return Output(pattern.to_dict(), text)


async def stats(args: Namespace) -> Output:
    """Counts per category, the success rate and where the bank lives."""
    async with await open_bank(args, create=False) as bank:
        doc = await bank.get_stats()
    storage = doc["storage"]
    lines = [
        f"patterns      {doc['total_patterns']} in {storage['location']} ({storage['backend']})",
        f"success rate  {doc['success_rate']:.3f}   contradictions {doc['contradictions']}",
    ]
    if doc["categories"]:
        rows = [[k, str(v)] for k, v in doc["categories"].items()]
        lines.append(_table(rows, ["category", "patterns"]))
    return Output(doc, "\n".join(lines))


async def bench(args: Namespace) -> Output:
    """Timings of bulk store, durable single store and find_similar (and the bus, --bus)."""
    from ..timings import run_benchmark

    result = await run_benchmark(n=args.n, queries=args.queries, progress=progress_printer("bench"))
    if args.bus:
        from ..bus.aio.loadgen import arun

        result["bus"] = await arun()
    lines = [
        f"{key:28} {value:.3f}" if isinstance(value, float) else f"{key:28} {value}"
        for key, value in result.items()
    ]
    return Output(result, "\n".join(lines))


def read_file(path: str, limit: int = -1) -> bytes:
    """The bytes of ``path`` (at most ``limit`` of them when given); one-line error if not."""
    try:
        with open(path, "rb") as fh:
            return fh.read(limit)
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
