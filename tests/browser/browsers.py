"""Launching the Debian browsers (never Playwright's own builds) for the browser tests."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[2]
DEPS = Path(os.environ.get("RB_BROWSER_DEPS", ROOT / ".browser-deps"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MINIBROWSER_DIRS = (
    "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1",
    "/usr/lib/aarch64-linux-gnu/webkit2gtk-4.1",
)


def binary(name: str) -> str:
    """Path of a browser binary; RB_CHROMIUM / RB_FIREFOX / RB_MINIBROWSER override."""
    env = {
        "chromium": "RB_CHROMIUM",
        "firefox-esr": "RB_FIREFOX",
        "MiniBrowser": "RB_MINIBROWSER",
        "WebKitWebDriver": "RB_WEBKITDRIVER",
    }[name]
    path = os.environ.get(env) or shutil.which(name)
    if not path and name == "MiniBrowser":
        path = next(
            (str(Path(d) / name) for d in MINIBROWSER_DIRS if (Path(d) / name).exists()), None
        )
    if not path:
        raise RuntimeError(f"{name} not found: run scripts/install-test-deps.sh")
    return path


def launch_options(engine: str) -> dict[str, Any]:
    if engine == "chromium":
        return {"executable_path": binary("chromium"), "args": list(CHROMIUM_ARGS)}
    if engine == "firefox":
        # Stock Firefox is driven over WebDriver BiDi, which Playwright selects with this channel.
        return {"executable_path": binary("firefox-esr"), "channel": "moz-firefox"}
    raise ValueError(engine)


def launch(playwright: Any, engine: str, **kwargs: Any) -> Any:
    opts = launch_options(engine)
    if "args" in kwargs:
        opts["args"] = opts.get("args", []) + kwargs.pop("args")
    return getattr(playwright, engine).launch(**opts, **kwargs)


def launch_persistent(playwright: Any, engine: str, user_data_dir: Path, **kwargs: Any) -> Any:
    """A browser with a profile on disk: what it stores survives a restart."""
    return getattr(playwright, engine).launch_persistent_context(
        str(user_data_dir), **launch_options(engine), **kwargs
    )


@contextlib.contextmanager
def webkit_driver(script_timeout: float) -> Iterator[Any]:
    """A Selenium session on WebKitGTK's MiniBrowser (it needs a display: ``xvfb-run -a``)."""
    if not os.environ.get("DISPLAY"):
        import pytest

        pytest.fail(
            "WebKitGTK needs a display: run under `xvfb-run -a` (the scripts/run-*-tests.sh do)"
        )
    from selenium import webdriver
    from selenium.webdriver.webkitgtk.options import Options
    from selenium.webdriver.webkitgtk.service import Service

    options = Options()
    options.binary_location = binary("MiniBrowser")
    options.add_argument("--automation")
    driver = webdriver.WebKitGTK(
        options=options, service=Service(executable_path=binary("WebKitWebDriver"))
    )
    driver.set_script_timeout(script_timeout)
    try:
        yield driver
    finally:
        driver.quit()


def offline_context(browser: Any) -> tuple[Any, list[str]]:
    """A browser context that may reach only 127.0.0.1, and the list of every URL it refused
    (a test asserts it stays empty: nothing came from a CDN)."""
    refused: list[str] = []

    def local_only(route: Any) -> None:
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    ctx = browser.new_context()
    ctx.route("**/*", local_only)
    return ctx, refused
