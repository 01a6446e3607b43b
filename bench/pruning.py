"""python -m bench.pruning: what MaxScore-style pruning buys on varied text.

The shared benchmark set repeats 120 task texts per category, so every query touches few
distinct texts. Real agent memories are more varied: here each of N documents draws 6-14
words from a 20,000-word Zipf vocabulary (a few words very common, most rare), queries 3-6.
Both sides run in this process on the same index: ``top_texts`` (pruned, exact, the bank's
path) against scoring every text that shares a query term (what the index did before).

usage: python -m bench.pruning [--n 100000] [--queries 200] [--json]
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import statistics
import time

from reasoningbank.index import ANY_GROUP, LexicalIndex

GAIN = 0.15 / 0.7  # the bank's default outcome bonus in similarity units


def corpus(n: int, queries: int, seed: int = 1) -> tuple[list[list[str]], list[list[str]]]:
    rnd = random.Random(seed)
    words = [f"w{i}" for i in range(20_000)]
    zipf = [1.0 / (i + 1) for i in range(len(words))]
    docs = [rnd.choices(words, zipf, k=rnd.randint(6, 14)) for _ in range(n)]
    return docs, [rnd.choices(words, zipf, k=rnd.randint(3, 6)) for _ in range(queries)]


def p50_ms(fn, queries) -> float:  # type: ignore[no-untyped-def]
    times = []
    for q in queries:
        t0 = time.perf_counter()
        fn(q)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def run(n: int, queries: int) -> dict[str, float]:
    docs, qs = corpus(n, queries)
    rnd = random.Random(2)
    quality = [rnd.random() for _ in docs]
    index = LexicalIndex()
    for slot, terms in enumerate(docs):
        index.add(slot, terms, slot % 5)
    index.refresh(force=True)
    out: dict[str, float] = {"n": n}
    for label, group in (("all", ANY_GROUP), ("category", 2)):
        pruned = p50_ms(lambda q, g=group: index.top_texts(q, 5, g, quality, GAIN), qs)
        full = p50_ms(
            lambda q, g=group: heapq.nlargest(
                5,
                (
                    (v + GAIN * quality[s], s)
                    for v, slots in index.scored_texts(q, g)
                    for s in slots
                ),
            ),
            qs,
        )
        out[f"{label}_pruned_p50_ms"] = pruned
        out[f"{label}_full_p50_ms"] = full
        out[f"{label}_speedup"] = full / pruned
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = [run(n, args.queries) for n in args.n]
    if args.json:
        print(json.dumps(results, indent=1))
        return
    print("| N | scope | pruned p50 ms | every candidate p50 ms | speedup |\n|---|---|---|---|---|")
    for r in results:
        for scope in ("all", "category"):
            print(
                f"| {r['n']:,.0f} | {scope} | {r[scope + '_pruned_p50_ms']:.3f} | "
                f"{r[scope + '_full_p50_ms']:.3f} | {r[scope + '_speedup']:.1f}x |"
            )


if __name__ == "__main__":
    main()
