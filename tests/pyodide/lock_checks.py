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


async def check_changes_under_lock_reads_idb(name):
    """A commit whose change notice has not arrived yet (another tab's BroadcastChannel
    message is a task away) is reported by changes() under the write lock."""
    from importlib import resources

    from pyodide.code import run_js

    from storage_idb import open_idb_store

    s = await open_idb_store(name)
    # Another tab: a second copy of idb.js (its own connections), its notice never sent.
    tab = run_js(resources.files("storage_idb").joinpath("idb.js").read_text(encoding="utf-8"))
    h = await tab.open(name, 10_000)
    if h.chan:
        h.chan.close()
        h.chan = None
    try:
        await tab.put(h, '[["far","c",1,1,0]]', '["far","c","s",1,1,{},[]]', None, "[]")
        assert (await s.changes()).upserted == []  # outside the lock: the notice is trusted
        async with s.write_lock():
            ch = await s.changes()
        assert [r.id for r in ch.upserted] == ["far"], ch
        return "ok"
    finally:
        tab.close(h)
        await s.close()
