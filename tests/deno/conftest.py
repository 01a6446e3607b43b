"""Pyodide under Deno (npm ``deno``, installed into .browser-deps by
scripts/install-test-deps.sh). Collected only with ``RB_BROWSER_TESTS=1``, like the Node and
browser runs of the same checks (scripts/run-browser-tests.sh)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "pyodide"))

if os.environ.get("RB_BROWSER_TESTS") != "1":
    collect_ignore_glob = ["test_*.py"]


def pytest_configure(config: pytest.Config) -> None:
    # test_pyodide_core (whose helpers we reuse) marks a test with it.
    config.addinivalue_line("markers", "browser_only: not applicable to Pyodide in Node")
