"""Durable store-and-forward for a hub: relayed patterns in an append-only JSON-lines file.

Why a plain file: a hub holds signed patterns it cannot alter, needs no queries beyond "all
of them" at start-up, and must survive restarts so late syncers still catch up. Each accepted
pattern is appended as one canonical JSON line and flushed; at start-up every line is
re-verified (a corrupted or edited line is skipped, never trusted). File I/O lives here, at
the edge, not in the sans-IO ``hub`` module.
"""

from __future__ import annotations

import json
import os
from typing import Any

from .provenance import canonical_json

__all__ = ["HubStore"]


class HubStore:
    """Append-only pattern log at ``path`` (created if missing)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._fh: Any = None

    def load(self) -> list[dict[str, Any]]:
        """Every stored pattern that still parses (verification is the hub's job)."""
        out: list[dict[str, Any]] = []
        try:
            with open(self.path, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        item = json.loads(line)
                    except ValueError:
                        continue  # a torn last line after a crash, or an edit
                    if isinstance(item, dict):
                        out.append(item)
        except FileNotFoundError:
            pass
        return out

    def append(self, pattern: dict[str, Any]) -> None:
        if self._fh is None:
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
        self._fh.write(canonical_json(pattern).decode("utf-8") + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
