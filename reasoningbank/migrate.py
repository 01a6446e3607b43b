"""Bring memory from other ReasoningBanks: an idempotent, atomic import (readers: ``import_sources``).

Sources (``--format``, detected by default):

* ``agentic-flow``  the TypeScript ReasoningBank of npm ``agentic-flow`` (``.swarm/memory.db``):
  ``patterns`` rows of ``type='reasoning_memory'`` whose ``pattern_data`` JSON holds title,
  description, content, source{task_id, agent_id, outcome, evidence}, tags, domain, …, plus
  ``pattern_embeddings``, ``pattern_links`` and ``task_trajectories``.
* ``rust-sqlite``   the Rust ``reasoningbank-storage`` crate: either the column layout of
  ``SqliteStorage`` (context/outcome/metadata JSON columns, f32 little-endian embedding blob)
  or the adapter layout (whole pattern JSON in ``data``, vectors in ``pattern_embeddings``).
* ``json`` / ``jsonl``  pattern JSON as ReasoningBankWasm, the Rust crates and this library
  write it: an array (or ``{"patterns": [...]}``), or one object per line.
* ``bundle``        a signed export of this library (see ``reasoningbank.bundle``).

Guarantees: ids are kept (a record without one gets an id derived from its content, so a
re-import finds it again); a pattern whose id is already in the bank is skipped, never
overwritten, so importing twice duplicates nothing and loses no learning done in between;
every source field lands somewhere (unknown fields go to ``metadata``); every record that is
not imported is listed with the reason. Atomic by default: one invalid record stores nothing
(``skip_invalid`` imports the others). ``dry_run`` reads and validates everything and writes
nothing. Hostile sources (odd table names, wrong column types, rows over
``MAX_SOURCE_ROW_BYTES``, JSON nested past the parser) give a clear error, never a traceback.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from .errors import ImportFailed, InvalidPattern
from .import_sources import (
    FORMATS,
    MAX_SOURCE_ROW_BYTES,
    SourceRecord,
    TrustedKeys,
    detect_format,
    read_source,
)
from .model import Pattern

__all__ = [
    "FORMATS",
    "MAX_SOURCE_ROW_BYTES",
    "ImportReport",
    "InvalidRecords",
    "Progress",
    "SourceRecord",
    "detect_format",
    "import_file",
    "read_source",
]

#: Patterns stored per transaction while importing.
_BATCH = 500


@dataclass
class ImportReport:
    """What an import did (or, with ``dry_run``, would do)."""

    source: str
    format: str
    dry_run: bool
    read: int = 0
    imported: list[str] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    signer: str | None = None

    def skip(
        self, where: str, reason: str, pattern_id: str | None = None, *, invalid: bool = False
    ) -> None:
        entry: dict[str, Any] = {"where": where, "reason": reason}
        if pattern_id:
            entry["id"] = pattern_id
        if invalid:
            entry["invalid"] = True
        self.skipped.append(entry)

    @property
    def invalid(self) -> list[dict[str, Any]]:
        """The skipped records that were bad (not those already in the bank or not memories)."""
        return [s for s in self.skipped if s.get("invalid")]

    def reasons(self) -> dict[str, int]:
        """Skip reasons with counts (reasons are grouped by their text before any ':')."""
        out: dict[str, int] = {}
        for s in self.skipped:
            key = s["reason"].split(":", 1)[0]
            out[key] = out.get(key, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "format": self.format,
            "dry_run": self.dry_run,
            "read": self.read,
            "imported": len(self.imported),
            "imported_ids": list(self.imported),
            "skipped": len(self.skipped),
            "invalid": len(self.invalid),
            "skipped_by_reason": self.reasons(),
            "skipped_records": list(self.skipped),
            "notes": list(self.notes),
            "signer": self.signer,
        }

    def summary(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        lines = [
            f"{self.source} ({self.format}): read {self.read}, {verb} {len(self.imported)}, "
            f"skipped {len(self.skipped)}"
        ]
        if self.signer:
            lines.append(f"  signed by {self.signer} (signature and hashes verified)")
        for reason, n in sorted(self.reasons().items(), key=lambda kv: -kv[1]):
            lines.append(f"  skipped {n}: {reason}")
        shown = [s for s in self.skipped if not s.get("invalid")][:20] + self.invalid
        for s in shown:  # every invalid record, and the first others
            lines.append(f"    {s['where']}: {s['reason']}")
        if len(self.skipped) > len(shown):
            lines.append(f"    … and {len(self.skipped) - len(shown)} more (see --json)")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


class InvalidRecords(ImportFailed):
    """An atomic import met invalid records: nothing was stored; ``report.invalid`` lists
    every one (where and why)."""

    def __init__(self, report: ImportReport) -> None:
        n = len(report.invalid)
        super().__init__(
            f"{report.source}: {n} invalid record{'s' if n != 1 else ''}, nothing imported "
            "(fix them, or --skip-invalid to import the others)"
        )
        self.report = report


class Progress:
    """A one-line progress bar on ``stream`` (stderr), drawn only when ``enabled``."""

    def __init__(
        self, label: str, *, enabled: bool | None = None, stream: TextIO | None = None
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.label = label
        self._last = -1.0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        frac = min(done / total, 1.0)
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        width = 30
        bar = "#" * int(frac * width) + "." * (width - int(frac * width))
        self.stream.write(f"\r{self.label} [{bar}] {done}/{total}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


# -- import --------------------------------------------------------------------------------
async def import_file(
    bank: Any,
    path: str | os.PathLike[str],
    *,
    format: str = "auto",
    dry_run: bool = False,
    embeddings: str = "auto",
    progress: Callable[[int, int], None] | None = None,
    trusted_keys: TrustedKeys = None,
    skip_invalid: bool = False,
) -> ImportReport:
    """Import ``path`` into ``bank`` (a ``ReasoningBank``); see the module docstring.

    Atomic by default: if any record is invalid, ``InvalidRecords`` lists every one and
    nothing is stored (a dry run checks the same). With ``skip_invalid`` the others are
    imported and the invalid ones are reported as skipped. Raises ``ImportFailed`` when the
    source as a whole cannot be read or verified.
    """
    fmt, records, notes, signer = read_source(
        path, format, embeddings=embeddings, trusted_keys=trusted_keys
    )
    report = ImportReport(
        source=os.fspath(path), format=fmt, dry_run=dry_run, notes=notes, signer=signer
    )
    report.read = len(records)
    staged = await _stage(bank, records, report)
    if report.invalid and not skip_invalid:
        raise InvalidRecords(report)
    total = len(staged)
    if progress:
        progress(0, total)
    if skip_invalid and not dry_run:  # in batches, each its own transaction
        for start in range(0, total, _BATCH):
            await _store_batch(bank, staged[start : start + _BATCH], report)
            if progress:
                progress(min(start + _BATCH, total), total)
        return report
    if dry_run:
        report.imported.extend(p["id"] for _, p in staged)
    else:  # one transaction: all or nothing
        try:
            report.imported.extend(await bank.store_patterns([p for _, p in staged]))
        except InvalidPattern as exc:
            raise ImportFailed(
                f"{report.source}: the bank refused it, nothing imported: {exc}"
            ) from exc
    if progress:
        progress(total, total)
    return report


async def _stage(
    bank: Any, records: list[SourceRecord], report: ImportReport
) -> list[tuple[str, dict[str, Any]]]:
    """Validate every record (recording in ``report`` why one is skipped or invalid);
    returns the (where, pattern) pairs to store."""
    now = time.time()
    seen: set[str] = set()
    dims: int | None = None
    staged: list[tuple[str, dict[str, Any]]] = []
    for rec in records:
        if rec.pattern is None:
            report.skip(rec.where, rec.error or "unreadable", invalid=rec.invalid)
            continue
        pid = str(rec.pattern.get("id"))
        try:
            pattern = Pattern.from_dict(rec.pattern, new_id=pid, now=now)
        except InvalidPattern as exc:
            report.skip(rec.where, f"invalid pattern: {exc}", pid, invalid=True)
            continue
        if pattern.embedding is not None:
            dims = dims or len(pattern.embedding)
            if len(pattern.embedding) != dims:
                report.skip(
                    rec.where,
                    f"invalid pattern: embedding has dimension {len(pattern.embedding)}, "
                    f"earlier records have {dims}",
                    pid,
                    invalid=True,
                )
                continue
        if pid in seen:
            report.skip(rec.where, "duplicate id in this file: first one kept", pid)
            continue
        seen.add(pid)
        if await bank.get_pattern(pid) is not None:
            report.skip(rec.where, "already in the bank: kept as it is", pid)
            continue
        staged.append((rec.where, rec.pattern))
    return staged


async def _store_batch(
    bank: Any, batch: list[tuple[str, dict[str, Any]]], report: ImportReport
) -> None:
    try:
        ids = await bank.store_patterns([p for _, p in batch])
        report.imported.extend(ids)
        return
    except InvalidPattern:
        pass  # one bad record fails its whole transaction: retry one by one to name it
    for where, pattern in batch:
        try:
            report.imported.append(await bank.store_pattern(pattern))
        except InvalidPattern as exc:
            report.skip(where, f"refused by the bank: {exc}", pattern.get("id"), invalid=True)
