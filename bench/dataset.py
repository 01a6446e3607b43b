#!/usr/bin/env python3
"""Deterministic synthetic pattern set shared by every side of a side-by-side benchmark.

usage: python -m bench.dataset N QUERIES OUT_DIR  -> OUT_DIR/patterns.jsonl, OUT_DIR/queries.jsonl

Each pattern is a ReasoningBankWasm-compatible object (task_description, task_category,
strategy, success_score, outcome). Queries carry the category they target. The output depends
only on N, QUERIES and the seed, so every side of a comparison reads byte-identical files.
Do not change the generator without re-recording every published number: it is the yardstick.
"""

import json
import os
import random
import sys

CATS = {
    "backend": (
        "implement rest api endpoint|add oauth token refresh|fix database connection pool leak|"
        "paginate query results|cache expensive lookups in redis|add rate limiting middleware|"
        "migrate user table schema|retry failed webhook deliveries|validate request payloads|"
        "stream large file uploads"
    ),
    "frontend": (
        "build responsive login form|fix flickering modal dialog|lazy load product images|"
        "add dark mode toggle|debounce search input|virtualize long table rows|"
        "localize date formatting|improve accessibility of menu|animate page transitions|"
        "persist form state offline"
    ),
    "devops": (
        "set up ci pipeline for tests|containerize python service|rotate tls certificates|"
        "configure blue green deploy|tune kubernetes autoscaling|ship logs to central store|"
        "pin dependency versions|cache build artifacts|alert on error budget burn|"
        "back up database nightly"
    ),
    "data": (
        "deduplicate customer records|build nightly etl job|detect anomalies in metrics|"
        "train churn prediction model|join clickstream with orders|compress parquet partitions|"
        "backfill missing timestamps|sample imbalanced classes|profile slow sql query|"
        "export report to csv"
    ),
    "security": (
        "sanitize html user input|hash passwords with argon2|audit third party packages|"
        "enforce content security policy|detect credential stuffing|encrypt secrets at rest|"
        "review jwt validation|lock down cors origins|scan images for vulnerabilities|"
        "add two factor login"
    ),
}
QUALIFIERS = (
    "for the billing service|in the mobile app|under heavy load|with zero downtime|"
    "for legacy customers|in the admin dashboard|behind the api gateway|for the eu region|"
    "with strict latency budget|for the analytics team|during the migration|in staging first"
).split("|")
STRATEGIES = [
    "test-driven",
    "spec-first",
    "incremental rollout",
    "pair review",
    "prototype then harden",
    "divide and conquer",
    "benchmark first",
    "checklist",
    "feature flag",
    "rollback plan",
]


def make(n, q, seed=7):
    rnd = random.Random(seed)
    tasks = {c: v.split("|") for c, v in CATS.items()}
    cats = list(tasks)
    pats = []
    for i in range(n):
        c = cats[i % len(cats)]
        t = rnd.choice(tasks[c])
        desc = f"{t} {rnd.choice(QUALIFIERS)}"
        score = round(rnd.random(), 3)
        pats.append(
            {
                "task_description": desc,
                "task_category": c,
                "strategy": rnd.choice(STRATEGIES),
                "success_score": score,
                "outcome": {"success": score >= 0.5, "success_score": score},
            }
        )
    queries = []
    for j in range(q):
        c = cats[j % len(cats)]
        t = rnd.choice(tasks[c]).split()
        rnd.shuffle(t)
        queries.append({"task_description": " ".join(t[: max(2, len(t) - 1)]), "task_category": c})
    return pats, queries


def write(n, q, out, seed=7):
    """Write OUT/patterns.jsonl and OUT/queries.jsonl; return (patterns, queries)."""
    os.makedirs(out, exist_ok=True)
    pats, queries = make(n, q, seed)
    with open(os.path.join(out, "patterns.jsonl"), "w") as f:
        f.writelines(json.dumps(p) + "\n" for p in pats)
    with open(os.path.join(out, "queries.jsonl"), "w") as f:
        f.writelines(json.dumps(x) + "\n" for x in queries)
    return pats, queries


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: python -m bench.dataset N QUERIES OUT_DIR")
    write(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
