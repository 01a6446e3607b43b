"""pytest-pyodide setup: Debian browsers, fake-indexeddb in Node, and our wheel.

Run (after scripts/install-test-deps.sh and ./build_wheel.sh), as scripts/run-browser-tests.sh
does:

    RB_BROWSER_TESTS=1 pytest tests/pyodide --runtime node,chrome,firefox \\
        --runner playwright --dist-dir .browser-deps/pyodide-dist

Without ``RB_BROWSER_TESTS=1`` these tests are not collected, so a plain ``pytest`` run
needs no browser.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DEPS = Path(os.environ.get("RB_BROWSER_DEPS", ROOT / ".browser-deps"))

if os.environ.get("RB_BROWSER_TESTS") != "1":
    collect_ignore_glob = ["test_pyodide_*.py"]

sys.path.insert(0, str(HERE))


def browser_binary(name: str) -> str:
    """Path of a Debian browser binary (override with RB_CHROMIUM / RB_FIREFOX)."""
    env = {"chromium": "RB_CHROMIUM", "firefox-esr": "RB_FIREFOX"}[name]
    path = os.environ.get(env) or shutil.which(name)
    if not path:
        raise RuntimeError(f"{name} not found: run scripts/install-test-deps.sh")
    return path


def launch_browser(playwright, runtime: str, **kwargs):  # type: ignore[no-untyped-def]
    """Launch a Debian browser through Playwright (never Playwright's own builds)."""
    if runtime == "chrome":
        args = [
            "--no-sandbox",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            *kwargs.pop("args", []),
        ]
        return playwright.chromium.launch(
            executable_path=browser_binary("chromium"), args=args, **kwargs
        )
    if runtime == "firefox":
        # Stock Firefox speaks WebDriver BiDi, which Playwright selects with this channel.
        return playwright.firefox.launch(
            executable_path=browser_binary("firefox-esr"), channel="moz-firefox", **kwargs
        )
    raise ValueError(f"no Playwright browser for runtime {runtime!r}")


def _use_debian_browsers() -> None:
    """Replace pytest-pyodide's Playwright launcher: Debian binaries, and Node left to its
    own runner, so that one run can cover ``--runtime node,chrome,firefox``."""
    import pytest_pyodide.fixture as fixture
    from pytest_pyodide.config import get_global_config
    from pytest_pyodide.hook import pytest_wrapper

    def _playwright_browsers(request):  # type: ignore[no-untyped-def]
        if request.config.option.runner.lower() != "playwright":
            yield {}
            return
        from playwright.sync_api import sync_playwright

        cfg = get_global_config()
        with sync_playwright() as p:
            browsers = {}
            try:
                for runtime in pytest_wrapper.pyodide_runtimes:
                    if runtime in ("chrome", "firefox"):
                        browsers[runtime] = launch_browser(p, runtime, args=cfg.get_flags(runtime))
            except Exception as exc:
                pytest.exit(f"playwright failed to launch a Debian browser\n{exc}", returncode=1)
            try:
                yield browsers
            finally:
                for browser in browsers.values():
                    browser.close()

    fixture._playwright_browsers = _playwright_browsers


def _node_indexeddb() -> None:
    """Node has no IndexedDB: preload fake-indexeddb and expose its globals to the vm
    context pytest-pyodide runs Pyodide in."""
    from pytest_pyodide.config import get_global_config

    auto = DEPS / "node_modules" / "fake-indexeddb" / "auto" / "index.js"
    if not auto.exists():
        raise RuntimeError(f"{auto} missing: run scripts/install-test-deps.sh")
    opts = os.environ.get("NODE_OPTIONS", "")
    if str(auto) not in opts:
        os.environ["NODE_OPTIONS"] = f"{opts} --require {auto}".strip()
    get_global_config().add_node_extra_globals(
        [
            "indexedDB",
            "IDBKeyRange",
            "IDBFactory",
            "IDBDatabase",
            "IDBTransaction",
            "IDBObjectStore",
            "IDBIndex",
            "IDBCursor",
            "IDBCursorWithValue",
            "IDBRequest",
            "IDBOpenDBRequest",
            "IDBVersionChangeEvent",
            "BroadcastChannel",
            "DOMException",
            "structuredClone",
            "performance",
        ]
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser_only: not applicable to Pyodide in Node")
    if os.environ.get("RB_BROWSER_TESTS") != "1":
        return
    _use_debian_browsers()
    _node_indexeddb()
    # The wheel the browsers load: build_wheel.sh's output, served from the dist dir.
    wheel_dir = Path(os.environ.get("RB_WHEEL_DIR", ROOT / "dist"))
    wheels = sorted(wheel_dir.glob("reasoningbank-*-py3-none-any.whl"))
    if not wheels:
        raise pytest.UsageError(f"no wheel in {wheel_dir}: run ./build_wheel.sh first")
    dist_dir = Path(config.option.dist_dir)
    for old in dist_dir.glob("reasoningbank-*.whl"):
        old.unlink()
    shutil.copy2(wheels[-1], dist_dir / wheels[-1].name)
    config._rb_wheel = wheels[-1].name  # type: ignore[attr-defined]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``browser_only`` do not apply to Node: deselect them there (not skip)."""
    keep, drop = [], []
    for item in items:
        runtime = getattr(item, "callspec", None) and item.callspec.params.get("runtime")
        (drop if item.get_closest_marker("browser_only") and runtime == "node" else keep).append(
            item
        )
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def rb(request: pytest.FixtureRequest, selenium):  # type: ignore[no-untyped-def]
    """A Pyodide runtime with our wheel installed (pyodide.loadPackage, failures raised)."""
    wheel = request.config._rb_wheel  # type: ignore[attr-defined]
    selenium.load_package([f"{selenium.base_url}/{wheel}"])
    return selenium
