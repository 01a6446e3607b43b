"""The core behaviours (store, find, learning, persistence, the IndexedDB store) inside
Pyodide, compared with the same checks under CPython."""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import checks
import pytest

CHECKS = (Path(__file__).parent / "checks.py").read_text(encoding="utf-8")


def run_check(selenium, call: str):  # type: ignore[no-untyped-def]
    return selenium.run_async(CHECKS + f"\nawait {call}\n")


def location(selenium) -> str:  # type: ignore[no-untyped-def]
    return f"idb://test-{selenium.browser}-{uuid.uuid4().hex[:8]}"


def reference(call: str) -> object:
    """The same check under CPython (in a thread: the test process already runs a loop)."""
    with ThreadPoolExecutor(1) as pool:
        name, _, args = call.partition("(")
        coro = getattr(checks, name)(*eval(f"({args[:-1]},)"))  # e.g. "check_find(':memory:')"
        return json.loads(pool.submit(asyncio.run, coro).result())


def assert_close(a: object, b: object, tol: float = 1e-6) -> None:
    if isinstance(a, float) or isinstance(b, float):
        assert math.isclose(a, b, abs_tol=tol), (a, b)  # type: ignore[arg-type]
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), (a, b)
        for x, y in zip(a, b, strict=False):
            assert_close(x, y, tol)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), (a, b)
        for k in a:
            assert_close(a[k], b[k], tol)
    else:
        assert a == b, (a, b)


def test_runtime_is_detected(rb):
    expected = "pyodide-node" if rb.browser == "node" else "pyodide-browser"
    assert run_check(rb, f"check_runtime({expected!r})") == expected


def test_default_location_is_indexeddb(rb):
    storage = json.loads(run_check(rb, "check_default_location()"))
    assert storage == {"backend": "idb", "location": "idb://reasoningbank", "fallback": None}


def test_store_and_get(rb):
    got = json.loads(run_check(rb, f"check_store({location(rb)!r})"))
    assert got == reference("check_store(':memory:')")


def test_find_similar_matches_cpython(rb):
    """Rankings and scores equal the CPython (numpy) results within 1e-6."""
    got = json.loads(run_check(rb, f"check_find({location(rb)!r})"))
    assert_close(got, reference("check_find(':memory:')"))


def test_learning_matches_cpython(rb):
    got = json.loads(run_check(rb, f"check_learning({location(rb)!r})"))
    assert_close(got, reference("check_learning(':memory:')"), 1e-9)


def test_bank_survives_close_and_reopen(rb):
    loc = location(rb)
    assert run_check(rb, f"check_persist_write({loc!r})") == "ok"
    got = json.loads(run_check(rb, f"check_persist_read({loc!r})"))
    assert got and got[0][0] in {p["id"] for p in checks.patterns()}


@pytest.mark.browser_only  # Node has no page to reload; fake-indexeddb lives in memory
def test_bank_survives_page_reload(rb, request):
    loc = location(rb)
    assert run_check(rb, f"check_persist_write({loc!r})") == "ok"
    rb.refresh()
    rb.load_pyodide()
    rb.initialize_pyodide()
    rb.load_package([f"{rb.base_url}/{request.config._rb_wheel}"])
    assert json.loads(run_check(rb, f"check_persist_read({loc!r})"))


def test_idb_store_protocol(rb):
    assert run_check(rb, f"check_idb_store({location(rb)[6:]!r})") == "ok"


def test_idb_writes_skip_only_needless_deletes(rb):
    assert run_check(rb, f"check_idb_replace_and_revive({location(rb)[6:]!r})") == "ok"


def test_js_dense_kernel_matches_numpy(rb):
    """The JS vector kernel's top-k and cosines equal numpy's within 1e-6."""
    got = json.loads(run_check(rb, "check_dense('js')"))
    want = reference("check_dense('numpy')")
    assert [[s for s, _ in top] for top in got["top"]] == [
        [s for s, _ in top] for top in want["top"]
    ]
    assert_close(got, want)


def test_idb_load_after_compaction_equals_load_before(rb):
    assert run_check(rb, f"check_idb_compaction({location(rb)[6:]!r})") == "ok"


def test_bank_with_js_dense_index(rb):
    assert run_check(rb, "check_bank_with_js_dense()") == "ok"
