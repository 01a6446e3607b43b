"""``micropip.install`` of our wheel, as Pyodide, PyScript and JupyterLite users add packages:
from its URL, from a file in Pyodide's file system (``emfs:``), and by name from the package
index that ``reasoningbank serve`` exposes at ``/simple/``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

DEPS = Path(
    os.environ.get("RB_BROWSER_DEPS", Path(__file__).resolve().parents[2] / ".browser-deps")
)

USE = """
import importlib.metadata, json, site
import reasoningbank
from reasoningbank import ReasoningBank
bank = await ReasoningBank.open(':memory:')
pid = await bank.store_pattern({'task_description': 'refresh oauth tokens',
    'task_category': 'auth', 'strategy': 'retry', 'success_score': 0.9})
found = await bank.find_similar('oauth tokens', 'auth', 3)
json.dumps({'version': importlib.metadata.version('reasoningbank'),
            'installed': reasoningbank.__file__.startswith(site.getsitepackages()[0]),
            'found': [m.pattern.id for m in found] == [pid]})
"""


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    from reasoningbank.serve import serve_in_thread

    app, url = serve_in_thread(port=0, pyodide_dir=str(DEPS / "node_modules" / "pyodide"))
    app.url = url
    yield app
    app.shutdown()
    app.server_close()


def install_and_use(selenium: Any, install: str) -> dict[str, Any]:
    selenium.load_package("micropip")
    return json.loads(selenium.run_async(f"import micropip\n{install}\n{USE}"))  # type: ignore[no-any-return]


def expected() -> dict[str, Any]:
    from reasoningbank import __version__

    return {"version": __version__, "installed": True, "found": True}


def test_micropip_installs_from_the_wheel_url(selenium: Any, server: Any) -> None:
    url = server.url + server.wheel_path.lstrip("/")
    assert install_and_use(selenium, f"await micropip.install({url!r})") == expected()


def test_micropip_installs_from_emfs(selenium: Any, server: Any) -> None:
    url = server.url + server.wheel_path.lstrip("/")
    path = "/tmp/" + server.wheel_path.rsplit("/", 1)[1]
    install = f"""
from pyodide.http import pyfetch
with open({path!r}, 'wb') as fh:
    fh.write(await (await pyfetch({url!r})).bytes())
await micropip.install('emfs:' + {path!r})
"""
    assert install_and_use(selenium, install) == expected()


def test_micropip_installs_by_name_from_the_served_index(selenium: Any, server: Any) -> None:
    index = server.url + "simple"
    install = f"await micropip.install('reasoningbank', index_urls=[{index!r}])"
    assert install_and_use(selenium, install) == expected()
