"""The JupyterLite example (examples/jupyterlite/): a site built with pip jupyterlite-core and
jupyterlite-pyodide-kernel, Pyodide copied in and the wheel in the site's own package index;
in Chromium, with every request off this machine refused, the demo notebook installs the
wheel with ``%pip`` and uses an IndexedDB bank, which is still there after a reload."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from browsers import DEPS, ROOT, launch, offline_context
from test_pyscript import _Static

pytest.importorskip("jupyterlite_core", reason="pip jupyterlite-core: scripts/install-test-deps.sh")

KERNEL_IDLE = """
() => {
  const panel = window.jupyterapp?.shell?.currentWidget;
  const kernel = panel?.sessionContext?.session?.kernel;
  return !!kernel && kernel.status === 'idle' && panel.sessionContext.isReady;
}
"""
RUN_ALL = """
() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }
"""
RESULT = """
() => [...document.querySelectorAll('.jp-OutputArea-output')]
  .map((n) => n.textContent).find((t) => t.includes('RB-RESULT')) || null
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import functools
    import http.server

    out = tmp_path_factory.mktemp("jupyterlite")
    subprocess.run(
        [str(ROOT / "examples" / "jupyterlite" / "build.sh"), str(out), str(DEPS / "pyodide-dist")],
        check=True, capture_output=True,
    )  # fmt: skip
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Static, directory=str(out))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def run_notebook(page: Any, site: str) -> dict[str, Any]:
    page.goto(site + "lab/index.html?path=reasoningbank-demo.ipynb")
    page.wait_for_function(
        "window.jupyterapp && document.querySelector('.jp-Notebook')", timeout=180_000
    )
    # The kernel starts in a worker and loads its packages first (minutes on a busy machine).
    page.wait_for_function(KERNEL_IDLE, timeout=600_000, polling=1000)
    page.evaluate(RUN_ALL)
    text = page.wait_for_function(RESULT, timeout=600_000, polling=1000).json_value()
    return json.loads(text.split("RB-RESULT", 1)[1])  # type: ignore[no-any-return]


def test_notebook_installs_the_wheel_and_uses_indexeddb(playwright: Any, site: str) -> None:
    browser = launch(playwright, "chromium")
    try:
        ctx, refused = offline_context(browser)
        page = ctx.new_page()
        first = run_notebook(page, site)
        second = run_notebook(page, site)
    finally:
        browser.close()
    assert refused == []
    assert first["best"] == "test-driven" and first["backend"] == "idb"
    assert first["runtime"] == "pyodide-worker"  # the kernel runs in a worker
    assert first["before"] == 0 and second["before"] == 1  # persisted across the reload
