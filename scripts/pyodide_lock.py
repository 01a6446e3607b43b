"""Supplying wheels to a local Pyodide (npm's Pyodide ships only its core).

    python scripts/pyodide_lock.py pins LOCK NAME...   the pins LOCK names for NAME and deps
    python scripts/pyodide_lock.py relock DIST         point DIST's lock at the wheels in DIST

Why: the wheels come from PyPI, so the lock's file names and sha256 (which browsers verify)
must be rewritten to match them. scripts/install-test-deps.sh and the JupyterLite example
both do this.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import re
import sys


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock_path: str, names: list[str]) -> list[str]:
    """``name==version`` for ``names`` and everything they depend on, as the lock pins them."""
    lock = json.loads(pathlib.Path(lock_path).read_text())["packages"]
    want: set[str] = set()
    todo = [_norm(n) for n in names]
    while todo:
        name = todo.pop()
        if name in want or name not in lock:
            continue
        want.add(name)
        todo.extend(_norm(d) for d in lock[name]["depends"])
    return [f"{lock[n]['name']}=={lock[n]['version']}" for n in sorted(want)]


def relock(dist: pathlib.Path) -> None:
    """Name in the lock the wheel files supplied in ``dist``, with their real sha256."""
    lock_path = dist / "pyodide-lock.json"
    lock = json.loads(lock_path.read_text())
    files = {_norm(p.name.split("-")[0]): p for p in dist.glob("*.whl")}
    for pkg in lock["packages"].values():
        p = files.get(_norm(pkg["name"]))
        if p is not None and p.name.split("-")[1] == pkg["version"]:
            pkg["file_name"] = p.name
            pkg["sha256"] = hashlib.sha256(p.read_bytes()).hexdigest()
    lock_path.write_text(json.dumps(lock))


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "pins":
        print("\n".join(pins(args[0], args[1:])))
    elif command == "relock":
        relock(pathlib.Path(args[0]))
    else:
        sys.exit(f"pyodide_lock.py: unknown command {command!r} (pins, relock)")
