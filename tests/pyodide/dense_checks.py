"""Dense-kernel checks that run inside Pyodide (appended to checks.py's source).

Each compares ``JsDenseIndex`` (WebAssembly SIMD kernel, or the JS loop) with the
pure-Python reference ``python_top_k`` on the same float32 rows, inside the same runtime,
and asserts that the top-k slots are the same and the cosines agree to 1e-12 (both compute
the returned cosines in float64 from the same float32 values). They return a JSON summary
(backend, scans used, candidates rescored) for the host test to check.
"""

import json
import random
from array import array


def _rows(n, dim, seed, spread=1.0, base=None):
    """n seeded rows; with ``base``, near-duplicates of it (``spread`` is the noise)."""
    rnd = random.Random(seed)
    if base is None:
        return [[rnd.uniform(-spread, spread) for _ in range(dim)] for _ in range(n)]
    return [[b + rnd.uniform(-spread, spread) for b in base] for _ in range(n)]


def _agree(index, rows, queries, ks):
    """Assert index.top_k / index.scores equal the pure-Python reference; return the scans
    the WebAssembly kernel used and how many candidates it rescored."""
    from reasoningbank.vectors.js import python_top_k

    ref_rows = {s: array("f", r) for s, r in rows.items()}
    scans, cands = set(), 0
    for q in queries:
        for k in ks:
            got = index.top_k(q, k)
            want = python_top_k(ref_rows, array("f", q), k)
            assert [s for s, _ in got] == [s for s, _ in want], (k, got[:8], want[:8])
            for (_, a), (_, b) in zip(got, want, strict=True):
                assert abs(a - b) <= 1e-12, (k, a, b)
            if index.backend == "wasm-simd":
                scans.add(index._js.lastScan)
                cands += index._js.lastCandidates
        scores = index.scores(q)
        assert scores.keys() == ref_rows.keys(), (len(scores), len(ref_rows))
        ref = dict(python_top_k(ref_rows, array("f", q), len(ref_rows)))
        worst = max(abs(scores[s] - ref[s]) for s in ref)
        assert worst <= 1e-12, worst
        some = sorted(ref)[::3] + [-1 + min(ref), max(ref) + 1000]  # + slots without a row
        picked = index.cosines(q, some)
        assert picked.keys() == set(some) & ref.keys(), len(picked)
        assert max(abs(picked[s] - ref[s]) for s in picked) <= 1e-12
    return sorted(scans), cands


async def check_dense_kernels():
    """Which dense kernels this runtime has, and which one an index picks by default."""
    from reasoningbank.vectors.js import JsDenseIndex, kernels

    index = JsDenseIndex()
    index.add(0, [1.0, 2.0, 3.0])
    assert index.top_k([1.0, 2.0, 3.0], 1)[0][0] == 0
    return json.dumps({"kernels": kernels(), "default": index.backend})


async def check_dense_wasm(dim, int8, n=1500, kernel="wasm-simd"):
    """Adds in batches with queries between them (each flush may grow the memory: the
    first batch fits the initial 64 KB page, the last outgrows it at every dim tested),
    removes, re-adds over removed slots, adds past a gap of never-used slots (growing
    again, which moves the int8 rows), and stores exact ties (a row and power-of-two
    multiples of it have the same cosine to the last bit)."""
    from reasoningbank.vectors.js import JsDenseIndex

    index = JsDenseIndex(kernel, int8=int8)
    assert index.backend == kernel
    data = _rows(n, dim, seed=dim)
    queries = _rows(3, dim, seed=dim + 1)
    rows = {}

    def add(slot, row):
        index.add(slot, row)
        rows[slot] = row

    add(0, data[0])
    assert index.top_k(queries[0], 3) == [(0, index.top_k(queries[0], 1)[0][1])]
    for start, stop in ((1, 8), (8, n // 3), (n // 3, n)):
        for slot in range(start, stop):
            add(slot, data[slot])
        index.top_k(queries[start % 3], 5)  # flushes this batch
    for slot in range(0, n, 7):
        index.remove(slot)
        del rows[slot]
    index.remove(n + 5)  # never stored: a no-op
    for slot in range(0, n, 21):
        add(slot, data[(slot * 13 + 5) % n])  # re-added, another vector
    add(n + 40, data[3])  # past a gap of empty slots
    for slot, mult in ((n + 41, 2.0), (n + 42, 0.5), (n + 43, 1024.0)):
        add(slot, [x * mult for x in data[3]])  # exact ties with slot 3 and n + 40
    add(2, [-x for x in queries[1]])  # the worst match for one query
    assert len(index) == len(rows)
    assert index.vector(n + 42) == [float(array("f", [x * 0.5])[0]) for x in data[3]]
    scans, cands = _agree(index, rows, queries, (1, 5, 10, 100))
    tie = index.top_k(data[3], 4)
    assert [s for s, _ in tie] == [3, n + 40, n + 41, n + 42], tie
    assert len({v for _, v in tie}) == 1, tie
    return json.dumps({"backend": index.backend, "scans": scans, "candidates": cands})


async def check_dense_near_duplicates(int8):
    """Rows that differ by little defeat int8's and then float32's error bounds: the kernel
    must move on to the finer scans and still give the exact answer."""
    from reasoningbank.vectors.js import JsDenseIndex

    dim, n = 64, 2000
    base = _rows(1, dim, seed=5)[0]
    out = {}
    for spread in (0.3, 1e-3):
        index = JsDenseIndex("wasm-simd", int8=int8)
        data = _rows(n, dim, seed=6, spread=spread, base=base)
        rows = dict(enumerate(data))
        for slot, row in rows.items():
            index.add(slot, row)
        queries = _rows(2, dim, seed=7, spread=spread, base=base)
        out[str(spread)] = _agree(index, rows, queries, (1, 5))
    return json.dumps(out)


async def check_dense_no_simd():
    """An engine that does not validate the module gets no WebAssembly kernel (and the JS
    loop serves): the loader returns None instead of failing."""
    from importlib import resources

    from pyodide.code import run_js
    from pyodide.ffi import to_js

    source = resources.files("reasoningbank.vectors").joinpath("dense_wasm.js").read_text()
    wasm = bytearray(resources.files("reasoningbank.vectors").joinpath("dense.wasm").read_bytes())
    assert run_js(source)(to_js(bytes(wasm))) is not None
    wasm[8] = 0x7F  # corrupt the first section: invalid, as an unknown opcode would be
    assert run_js(source)(to_js(bytes(wasm))) is None
    return "ok"
