# Checks of the IndexedDB store's write lock, run inside Pyodide (Node, Chromium, Firefox)
# by test_pyodide_lock.py, appended to checks.py.


async def check_write_lock_takes_turns(name):
    """Two connections to one bank take turns; a waiter cancelled before its turn (a timeout)
    leaves the lock free for the next one instead of holding it forever."""
    import asyncio

    from storage_idb import open_idb_store

    s = await open_idb_store(name)
    other = await open_idb_store(name)
    order = []

    async def take(store, tag):
        async with store.write_lock():
            order.append(tag + " in")
            await asyncio.sleep(0.05)
            order.append(tag + " out")

    try:
        async with s.write_lock():
            waiter = asyncio.ensure_future(take(other, "b"))
            await asyncio.sleep(0.2)
            order.append("a out")
        await asyncio.wait_for(waiter, 5)
        assert order == ["a out", "b in", "b out"], order
        async with s.write_lock():
            try:
                await asyncio.wait_for(take(other, "c"), 0.2)
            except asyncio.TimeoutError:
                pass
            else:
                raise AssertionError(f"took a held lock: {order}")
        await asyncio.wait_for(take(other, "d"), 5)
        assert order[3:] == ["d in", "d out"], order
        return "ok"
    finally:
        await s.close()
        await other.close()


async def _silent_tab(name):
    """Another tab's connection (a second copy of idb.js) that announces nothing and takes
    no lock: its commits reach IndexedDB and nothing else."""
    from importlib import resources

    from pyodide.code import run_js

    tab = run_js(resources.files("storage_idb").joinpath("idb.js").read_text(encoding="utf-8"))
    h = await tab.open(name, 10_000)
    if h.chan:
        h.chan.close()
        h.chan = None
    return tab, h


async def _silent_put(tab, h, pid):
    await tab.put(h, f'["{pid}","c","s",1,1,{{}},[]]', "[0]", None, "[]")


async def check_changes_under_lock_reads_idb(name):
    """A commit whose change notice has not arrived yet (another tab's BroadcastChannel
    message is a task away) is reported by changes() under the write lock."""
    from storage_idb import open_idb_store

    s = await open_idb_store(name)
    tab, h = await _silent_tab(name)
    try:
        await _silent_put(tab, h, "far")
        assert (await s.changes()).upserted == []  # outside the lock: the notice is trusted
        async with s.write_lock():
            ch = await s.changes()
        assert [r.id for r in ch.upserted] == ["far"], ch
        return "ok"
    finally:
        tab.close(h)
        await s.close()


async def check_put_under_lock_refuses_unlocked_commit(name):
    """A writer that skipped the lock (an older version in another tab) committed after we
    caught up: our write under the lock stores nothing and says why, theirs stays."""
    from reasoningbank.errors import StorageError
    from reasoningbank.storage.base import Record
    from storage_idb import open_idb_store

    s = await open_idb_store(name)
    tab, h = await _silent_tab(name)
    mine = Record("mine", "c", "s", 1.0, 1.0, {}, [], None)
    try:
        async with s.write_lock():
            await s.changes()
            await s.put([mine])  # caught up: lands
            await _silent_put(tab, h, "far")
            try:
                await s.put([Record("late", "c", "s", 1.0, 1.0, {}, [], None)])
            except StorageError as exc:
                assert "without its write lock" in str(exc), exc
            else:
                raise AssertionError("wrote over a commit it had not seen")
        assert await s.get("late") is None
        assert (await s.get("far")) is not None and (await s.get("mine")) is not None
        return "ok"
    finally:
        tab.close(h)
        await s.close()
