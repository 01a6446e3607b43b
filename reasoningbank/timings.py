"""Timings of the core operations on a deterministic dataset (``reasoningbank bench``).

Why this name: ``bench/`` is the comparison suite and ``bus/aio/loadgen.py`` loads a hub;
this module times one bank.

The dataset generator is the one every side of a side-by-side comparison uses (the
``bench/`` harness feeds the same data to the peer implementation), so numbers compare.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

__all__ = ["make_dataset", "run_benchmark"]

_CATS = {
    "backend": ("implement rest api endpoint|add oauth token refresh|fix database connection pool leak|"
                "paginate query results|cache expensive lookups in redis|add rate limiting middleware|"
                "migrate user table schema|retry failed webhook deliveries|validate request payloads|"
                "stream large file uploads"),
    "frontend": ("build responsive login form|fix flickering modal dialog|lazy load product images|"
                 "add dark mode toggle|debounce search input|virtualize long table rows|"
                 "localize date formatting|improve accessibility of menu|animate page transitions|"
                 "persist form state offline"),
    "devops": ("set up ci pipeline for tests|containerize python service|rotate tls certificates|"
               "configure blue green deploy|tune kubernetes autoscaling|ship logs to central store|"
               "pin dependency versions|cache build artifacts|alert on error budget burn|"
               "back up database nightly"),
    "data": ("deduplicate customer records|build nightly etl job|detect anomalies in metrics|"
             "train churn prediction model|join clickstream with orders|compress parquet partitions|"
             "backfill missing timestamps|sample imbalanced classes|profile slow sql query|"
             "export report to csv"),
    "security": ("sanitize html user input|hash passwords with argon2|audit third party packages|"
                 "enforce content security policy|detect credential stuffing|encrypt secrets at rest|"
                 "review jwt validation|lock down cors origins|scan images for vulnerabilities|"
                 "add two factor login"),
}  # fmt: skip
_QUALIFIERS = (
    "for the billing service|in the mobile app|under heavy load|with zero downtime|"
    "for legacy customers|in the admin dashboard|behind the api gateway|for the eu region|"
    "with strict latency budget|for the analytics team|during the migration|in staging first"
).split("|")
_STRATEGIES = ["test-driven", "spec-first", "incremental rollout", "pair review",
               "prototype then harden", "divide and conquer", "benchmark first", "checklist",
               "feature flag", "rollback plan"]  # fmt: skip


def make_dataset(
    n: int, q: int, seed: int = 7
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``n`` ReasoningBankWasm-compatible patterns and ``q`` queries (with their category)."""
    rnd = random.Random(seed)
    tasks = {c: v.split("|") for c, v in _CATS.items()}
    cats = list(tasks)
    pats = []
    for i in range(n):
        c = cats[i % len(cats)]
        desc = f"{rnd.choice(tasks[c])} {rnd.choice(_QUALIFIERS)}"
        score = round(rnd.random(), 3)
        pats.append(
            {
                "task_description": desc,
                "task_category": c,
                "strategy": rnd.choice(_STRATEGIES),
                "success_score": score,
                "outcome": {"success": score >= 0.5, "success_score": score},
            }
        )
    queries = []
    for j in range(q):
        c = cats[j % len(cats)]
        words = rnd.choice(tasks[c]).split()
        rnd.shuffle(words)
        queries.append(
            {"task_description": " ".join(words[: max(2, len(words) - 1)]), "task_category": c}
        )
    return pats, queries


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def run_benchmark(
    n: int = 10_000,
    queries: int = 200,
    *,
    path: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Times against a fresh SQLite bank in a temporary directory (or ``path``).

    Deduplication is off so the bank holds exactly ``n`` patterns, like the peer does; two
    more single-store timings then run the default near-duplicate check (what a bank opened
    with no options does): a new task, and a task the bank holds (merged into it).
    """
    from .bank import DEFAULT_DEDUP_THRESHOLD, ReasoningBank
    from .errors import InvalidPattern

    for name, value in (("n", n), ("queries", queries)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidPattern(f"bench --{name} must be a positive integer, got {value!r}")
    pats, qs = make_dataset(n, queries)
    with tempfile.TemporaryDirectory() as tmp:
        db = path or os.path.join(tmp, "bench.db")
        bank = await ReasoningBank.open(db, dedup_threshold=None)
        try:
            t0 = time.perf_counter()
            step = max(1, n // 20)
            for start in range(0, n, step):
                await bank.store_patterns(pats[start : start + step])
                if progress:
                    progress(min(start + step, n), n)
            bulk = time.perf_counter() - t0
            singles = []
            for p in pats[:200]:
                t = time.perf_counter()
                await bank.store_pattern(dict(p))
                singles.append(time.perf_counter() - t)
            locks = []  # the cross-process write lock alone: BEGIN IMMEDIATE, seq bump, ROLLBACK
            for _ in range(200):
                t = time.perf_counter()
                async with bank._writing():
                    pass
                locks.append(time.perf_counter() - t)
            # The default near-duplicate check (what a bank opened with no options runs):
            # a new task (a word the bank never saw), then tasks it holds (merged into them).
            bank.dedup_threshold = DEFAULT_DEDUP_THRESHOLD
            new_tasks, merges = [], []
            for i, p in enumerate(pats[:200]):
                fresh = {**p, "task_description": f"{p['task_description']} novel{i}"}
                t = time.perf_counter()
                await bank.store_pattern(fresh)
                new_tasks.append(time.perf_counter() - t)
                t = time.perf_counter()
                await bank.store_pattern(dict(p))
                merges.append(time.perf_counter() - t)
            bank.dedup_threshold = None
            await bank.find_similar(qs[0]["task_description"], qs[0]["task_category"], top_k=5)
            lat = []
            for q in qs:
                t = time.perf_counter()
                await bank.find_similar(q["task_description"], q["task_category"], top_k=5)
                lat.append(time.perf_counter() - t)
            await bank.close()
            reopen_start = time.perf_counter()
            bank = await ReasoningBank.open(db, dedup_threshold=None)
            reopen = time.perf_counter() - reopen_start
        finally:
            await bank.close()
    return {
        "n": n,
        "queries": queries,
        "bulk_store_patterns_per_s": n / bulk,
        "store_durable_us_p50": statistics.median(singles) * 1e6,
        "store_write_lock_us_p50": statistics.median(locks) * 1e6,
        "store_new_task_dedup_us_p50": statistics.median(new_tasks) * 1e6,
        "store_merge_dedup_us_p50": statistics.median(merges) * 1e6,
        "find_similar_p50_ms": statistics.median(lat) * 1e3,
        "find_similar_p95_ms": _pct(lat, 0.95) * 1e3,
        "open_s": reopen,
        "vector_backend": "lexical",
    }
