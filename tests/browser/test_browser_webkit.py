"""WebKit (WebKitGTK's MiniBrowser through Selenium and WebKitWebDriver, under Xvfb): the
core checks in Pyodide, the JS API, and IndexedDB across a reload.

Needs a display: scripts/run-browser-tests.sh runs pytest under ``xvfb-run -a``.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import checks
import pytest
import scenarios
from browsers import webkit_driver

CHECKS = (Path(__file__).resolve().parents[1] / "pyodide" / "checks.py").read_text(encoding="utf-8")
BOOT_TIMEOUT = 120.0


@pytest.fixture(scope="module")
def webkit() -> Iterator[Any]:
    with webkit_driver(BOOT_TIMEOUT) as driver:
        yield driver


def open_app(driver: Any, url: str, db: str) -> None:
    driver.get(f"{url}?nosw&db={db}")
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        state = driver.execute_script("return window.rbError || (window.rbReady ? 'ready' : null)")
        if state == "ready":
            return
        assert state is None, state
        time.sleep(0.2)
    raise AssertionError("the app did not start in WebKit")


def run_async(driver: Any, body: str, *args: Any) -> Any:
    ok, value = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];\n"
        f"(async () => {{ {body} }})().then((v) => done([true, v]), (e) => done([false, String(e && e.stack || e)]));",
        *args,
    )
    assert ok, value
    return value


def run_check(driver: Any, call: str) -> Any:
    return run_async(
        driver,
        "return await window.rb.pyodide.runPythonAsync(arguments[0]);",
        CHECKS + f"\nawait {call}\n",
    )


def reference(call: str) -> Any:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        name, _, args = call.partition("(")
        coro = getattr(checks, name)(*eval(f"({args[:-1]},)"))  # e.g. "check_find(':memory:')"
        return json.loads(pool.submit(asyncio.run, coro).result())


def close(a: Any, b: Any, tol: float = 1e-6) -> bool:
    if isinstance(a, list):
        return (
            isinstance(b, list)
            and len(a) == len(b)
            and all(close(x, y, tol) for x, y in zip(a, b, strict=False))
        )
    if isinstance(a, dict):
        return (
            isinstance(b, dict) and a.keys() == b.keys() and all(close(a[k], b[k], tol) for k in a)
        )
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, abs_tol=tol)
    return bool(a == b)


def test_webkit_core_checks_match_cpython(webkit, app_url):
    open_app(webkit, app_url, "wk-boot")
    assert run_check(webkit, "check_runtime('pyodide-browser')") == "pyodide-browser"
    loc = f"idb://wk-{uuid.uuid4().hex[:8]}"
    assert json.loads(run_check(webkit, f"check_store({loc + 's'!r})")) == reference(
        "check_store(':memory:')"
    )
    assert close(
        json.loads(run_check(webkit, f"check_find({loc + 'f'!r})")),
        reference("check_find(':memory:')"),
    )
    assert close(
        json.loads(run_check(webkit, f"check_learning({loc + 'l'!r})")),
        reference("check_learning(':memory:')"),
        1e-9,
    )
    assert run_check(webkit, f"check_idb_store({loc[6:] + 'p'!r})") == "ok"


def test_webkit_js_api(webkit, app_url):
    open_app(webkit, app_url, "wk-boot")
    ok, result = webkit.execute_async_script(
        scenarios.selenium_js(), f"wk-api-{uuid.uuid4().hex[:8]}"
    )
    assert ok, result
    scenarios.check(result)


def test_webkit_indexeddb_survives_reload(webkit, app_url):
    loc = f"idb://wk-persist-{uuid.uuid4().hex[:8]}"
    open_app(webkit, app_url, "wk-boot")
    assert run_check(webkit, f"check_persist_write({loc!r})") == "ok"
    webkit.refresh()
    open_app(webkit, app_url, "wk-boot")
    assert json.loads(run_check(webkit, f"check_persist_read({loc!r})"))


def test_webkit_runs_the_webassembly_dense_kernel(webkit, app_url):
    """WebKitGTK validates the SIMD module, so it gets the kernel Chromium and Firefox get,
    with the same exact answers (the checks of tests/pyodide/test_pyodide_dense.py)."""
    dense = CHECKS + (
        Path(__file__).resolve().parents[1] / "pyodide" / "dense_checks.py"
    ).read_text(encoding="utf-8")

    def run(call: str) -> Any:
        return json.loads(
            run_async(
                webkit,
                "return await window.rb.pyodide.runPythonAsync(arguments[0]);",
                dense + f"\nawait {call}\n",
            )
        )

    open_app(webkit, app_url, "wk-boot")
    assert run("check_dense_kernels()") == {"kernels": ["wasm-simd", "js"], "default": "wasm-simd"}
    for dim, int8 in ((3, False), (384, False), (384, True)):
        got = run(f"check_dense_wasm({dim}, {int8}, 800)")
        assert got["backend"] == "wasm-simd" and got["scans"], got
    assert "scanF64" in run("check_dense_near_duplicates(False)")["0.001"][0]


def test_webkit_page_scenario(webkit, app_url):
    """The page scenario of test_browser_page.py, in WebKit."""
    foreign = scenarios.foreign_bundle()
    open_app(webkit, app_url, f"wk-page-{uuid.uuid4().hex[:8]}")
    ok, out = webkit.execute_async_script(scenarios.page_selenium_js(), foreign)
    assert ok, out
    scenarios.check_page(out, foreign)
