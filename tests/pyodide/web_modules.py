"""The JS API's ES modules placed in the dist dir the pytest-pyodide server serves, so a test
can ``import(`${base}/reasoningbank.js`)`` (which imports boot.js beside it)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "web"
MODULES = ("reasoningbank.js", "boot.js")


@contextmanager
def served_web_modules(dist: Path) -> Iterator[Path]:
    """Copies the modules into ``dist`` and removes them afterwards."""
    for name in MODULES:
        shutil.copy2(WEB / name, dist / name)
    try:
        yield dist
    finally:
        for name in MODULES:
            (dist / name).unlink(missing_ok=True)
