"""The IndexedDB store's write lock inside Pyodide (Node with fake-indexeddb, Chromium,
Firefox): writers take turns, a cancelled waiter does not keep the lock, under the lock
``changes()`` sees a commit whose notice is still on its way, and a write under the lock
never lands over a commit it has not seen."""

from __future__ import annotations

import uuid
from pathlib import Path

from test_pyodide_core import CHECKS

LOCK = CHECKS + (Path(__file__).parent / "lock_checks.py").read_text(encoding="utf-8")


def run_lock(selenium, call: str):  # type: ignore[no-untyped-def]
    return selenium.run_async(LOCK + f"\nawait {call}\n")


def name(selenium) -> str:  # type: ignore[no-untyped-def]
    return f"lock-{selenium.browser}-{uuid.uuid4().hex[:8]}"


def test_write_lock_takes_turns(rb):
    assert run_lock(rb, f"check_write_lock_takes_turns({name(rb)!r})") == "ok"


def test_changes_under_write_lock_read_indexeddb(rb):
    assert run_lock(rb, f"check_changes_under_lock_reads_idb({name(rb)!r})") == "ok"


def test_put_under_write_lock_refuses_an_unlocked_commit(rb):
    assert run_lock(rb, f"check_put_under_lock_refuses_unlocked_commit({name(rb)!r})") == "ok"
