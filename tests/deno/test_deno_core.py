"""The core checks inside Pyodide under Deno, compared with CPython as under Node (the same
calls as tests/pyodide/test_pyodide_core.py; fake-indexeddb is the IndexedDB)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import checks
import pytest
from test_pyodide_core import assert_close, reference

ROOT = Path(__file__).resolve().parents[2]
DEPS = Path(os.environ.get("RB_BROWSER_DEPS", ROOT / ".browser-deps"))
DENO = DEPS / "node_modules" / ".bin" / "deno"

CALLS = [
    "check_runtime('pyodide-node')",
    "check_store('idb://deno-store')",
    "check_find('idb://deno-find')",
    "check_learning('idb://deno-learn')",
    "check_persist_write('idb://deno-persist')",
    "check_persist_read('idb://deno-persist')",
    "check_idb_store('deno-proto')",
    "check_idb_replace_and_revive('deno-revive')",
    "check_dense('js')",
    "check_idb_compaction('deno-snap')",
    "check_bank_with_js_dense()",
]


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    if not DENO.exists():
        raise RuntimeError(f"{DENO} missing: run scripts/install-test-deps.sh")
    wheel_dir = Path(os.environ.get("RB_WHEEL_DIR", ROOT / "dist"))
    wheel = sorted(wheel_dir.glob("reasoningbank-*-py3-none-any.whl"))[-1]
    done = subprocess.run(
        [
            str(DENO),
            "run",
            "--allow-read",
            "--allow-env",
            str(Path(__file__).with_name("run_checks.mjs")),
            str(DEPS),
            str(wheel),
            str(ROOT / "tests" / "pyodide" / "checks.py"),
            json.dumps(CALLS),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "DENO_NO_UPDATE_CHECK": "1", "NO_COLOR": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def ok(results: dict[str, Any], call: str) -> Any:
    got = results[call]
    assert "ok" in got, got.get("error")
    return got["ok"]


def test_runtime_is_pyodide_under_deno(results: dict[str, Any]) -> None:
    assert ok(results, CALLS[0]) == "pyodide-node"  # Deno offers Node's `process`


def test_store_find_learning_match_cpython(results: dict[str, Any]) -> None:
    assert json.loads(ok(results, CALLS[1])) == reference("check_store(':memory:')")
    assert_close(json.loads(ok(results, CALLS[2])), reference("check_find(':memory:')"))
    assert_close(json.loads(ok(results, CALLS[3])), reference("check_learning(':memory:')"), 1e-9)


def test_indexeddb_store_and_reopen(results: dict[str, Any]) -> None:
    assert ok(results, CALLS[4]) == "ok"
    got = json.loads(ok(results, CALLS[5]))
    assert got and got[0][0] in {p["id"] for p in checks.patterns()}
    for call in CALLS[6:8] + CALLS[9:]:
        assert ok(results, call) == "ok", call


def test_js_dense_kernel_matches_numpy(results: dict[str, Any]) -> None:
    got = json.loads(ok(results, "check_dense('js')"))
    want = reference("check_dense('numpy')")
    assert [[s for s, _ in t] for t in got["top"]] == [[s for s, _ in t] for t in want["top"]]
    assert_close(got, want)
