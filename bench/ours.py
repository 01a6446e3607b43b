"""Time ReasoningBank-Py on a dataset written by bench/dataset.py; prints one JSON line.

usage: python -m bench.ours DATA_DIR [--singles 200] [--no-memory]
       python -m bench.ours --scale 1000000 [--chunk 100000] [--queries 200]

Run as its own process (bench/compare.py does) so its RSS is comparable with the peer's
Node process. Measures, on a fresh SQLite file bank (WAL):
  bulk     one ``store_patterns`` call with all N patterns (one transaction)
  single   ``store_pattern`` one at a time after the bulk load; each has committed when it
           returns (durability="normal": WAL, survives kill -9) and, separately, on a bank opened
           with durability="full" (fsync per commit, like the peer's SQLite default)
  find     ``find_similar(desc, task_category=cat, top_k=5)`` per query, after 5 warm-up queries;
           exact over every stored pattern of the category
  rss      peak resident set of this process (MB; it also holds the parsed dataset): at the
           end of the bulk load (``bulk_peak_rss_mb``; ``bulk_rss_before_mb`` is the RSS just
           before it: the harness's parsed dataset) and of the whole run (``peak_rss_mb``), and
           ``reopen_rss_mb``: RSS of a fresh process that opens the finished bank file and runs
           the queries - the bank's own footprint with no harness data around
and the same bulk + find on a ":memory:" bank. Deduplication is off (``dedup_threshold=None``)
so the bank holds exactly N patterns, as the peers do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time


def _pct(sorted_vals, q):
    # nearest-rank, same as bench/peer/peer_dir.mjs
    import math

    if not sorted_vals:
        return None
    return sorted_vals[min(len(sorted_vals) - 1, max(0, math.ceil(q * len(sorted_vals)) - 1))]


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:
        return float("nan")


def _peak_rss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1e6 if sys.platform == "darwin" else r * 1024 / 1e6


def _load(data_dir):
    with open(os.path.join(data_dir, "patterns.jsonl")) as f:
        pats = [json.loads(x) for x in f]
    with open(os.path.join(data_dir, "queries.jsonl")) as f:
        qs = [json.loads(x) for x in f]
    return pats, qs


async def _find(bank, qs):
    for q in qs[:5]:
        await bank.find_similar(q["task_description"], task_category=q["task_category"], top_k=5)
    lat, hits = [], 0
    for q in qs:
        t = time.perf_counter()
        r = await bank.find_similar(
            q["task_description"], task_category=q["task_category"], top_k=5
        )
        lat.append((time.perf_counter() - t) * 1e3)
        hits += len(r)
    lat.sort()
    return {
        "find_p50_ms": _pct(lat, 0.5),
        "find_p95_ms": _pct(lat, 0.95),
        "find_mean_ms": sum(lat) / len(lat),
        "hits_mean": hits / len(qs),
    }


async def _singles(bank, pats, k):
    lat = []
    for p in pats[:k]:
        p = dict(p)
        t = time.perf_counter()
        await bank.store_pattern(p)
        lat.append((time.perf_counter() - t) * 1e6)
    lat.sort()
    return _pct(lat, 0.5), sum(lat) / len(lat)


async def run(data_dir: str, singles: int, memory: bool) -> dict:
    from reasoningbank import ReasoningBank

    pats, qs = _load(data_dir)
    rss0 = _rss_mb()
    out = {"impl": "ReasoningBank-Py", "n": len(pats), "queries": len(qs)}
    try:
        import numpy

        out["numpy"] = numpy.__version__
    except ImportError:
        out["numpy"] = None
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.db")
        bank = await ReasoningBank.open(path, dedup_threshold=None)
        out["bulk_rss_before_mb"] = _rss_mb()  # the harness's parsed dataset
        t0 = time.perf_counter()
        await bank.store_patterns([dict(p) for p in pats])
        dt = time.perf_counter() - t0
        out["bulk_per_s"] = len(pats) / dt
        out["bulk_peak_rss_mb"] = _peak_rss_mb()  # the process's peak so far: the bulk load's
        out.update(await _find(bank, qs))
        out["rss_mb"] = _rss_mb()
        out["rss_delta_mb"] = out["rss_mb"] - rss0
        out["store_p50_us"], out["store_mean_us"] = await _singles(bank, pats, singles)
        await bank.close()
        t0 = time.perf_counter()
        bank = await ReasoningBank.open(path, dedup_threshold=None)
        out["reopen_s"] = time.perf_counter() - t0
        await bank.close()
        r = subprocess.run(
            [sys.executable, "-m", "bench.ours", "--reopen", path, data_dir],
            capture_output=True,
            text=True,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )
        if r.returncode == 0:
            re_ = json.loads(r.stdout.strip().splitlines()[-1])
            out["reopen_rss_mb"] = re_["rss_mb"]
            out["reopen_find_p50_ms"] = re_["find_p50_ms"]
            out["reopen_fresh_s"] = re_["open_s"]
            out["bytes_per_pattern"] = re_["bytes_per_pattern"]
        out["db_mb"] = sum(os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp)) / 1e6
        full = await ReasoningBank.open(
            os.path.join(tmp, "full.db"), durability="full", dedup_threshold=None
        )
        await full.store_patterns([dict(p) for p in pats[:1000]])
        out["store_full_p50_us"], out["store_full_mean_us"] = await _singles(full, pats, singles)
        await full.close()
    if memory:
        bank = await ReasoningBank.open(":memory:", dedup_threshold=None)
        t0 = time.perf_counter()
        await bank.store_patterns([dict(p) for p in pats])
        out["memory_bulk_per_s"] = len(pats) / (time.perf_counter() - t0)
        m = await _find(bank, qs)
        out["memory_find_p50_ms"], out["memory_find_p95_ms"] = m["find_p50_ms"], m["find_p95_ms"]
        await bank.close()
    out["peak_rss_mb"] = _peak_rss_mb()
    return out


async def reopen(path: str, data_dir: str) -> dict:
    """Open ``path`` in this fresh process and time finds. ``open_s`` (and its CPU time,
    ``open_cpu_s``) counts the optional import an open makes (numpy, by the dense index);
    ``bytes_per_pattern`` does not; ``import_s``: importing reasoningbank before."""
    t0 = time.perf_counter()
    from reasoningbank import ReasoningBank

    imported = time.perf_counter() - t0
    with open(os.path.join(data_dir, "queries.jsonl")) as f:
        qs = [json.loads(x) for x in f]
    t0, c0 = time.perf_counter(), time.process_time()
    from reasoningbank.vectors import make_dense_index

    make_dense_index()  # what every open imports (numpy when installed)
    rss0 = _rss_mb()
    bank = await ReasoningBank.open(path, dedup_threshold=None)
    out = {
        "import_s": imported,
        "open_s": time.perf_counter() - t0,
        "open_cpu_s": time.process_time() - c0,
    }
    n = len(bank._table.slot)
    bank_mb = _rss_mb() - rss0
    out.update(await _find(bank, qs))
    out["rss_mb"] = _rss_mb()
    out["bytes_per_pattern"] = bank_mb * 1e6 / n if n else None
    await bank.close()
    return out


async def scale(n: int, chunk: int, queries: int) -> dict:
    """Bulk-load ``n`` patterns (``chunk`` per call, generated outside the timing), then time
    exact finds, and reopen in a fresh process: the large-bank figures of docs/benchmarks.md."""
    from reasoningbank import ReasoningBank
    from reasoningbank.timings import make_dataset

    out: dict = {"impl": "ReasoningBank-Py", "n": n, "chunk": chunk}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "scale.db")
        _, qs = make_dataset(1, queries)
        with open(os.path.join(tmp, "queries.jsonl"), "w") as f:
            f.writelines(json.dumps(q) + "\n" for q in qs)
        bank = await ReasoningBank.open(path, dedup_threshold=None)
        spent = 0.0
        for start in range(0, n, chunk):
            pats, _ = make_dataset(min(chunk, n - start), 1, seed=start)
            t0 = time.perf_counter()
            await bank.store_patterns(pats)
            spent += time.perf_counter() - t0
            del pats
        out["bulk_per_s"] = n / spent
        out.update(await _find(bank, qs))
        out["rss_mb"] = _rss_mb()
        t0 = time.perf_counter()
        await bank.close()
        out["close_s"] = time.perf_counter() - t0
        out["db_mb"] = sum(os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp)) / 1e6
        r = subprocess.run(
            [sys.executable, "-m", "bench.ours", "--reopen", path, tmp],
            capture_output=True,
            text=True,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )
        if r.returncode != 0:
            raise RuntimeError(r.stderr[-2000:])
        re_ = json.loads(r.stdout.strip().splitlines()[-1])
        out.update({f"reopen_{k}": v for k, v in re_.items()})
    out["peak_rss_mb"] = _peak_rss_mb()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.ours")
    ap.add_argument("data_dir", nargs="?")
    ap.add_argument("--singles", type=int, default=200)
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--reopen", metavar="DB", help=argparse.SUPPRESS)
    ap.add_argument(
        "--scale",
        type=int,
        metavar="N",
        help="instead: bulk-load N generated patterns, time finds and a fresh reopen",
    )
    ap.add_argument("--chunk", type=int, default=100_000, help="patterns per bulk call (--scale)")
    ap.add_argument("--queries", type=int, default=200, help="queries timed (--scale)")
    a = ap.parse_args(argv)
    if a.scale:
        print(json.dumps(asyncio.run(scale(a.scale, a.chunk, a.queries))))
        return 0
    if a.reopen:
        print(json.dumps(asyncio.run(reopen(a.reopen, a.data_dir))))
        return 0
    print(json.dumps(asyncio.run(run(a.data_dir, a.singles, not a.no_memory))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
