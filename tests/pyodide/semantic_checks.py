"""Semantic-embedder checks that run unchanged under CPython (the reference) and in Pyodide.

``source`` is the asset: a URL in Pyodide (fetched), a file path under CPython.
"""

import json
import time

from reasoningbank import ReasoningBank
from reasoningbank.semantic_asset import AssetEmbedder

TEXTS = [
    "",
    "refresh the oauth access token",
    "renew expiring authentication credentials",
    "bake a chocolate cake",
    "Ünïcödé façade naïve 😀 日本語 <s> tabs\tand   runs",
    "fix database connection pool leak in the payment service",
]
STORED = [
    ("p0", "renew expiring authentication credentials", "auth"),
    ("p1", "bake a chocolate cake for the party", "kitchen"),
    ("p2", "paint the garden fence", "home"),
    ("p3", "tune postgres autovacuum thresholds", "db"),
]
QUERY = "refresh oauth token"
_VERBS = ["add", "fix", "refactor", "speed up", "document", "test", "remove", "migrate"]
_THINGS = ["oauth token refresh", "connection pool", "image lazy loading", "search debounce",
           "tls certificate rotation", "ci pipeline", "redis cache", "webhook retries"]  # fmt: skip
_WHERE = ["in the billing service", "for the mobile app", "on the admin dashboard",
          "before the release", "across all regions"]  # fmt: skip
#: 200 distinct task-like documents (a few words each, as patterns are).
DOCS = [
    f"{v} {t} {w} (ticket {i})"
    for i, (v, t, w) in enumerate((v, t, w) for v in _VERBS for t in _THINGS for w in _WHERE)
][:200]


async def _asset(source):
    if source.startswith("http"):
        from pyodide.http import pyfetch

        res = await pyfetch(source)
        return await res.bytes()
    with open(source, "rb") as fh:
        return fh.read()


async def check_semantic(source, location):
    """Vectors, a hybrid ranking, and timings (ms) of the embedder built from ``source``."""
    data = await _asset(source)
    t0 = time.perf_counter()
    embedder = AssetEmbedder.from_bytes(data)
    t1 = time.perf_counter()
    for doc in DOCS:
        embedder(doc)
    t2 = time.perf_counter()
    for doc in DOCS:
        embedder(doc)
    t3 = time.perf_counter()
    vectors = [embedder(t) for t in TEXTS]
    bank = await ReasoningBank.open(location, embedder=embedder, dedup_threshold=None)
    try:
        await bank.store_patterns(
            [
                {
                    "id": pid,
                    "task_description": text,
                    "task_category": cat,
                    "strategy": "s",
                    "success_score": 0.8,
                }
                for pid, text, cat in STORED
            ]  # fmt: skip
        )
        hits = await bank.find_similar(QUERY, top_k=4)
        ranked = [[h.pattern.id, h.parts["lexical"], h.parts.get("semantic")] for h in hits]
    finally:
        await bank.close()
    return json.dumps(
        {
            "name": embedder.name,
            "dims": embedder.dims,
            "tokens": [embedder.tokenize(t) for t in TEXTS],
            "vectors": vectors,
            "ranked": ranked,
            "ms": {
                "parse": 1000 * (t1 - t0),
                "per_doc_cold": 1000 * (t2 - t1) / len(DOCS),
                "per_doc_warm": 1000 * (t3 - t2) / len(DOCS),
            },
        }
    )
