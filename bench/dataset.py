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
import sys

from reasoningbank.timings import make_dataset as make  # the generator lives in the library

__all__ = ["make", "write"]


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
