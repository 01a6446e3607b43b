"""Our bank against another checkout of it, in one process, alternating: prints one JSON line.

usage: python -m bench.ab --baseline DIR [--sizes 10000,100000] [--pairs 6] [--blocks 30]
                          [--any-scores]

Why one process: on a shared machine the speed swings by half within seconds, longer than a
side of ``bench.compare`` takes, so a slow spell can fall on one side only. Here both
versions run in turns of a few milliseconds (single stores, finds) or one bulk call each, and
each measure is the median of the per-turn ratios, with their range.

DIR is a checkout of this project; its ``reasoningbank`` package is copied under another
name (``rb_baseline``) so both import side by side. Measures per size N (patterns from
``reasoningbank.timings.make_dataset``, dedup off, SQLite file banks):
  bulk     ``store_patterns`` of N new patterns into an empty bank, ``--pairs`` turns a side
  single   ``store_pattern`` p50 per turn of 200 into a bank of N, ``--blocks`` turns a side
  find     ``find_similar`` (top 5, category) p50 per turn of 50 queries, ``--blocks`` turns
With ``--any-scores`` each pattern's score is redrawn as any float in (0, 1] (seeded): the
dataset's have three decimals, so outcomes repeat, an agent's may not.
Ratios read "how many times better the current tree is" (old time / new time).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import itertools
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _import_baseline(checkout: str, into: str) -> Any:
    """The baseline's package, imported as ``rb_baseline`` from a copy under ``into``."""
    source = os.path.join(checkout, "reasoningbank")
    if not os.path.isfile(os.path.join(source, "__init__.py")):
        raise SystemExit(f"bench.ab: {checkout} has no reasoningbank package")
    shutil.copytree(source, os.path.join(into, "rb_baseline"))
    sys.path.insert(0, into)
    return importlib.import_module("rb_baseline")


def _summary(new: list[float], old: list[float], higher_is_better: bool) -> dict[str, Any]:
    ratios = [n / o if higher_is_better else o / n for n, o in zip(new, old, strict=True)]
    return {
        "new_median": statistics.median(new),
        "old_median": statistics.median(old),
        "ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "turns": len(ratios),
    }


def _p50(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


async def _bulk(sides: dict[str, Any], pats: list[dict], pairs: int, tmp: str) -> dict:
    rates: dict[str, list[float]] = {name: [] for name in sides}
    for turn in range(pairs):
        order = list(sides.items()) if turn % 2 else list(sides.items())[::-1]
        for name, mod in order:
            folder = tempfile.mkdtemp(dir=tmp)
            bank = await mod.ReasoningBank.open(os.path.join(folder, "b.db"), dedup_threshold=None)
            items = [dict(p) for p in pats]
            t0 = time.perf_counter()
            await bank.store_patterns(items)
            rates[name].append(len(pats) / (time.perf_counter() - t0))
            await bank.close()
            shutil.rmtree(folder)
    return _summary(rates["new"], rates["old"], higher_is_better=True)


async def _turns(sides: dict[str, Any], pats, queries, blocks: int, tmp: str) -> dict:
    banks = {}
    for name, mod in sides.items():
        bank = await mod.ReasoningBank.open(os.path.join(tmp, f"{name}.db"), dedup_threshold=None)
        await bank.store_patterns([dict(p) for p in pats])
        banks[name] = bank
    stores: dict[str, list[float]] = {name: [] for name in sides}
    finds: dict[str, list[float]] = {name: [] for name in sides}
    more = itertools.cycle(pats)  # stored again as new patterns (dedup is off)
    for turn in range(blocks):
        order = list(banks.items()) if turn % 2 else list(banks.items())[::-1]
        for name, bank in order:
            lat = []
            for _ in range(200):
                item = dict(next(more))
                t0 = time.perf_counter()
                await bank.store_pattern(item)
                lat.append(time.perf_counter() - t0)
            stores[name].append(_p50(lat) * 1e6)
            lat = []
            for q in queries[(turn * 50) % len(queries) :][:50]:
                t0 = time.perf_counter()
                await bank.find_similar(
                    q["task_description"], task_category=q["task_category"], top_k=5
                )
                lat.append(time.perf_counter() - t0)
            finds[name].append(_p50(lat) * 1e3)
    for bank in banks.values():
        await bank.close()
    return {
        "single_store_p50_us": _summary(stores["new"], stores["old"], higher_is_better=False),
        "find_p50_ms": _summary(finds["new"], finds["old"], higher_is_better=False),
    }


def any_scores(pats: list[dict], seed: int) -> list[dict]:
    """``pats`` with each score (and success) redrawn as any float in (0, 1]."""
    rnd = random.Random(seed)
    out = []
    for p in pats:
        score = 1.0 - rnd.random()
        out.append({**p, "success_score": score,
                    "outcome": {"success": score >= 0.5, "success_score": score}})  # fmt: skip
    return out


async def run(
    baseline: str, sizes: list[int], pairs: int, blocks: int, scores: bool = False
) -> dict:
    sys.path.insert(0, ROOT)
    from reasoningbank.timings import make_dataset

    with tempfile.TemporaryDirectory() as tmp:
        sides = {"new": importlib.import_module("reasoningbank"), "old": None}
        sides["old"] = _import_baseline(baseline, tmp)
        out: dict[str, Any] = {
            "baseline": os.path.abspath(baseline), "any_scores": scores, "sizes": {}
        }  # fmt: skip
        for n in sizes:
            pats, queries = make_dataset(n, 200)
            if scores:
                pats = any_scores(pats, n)
            found = {"bulk_per_s": await _bulk(sides, pats, pairs, tmp)}
            found.update(await _turns(sides, pats, queries, blocks, tmp))
            out["sizes"][str(n)] = found
        out["load"] = os.getloadavg()
        return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", required=True, help="a checkout of this project to compare with")
    ap.add_argument("--sizes", default="10000,100000", help="bank sizes, comma-separated")
    ap.add_argument("--pairs", type=int, default=6, help="bulk stores per side and size")
    ap.add_argument("--blocks", type=int, default=30, help="turns of single stores and finds")
    ap.add_argument("--any-scores", action="store_true", help="scores as any float in (0, 1]")
    a = ap.parse_args(argv)
    sizes = [int(s) for s in a.sizes.split(",") if s]
    print(json.dumps(asyncio.run(run(a.baseline, sizes, a.pairs, a.blocks, a.any_scores))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
