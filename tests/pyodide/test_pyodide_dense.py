"""The WebAssembly SIMD dense kernel (reasoningbank/vectors/dense.wat) inside Pyodide: it is the
kernel picked in Node, Chromium and Firefox, and its top-k and cosines equal the
pure-Python reference for any dimension, through growth, removals and re-adds, with and
without the int8 first scan. Also: the committed dense.wasm is what dense.wat assembles to."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import DEPS, ROOT
from test_pyodide_core import CHECKS

DENSE = CHECKS + (Path(__file__).parent / "dense_checks.py").read_text(encoding="utf-8")
WAT = ROOT / "reasoningbank" / "vectors" / "dense.wat"
WASM = ROOT / "reasoningbank" / "vectors" / "dense.wasm"


def run_dense(selenium, call: str):  # type: ignore[no-untyped-def]
    return selenium.run_async(DENSE + f"\nawait {call}\n")


def test_wasm_kernel_is_the_default(rb):
    got = json.loads(run_dense(rb, "check_dense_kernels()"))
    assert got == {"kernels": ["wasm-simd", "js"], "default": "wasm-simd"}


@pytest.mark.parametrize(
    ("dim", "n"), [(3, 1500), (48, 1500), (100, 1500), (384, 1200), (1024, 400)]
)
@pytest.mark.parametrize("int8", [False, True], ids=["f32", "int8"])
def test_wasm_kernel_matches_python(rb, dim, n, int8):
    got = json.loads(run_dense(rb, f"check_dense_wasm({dim}, {int8}, {n})"))
    assert got["backend"] == "wasm-simd"
    # The first scan usually settles it: a few candidates per query beyond k.
    first = "scanI8" if int8 else "scanF32"
    assert first in got["scans"], got
    assert got["candidates"] < 3 * (1 + 5 + 10 + 100) * 4, got


def test_js_kernel_matches_python(rb):
    got = json.loads(run_dense(rb, "check_dense_wasm(100, False, 600, 'js')"))
    assert got == {"backend": "js", "scans": [], "candidates": 0}


@pytest.mark.parametrize("int8", [False, True], ids=["f32", "int8"])
def test_near_duplicates_fall_through_to_finer_scans(rb, int8):
    got = json.loads(run_dense(rb, f"check_dense_near_duplicates({int8})"))
    assert "scanF64" in got["0.001"][0], got  # float32 cannot separate these


def test_engine_without_simd_gets_no_wasm_kernel(rb):
    assert run_dense(rb, "check_dense_no_simd()") == "ok"


def test_wasm_is_small_enough_to_compile_synchronously():
    """Chromium refuses synchronous WebAssembly.Module() of more than 4 KB on the main
    thread; the glue compiles synchronously."""
    assert 8 < WASM.stat().st_size <= 4096
    assert WASM.read_bytes()[:8] == b"\0asm\1\0\0\0"


def test_committed_wasm_is_the_assembled_wat(tmp_path):
    """dense.wasm must be exactly what wabt's wat2wasm makes of dense.wat (default options:
    no names section), so the shipped bytes are the reviewed source. Regenerate with
    ``wat2wasm reasoningbank/vectors/dense.wat -o reasoningbank/vectors/dense.wasm`` (npm wabt, installed by
    scripts/install-test-deps.sh)."""
    tool = DEPS / "node_modules" / "wabt" / "bin" / "wat2wasm"
    if not tool.exists():
        pytest.fail(f"{tool} missing: run scripts/install-test-deps.sh")
    out = tmp_path / "dense.wasm"
    subprocess.run(
        ["node", str(tool), str(WAT), "-o", str(out)],
        check=True,
        env={**os.environ, "NODE_OPTIONS": ""},  # conftest preloads fake-indexeddb there
    )
    assert out.read_bytes() == WASM.read_bytes(), "dense.wasm is stale: reassemble dense.wat"
