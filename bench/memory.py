"""Memory with bring-your-own embeddings: N patterns (default 100,000) each carrying a D-dim
(default 1,024) float32 vector in ``"embedding": [...]``. Prints one JSON line.

usage: python -m bench.memory [--n 100000] [--dim 1024] [--db PATH|:memory:] [--batch 1000]

Vectors are random unit vectors (seeded) made in batches so the harness itself holds at most one
batch of Python float lists; what stays resident is the bank's. Reports RSS before loading, after
loading (steady, after gc), the peak, the SQLite file size, and find_similar p50 with a query
vector (top-5) for the dense path, and the RSS / open time of a fresh process that opens the
finished bank file (its footprint without the loader's garbage). Goal: 100k x 1024-d well under 1 GB.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time

from .dataset import make
from .ours import _pct, _peak_rss_mb, _rss_mb


def _vectors(rng, k, dim):
    try:
        import numpy as np

        v = (
            np.random.default_rng(rng.randrange(1 << 30))
            .standard_normal((k, dim))
            .astype("float32")
        )
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        return v.tolist()
    except ImportError:
        out = []
        for _ in range(k):
            x = [rng.gauss(0, 1) for _ in range(dim)]
            s = sum(a * a for a in x) ** 0.5
            out.append([a / s for a in x])
        return out


async def run(n, dim, db, batch, queries) -> dict:
    from reasoningbank import ReasoningBank

    rng = random.Random(11)
    pats, qs = make(n, queries)
    gc.collect()
    rss0 = _rss_mb()
    tmp = None
    if db is None:
        tmp = tempfile.TemporaryDirectory()
        db = os.path.join(tmp.name, "mem.db")
    bank = await ReasoningBank.open(db, dedup_threshold=None)
    t0 = time.perf_counter()
    for s in range(0, n, batch):
        chunk = pats[s : s + batch]
        vecs = _vectors(rng, len(chunk), dim)
        await bank.store_patterns([dict(p, embedding=v) for p, v in zip(chunk, vecs, strict=False)])
        del vecs
    load_s = time.perf_counter() - t0
    del pats
    gc.collect()
    rss_loaded = _rss_mb()
    qv = _vectors(rng, len(qs), dim)
    for q, v in list(zip(qs, qv, strict=False))[:5]:
        await bank.find_similar(
            q["task_description"], task_category=q["task_category"], top_k=5, embedding=v
        )
    lat = []
    for q, v in zip(qs, qv, strict=False):
        t = time.perf_counter()
        await bank.find_similar(
            q["task_description"], task_category=q["task_category"], top_k=5, embedding=v
        )
        lat.append((time.perf_counter() - t) * 1e3)
    lat.sort()
    stats = await bank.get_stats()
    await bank.close()
    size = None
    reopened = {}
    if db != ":memory:":
        size = sum(os.path.getsize(db + s) for s in ("", "-wal", "-shm") if os.path.exists(db + s))
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.memory",
                "--reopen",
                db,
                "--dim",
                str(dim),
                "--queries",
                str(queries),
            ],
            capture_output=True,
            text=True,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )
        if r.returncode == 0:
            reopened = json.loads(r.stdout.strip().splitlines()[-1])
    out = {
        "n": n,
        "dim": dim,
        "store": "memory" if db == ":memory:" else "sqlite",
        "load_s": load_s,
        "rss_before_mb": rss0,
        "rss_loaded_mb": rss_loaded,
        "rss_bank_mb": rss_loaded - rss0,
        "peak_rss_mb": _peak_rss_mb(),
        "raw_vectors_mb": n * dim * 4 / 1e6,
        "db_mb": size / 1e6 if size else None,
        "find_p50_ms": _pct(lat, 0.5),
        "find_p95_ms": _pct(lat, 0.95),
        "total_patterns": stats.get("total_patterns"),
        "reopen_s": reopened.get("open_s"),
        "reopen_rss_mb": reopened.get("rss_mb"),
        "reopen_find_p50_ms": reopened.get("find_p50_ms"),
    }
    if tmp:
        tmp.cleanup()
    return out


async def reopen(db, dim, queries) -> dict:
    """A fresh process opens the finished bank and queries it: the bank's own footprint."""
    from reasoningbank import ReasoningBank

    rng = random.Random(12)
    _, qs = make(10, queries)
    t0 = time.perf_counter()
    bank = await ReasoningBank.open(db, dedup_threshold=None)
    open_s = time.perf_counter() - t0
    lat = []
    for q, v in zip(qs, _vectors(rng, len(qs), dim), strict=False):
        t = time.perf_counter()
        await bank.find_similar(
            q["task_description"], task_category=q["task_category"], top_k=5, embedding=v
        )
        lat.append((time.perf_counter() - t) * 1e3)
    lat.sort()
    out = {"open_s": open_s, "rss_mb": _rss_mb(), "find_p50_ms": _pct(lat, 0.5)}
    await bank.close()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.memory")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=1024)
    ap.add_argument("--db", default=None, help="SQLite path or :memory: (default: temp file)")
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--reopen", metavar="DB", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.reopen:
        print(json.dumps(asyncio.run(reopen(a.reopen, a.dim, a.queries))))
        return 0
    print(json.dumps(asyncio.run(run(a.n, a.dim, a.db, a.batch, a.queries))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
