"""``import`` and ``export``: patterns in and out of a bank, through ``migrate`` and ``bundle``.

An import is atomic: when records are invalid, nothing is stored and every one is listed on
stderr (exit 1), with the report on stdout for ``--json``.
"""

from __future__ import annotations

from argparse import Namespace

from ..bank import ReasoningBank, default_location
from ..bundle import export_bundle, export_jsonl, trusted_keys
from ..migrate import InvalidRecords, Progress, import_file
from .run import Output

__all__ = ["export", "import_"]


async def import_(args: Namespace) -> Output:
    """Import ``FILE``; a bundle must be signed by a key this bank trusts (or --trust-signer)."""
    location = args.db or default_location()
    async with await ReasoningBank.open(location) as bank:
        try:
            report = await import_file(
                bank,
                args.file,
                format=args.format,
                dry_run=args.dry_run,
                embeddings=args.embeddings,
                progress=Progress("importing", enabled=args.progress),
                trusted_keys=None if args.trust_signer else lambda: trusted_keys(location),
                skip_invalid=args.skip_invalid,
            )
        except InvalidRecords as exc:
            lines = [f"reasoningbank import: {exc}"]
            lines += [f"  {s['where']}: {s['reason']}" for s in exc.report.invalid]
            return Output(exc.report.to_dict(), None, status=1, errors="\n".join(lines))
    return Output(report.to_dict(), report.summary())


async def export(args: Namespace) -> Output:
    """Write every pattern to ``FILE`` as a signed bundle (or plain JSONL); a summary."""
    location = args.db or default_location()
    async with await ReasoningBank.open(location, create=False) as bank:
        if args.format == "jsonl":
            summary = await export_jsonl(bank, args.file)
        else:
            summary = await export_bundle(bank, args.file, location=location)
    signed = f", signed by {summary['public_key']}" if "public_key" in summary else ""
    lines = [
        f"exported {summary['count']} patterns to {summary['path']} ({summary['format']}{signed})"
    ]
    if summary["skipped"]:
        lines.append(f"skipped {summary['skipped']} that cannot be exported (fix or delete them):")
        lines += [f"  {s['id']}: {s['reason']}" for s in summary["skipped_patterns"]]
    return Output(summary, "\n".join(lines))
