"""Side-by-side speed: ReasoningBank-Py vs agentic-flow 1.7.3 (ReasoningBankWasm and the TypeScript
ReasoningBank) and SQLite's FTS5 full-text index, on the same deterministic dataset, in one run.

usage: python -m bench.compare [--sizes 1000,10000] [--full] [--queries 200] [--repeat R]
                               [--json FILE] [--no-ts] [--no-fts5] [--ts-max N]
                               [--baseline DIR]

Steps: install the peer once (bench/peer/setup.sh; npm, cached under the user's cache dir or
$PEER_DIR), write the dataset for each N (bench/dataset.py), run our bank (bench/ours.py) and each
peer (bench/peer/*.mjs, bench/fts5.py) as separate processes on the same files, print a table with ratios and one
JSON document. Ratios read "how many times better ours is": peer time / our time, our rate / peer
rate, peer RSS / our RSS.

Read the ratios with these facts:
- ReasoningBankWasm's findSimilar loads at most 1,000 patterns of the query's category and scores
  only those, so past ~5,000 patterns its time stops growing and it never sees the rest; ours is
  exact over all N. Which 1,000 is arbitrary (its in-memory store's hash-map order of random
  ids), not the first stored: a unique exact-match pattern among 3,001 of its category was
  returned in 10 of 24 trials, whether stored first or last.
- ReasoningBankWasm keeps patterns in RAM only under Node (nothing is durable); its "store" is
  an in-memory insert and it has no bulk call. Ours is measured on a SQLite file.
- The TypeScript ReasoningBank has no bulk call either (its rate is its per-pattern loop). Its
  SQLite is WAL with synchronous=NORMAL, the same durability class as our default; our
  durability="full" (fsync per commit) is reported too.
- FTS5 (bench/fts5.py) is SQLite's C full-text index with bm25 ranking: same file durability as
  our default (WAL, synchronous=NORMAL), bulk in one executemany, find = top 5 by bm25 among the
  query category's rows sharing any query term. Its ranking is bm25, not our composite score.
- The TS peer's offline embedding is a hash of the whole string (no text similarity at all);
  ReasoningBankWasm's is raw character codes (see bench/quality). Speed compares; quality does not.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import dataset

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEER = HERE / "peer"
WASM_NOTE = (
    "ReasoningBankWasm findSimilar scores at most 1,000 (arbitrary) patterns of the query "
    "category (ours: exact over all N)"
)


def _run_json(cmd, env=None, cwd=None, timeout=3600) -> dict:
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stderr[-3000:]}"
        )
    lines = [x for x in r.stdout.splitlines() if x.startswith("{")]
    if not lines:
        raise RuntimeError(f"{' '.join(map(str, cmd))} printed no JSON:\n{r.stdout[-2000:]}")
    return json.loads(lines[-1])


def setup_peer() -> tuple[str | None, str | None]:
    """-> (peer_dir, error)"""
    if not shutil.which("node") or not shutil.which("npm"):
        return None, "node/npm not found: peer skipped"
    t0 = time.perf_counter()
    r = subprocess.run(["bash", str(PEER / "setup.sh")], capture_output=True, text=True)
    if r.returncode != 0:
        return None, f"peer setup failed: {r.stderr.strip()[-1500:]}"
    d = r.stdout.strip().splitlines()[-1]
    if time.perf_counter() - t0 > 5:
        print(f"peer installed in {d} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return d, None


def ratio(num, den):
    if num is None or den is None or den == 0:
        return None
    return num / den


def _median_runs(runs: list[dict]) -> dict:
    """Per-field median over repeated runs (numbers only; other fields from the first run)."""
    if len(runs) == 1:
        return runs[0]
    out = dict(runs[0])
    for k, v in runs[0].items():
        vals = [r.get(k) for r in runs]
        if (
            isinstance(v, (int, float))
            and not isinstance(v, bool)
            and all(isinstance(x, (int, float)) for x in vals)
        ):
            out[k] = statistics.median(vals)
    out["repeats"] = len(runs)
    return out


def run(
    sizes,
    queries,
    singles,
    ts,
    ts_max,
    keep=None,
    repeat=1,
    ts_repeat_max=10_000,
    fts5=True,
    baseline=None,
) -> dict:
    peer_dir, peer_err = setup_peer()
    env = dict(os.environ)
    if peer_dir:
        env["PEER_DIR"] = peer_dir
    node_v = (
        subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
        if shutil.which("node")
        else None
    )
    out = {
        "machine": {
            "python": platform.python_version(),
            "node": node_v,
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "queries": queries,
        "notes": [WASM_NOTE],
        "runs": [],
    }
    if peer_err:
        out["notes"].append(peer_err)
    tmp = keep or tempfile.mkdtemp(prefix="rb-compare-")
    try:
        for n in sizes:
            d = os.path.join(tmp, f"n{n}")
            dataset.write(n, queries, d)
            row = {"n": n}
            got: dict[str, list] = {"ours": [], "baseline": [], "fts5": [], "wasm": [], "ts": []}
            for rep in range(repeat):  # interleaved, so a busy moment hits every side alike
                tag = f" (run {rep + 1}/{repeat})" if repeat > 1 else ""
                print(f"N={n:,}: ours{tag} ...", file=sys.stderr, flush=True)
                got["ours"].append(
                    _run_json(
                        [sys.executable, "-m", "bench.ours", d, "--singles", str(singles)],
                        cwd=str(ROOT),
                    )
                )
                if baseline:
                    print(f"N={n:,}: ours at {baseline}{tag} ...", file=sys.stderr, flush=True)
                    got["baseline"].append(
                        _run_json(
                            [sys.executable, "-m", "bench.ours", d, "--singles", str(singles)],
                            env={**os.environ, "PYTHONPATH": baseline},
                            cwd=baseline,
                        )
                    )
                if fts5:
                    print(f"N={n:,}: SQLite FTS5{tag} ...", file=sys.stderr, flush=True)
                    got["fts5"].append(
                        _run_json(
                            [sys.executable, "-m", "bench.fts5", d, "--singles", str(singles)],
                            cwd=str(ROOT),
                        )
                    )
                if not peer_dir:
                    continue
                print(f"N={n:,}: ReasoningBankWasm{tag} ...", file=sys.stderr, flush=True)
                try:
                    got["wasm"].append(
                        _run_json(["node", str(PEER / "wasm_bench.mjs"), d], env=env)
                    )
                except RuntimeError as e:
                    row["wasm_error"] = str(e)[:500]
                if ts and n <= ts_max and (rep == 0 or n <= ts_repeat_max):
                    print(
                        f"N={n:,}: TypeScript ReasoningBank{tag} ...", file=sys.stderr, flush=True
                    )
                    try:
                        got["ts"].append(
                            _run_json(["node", str(PEER / "ts_bench.mjs"), d], env=env)
                        )
                    except RuntimeError as e:
                        row["ts_error"] = str(e)[:500]
            for side, runs in got.items():
                if runs:
                    row[side] = _median_runs(runs)
            row["ratios"] = ratios(row)
            out["runs"].append(row)
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def ratios(row) -> dict:
    o, w, t, f = row["ours"], row.get("wasm"), row.get("ts"), row.get("fts5")
    r = {}
    if row.get("baseline"):
        b = row["baseline"]
        r["vs_baseline"] = {
            "bulk_store_rate": ratio(o["bulk_per_s"], b["bulk_per_s"]),
            "single_store_speedup": ratio(b["store_p50_us"], o["store_p50_us"]),
            "find_p50_speedup": ratio(b["find_p50_ms"], o["find_p50_ms"]),
            "bulk_peak_rss": ratio(b["bulk_peak_rss_mb"], o["bulk_peak_rss_mb"]),
        }
        if w:
            r["baseline_vs_wasm_bulk_store_rate"] = ratio(b["bulk_per_s"], w["bulk_per_s"])
    if f:
        r["vs_fts5"] = {
            "bulk_store_rate": ratio(o["bulk_per_s"], f["bulk_per_s"]),
            "single_store_speedup": ratio(f["store_p50_us"], o["store_p50_us"]),
            "find_p50_speedup": ratio(f["find_p50_ms"], o["find_p50_ms"]),
            "find_p95_speedup": ratio(f["find_p95_ms"], o["find_p95_ms"]),
            "reopen_speedup": ratio(f["reopen_s"], o.get("reopen_s")),
        }
    if w:
        r["vs_wasm"] = {
            "bulk_store_rate": ratio(o["bulk_per_s"], w["bulk_per_s"]),
            "find_p50_speedup": ratio(w["find_p50_ms"], o["find_p50_ms"]),
            "find_p95_speedup": ratio(w["find_p95_ms"], o["find_p95_ms"]),
            "rss_ratio_peer_over_ours": ratio(w["rss_mb"], _bank_rss(o)),
            "note": WASM_NOTE + "; its store is RAM-only",
        }
    if t:
        r["vs_ts"] = {
            "bulk_store_rate": ratio(o["bulk_per_s"], t["bulk_per_s"]),
            "single_store_speedup": ratio(t["store_p50_us"], o["store_p50_us"]),
            "single_store_speedup_ours_fsync": ratio(t["store_p50_us"], o["store_full_p50_us"]),
            "find_p50_speedup": ratio(t["find_p50_ms"], o["find_p50_ms"]),
            "find_p95_speedup": ratio(t["find_p95_ms"], o["find_p95_ms"]),
            "rss_ratio_peer_over_ours": ratio(t["rss_mb"], _bank_rss(o)),
        }
    return r


def _bank_rss(o):
    """Our bank's footprint: RSS of a fresh process that opened the bank file and ran the
    queries (no harness copy of the dataset); the in-harness RSS if that is missing."""
    return o.get("reopen_rss_mb") or o.get("rss_mb")


def _f(x, fmt="{:.3g}"):
    return "-" if x is None else fmt.format(x)


def _x(x):
    return "-" if x is None else f"{x:.2f}x"


def table(res) -> str:
    h = [
        "N",
        "metric",
        "ours",
        "SQLite FTS5",
        "ours vs FTS5",
        "ReasoningBankWasm",
        "ours vs Wasm",
        "TS ReasoningBank",
        "ours vs TS",
    ]
    lines = ["| " + " | ".join(h) + " |", "|" + "---|" * len(h)]
    for row in res["runs"]:
        o, w, t = row["ours"], row.get("wasm") or {}, row.get("ts") or {}
        f = row.get("fts5") or {}
        rw, rt = row["ratios"].get("vs_wasm", {}), row["ratios"].get("vs_ts", {})
        rf = row["ratios"].get("vs_fts5", {})
        n = f"{row['n']:,}"
        lines += [
            f"| {n} | bulk store (patterns/s) | {_f(o['bulk_per_s'], '{:,.0f}')} (SQLite, 1 txn) "
            f"| {_f(f.get('bulk_per_s'), '{:,.0f}')} (1 txn) | {_x(rf.get('bulk_store_rate'))} "
            f"| {_f(w.get('bulk_per_s'), '{:,.0f}')} (RAM, loop) | {_x(rw.get('bulk_store_rate'))} "
            f"| {_f(t.get('bulk_per_s'), '{:,.0f}')} (loop) | {_x(rt.get('bulk_store_rate'))} |",
            f"| {n} | single durable store p50 (us) | {_f(o['store_p50_us'], '{:.0f}')} "
            f"(fsync: {_f(o['store_full_p50_us'], '{:.0f}')}) "
            f"| {_f(f.get('store_p50_us'), '{:.0f}')} | {_x(rf.get('single_store_speedup'))} "
            f"| {_f(w.get('store_us'), '{:.1f}')} "
            f"(RAM only, mean) | n/a | {_f(t.get('store_p50_us'), '{:.0f}')} "
            f"| {_x(rt.get('single_store_speedup'))} (fsync: "
            f"{_x(rt.get('single_store_speedup_ours_fsync'))}) |",
            f"| {n} | find_similar top-5 p50 (ms) | {_f(o['find_p50_ms'])} "
            f"| {_f(f.get('find_p50_ms'))} | {_x(rf.get('find_p50_speedup'))} "
            f"| {_f(w.get('find_p50_ms'))} | {_x(rw.get('find_p50_speedup'))} * "
            f"| {_f(t.get('find_p50_ms'))} | {_x(rt.get('find_p50_speedup'))} |",
            f"| {n} | find_similar top-5 p95 (ms) | {_f(o['find_p95_ms'])} "
            f"| {_f(f.get('find_p95_ms'))} | {_x(rf.get('find_p95_speedup'))} "
            f"| {_f(w.get('find_p95_ms'))} | {_x(rw.get('find_p95_speedup'))} * "
            f"| {_f(t.get('find_p95_ms'))} | {_x(rt.get('find_p95_speedup'))} |",
            f"| {n} | reopen (s) | {_f(o.get('reopen_s'))} | {_f(f.get('reopen_s'))} "
            f"| {_x(rf.get('reopen_speedup'))} | n/a | n/a | n/a | n/a |",
            f"| {n} | RSS with N loaded (MB) | {_f(_bank_rss(o), '{:.0f}')} (peak while bulk "
            f"loading: {_f(o.get('bulk_peak_rss_mb', o['peak_rss_mb']), '{:.0f}')}) "
            f"| {_f(f.get('rss_mb'), '{:.0f}')} | - "
            f"| {_f(w.get('rss_mb'), '{:.0f}')} "
            f"| {_x(rw.get('rss_ratio_peer_over_ours'))} | {_f(t.get('rss_mb'), '{:.0f}')} "
            f"| {_x(rt.get('rss_ratio_peer_over_ours'))} |",
        ]
    lines.append("")
    lines.append(
        "Ratios: >1 means ours is better (faster, higher rate, less memory). "
        "* " + WASM_NOTE + ", so at N > 5,000 it does less work than ours."
    )
    lines.append(
        "Our RSS is a fresh process that opened the bank file and ran the queries; the "
        "peers' is their process after the run (their data lives in that process)."
    )
    for nt in res["notes"][1:]:
        lines.append(f"Note: {nt}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--sizes", default="1000,10000", help="comma list of N (default 1000,10000)")
    ap.add_argument("--full", action="store_true", help="add N=100,000")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--singles", type=int, default=200, help="single stores timed per N")
    ap.add_argument("--no-ts", action="store_true", help="skip the TypeScript ReasoningBank")
    ap.add_argument("--no-fts5", action="store_true", help="skip the SQLite FTS5 peer")
    ap.add_argument("--ts-max", type=int, default=100_000, help="largest N for the TS peer")
    ap.add_argument("--json", metavar="FILE", help="also write the JSON document to FILE")
    ap.add_argument("--keep", metavar="DIR", help="write datasets to DIR and keep them")
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run every side R times, interleaved, and report medians (default 1)",
    )
    ap.add_argument(
        "--baseline",
        metavar="DIR",
        help="also run our bank from the checkout DIR (an older commit), interleaved",
    )
    ap.add_argument(
        "--ts-repeat-max",
        type=int,
        default=10_000,
        help="largest N at which the (slow) TS peer is repeated too",
    )
    a = ap.parse_args(argv)
    sizes = [int(x) for x in a.sizes.split(",") if x.strip()]
    if a.full and 100_000 not in sizes:
        sizes.append(100_000)
    res = run(
        sizes,
        a.queries,
        a.singles,
        not a.no_ts,
        a.ts_max,
        a.keep,
        a.repeat,
        a.ts_repeat_max,
        fts5=not a.no_fts5,
        baseline=a.baseline,
    )
    res["repeat"] = a.repeat
    print(table(res))
    print()
    doc = json.dumps(res, indent=1)
    print(doc)
    if a.json:
        Path(a.json).write_text(doc + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
