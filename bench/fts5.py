"""Time SQLite's own FTS5 full-text index on a dataset written by bench/dataset.py; prints one
JSON line.

usage: python -m bench.fts5 DATA_DIR [--singles 200]

Why it is a peer: FTS5 (C, bm25 ranking, porter tokenizer) is what a Python developer might
pick instead of a memory library, and it ships with every CPython. It gets the same work and
the same durability class as our default bank:
  bulk     every pattern in one ``executemany`` and one transaction, WAL, synchronous=NORMAL
  single   one insert per committed transaction after the bulk load (survives kill -9)
  find     top 5 by bm25 among rows of the query's category sharing any query term
           (``MATCH 'a OR b ...' AND task_category = ?``), after 5 warm-up queries
  reopen   open the file and run one query (FTS5 keeps its index on disk)
The row holds what our bank stores: the description (indexed), category and strategy, and
the pattern's JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import tempfile
import time

from .ours import _load, _pct, _peak_rss_mb, _rss_mb

_WORD = re.compile(r"\w+")
_INSERT = "INSERT INTO patterns (task_description, task_category, strategy, body) VALUES (?,?,?,?)"


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _row(p: dict) -> tuple[str, str, str, str]:
    return (p["task_description"], p["task_category"], p["strategy"], json.dumps(p))


def _query(text: str) -> str:
    """Any query term matches (as our bank's candidates do); each term quoted."""
    return " OR ".join(f'"{w}"' for w in _WORD.findall(text.lower()))


def _find(conn: sqlite3.Connection, qs: list[dict]) -> dict:
    sql = (
        "SELECT rowid, bm25(patterns) FROM patterns WHERE patterns MATCH ? "
        "AND task_category = ? ORDER BY bm25(patterns) LIMIT 5"
    )
    for q in qs[:5]:
        conn.execute(sql, (_query(q["task_description"]), q["task_category"])).fetchall()
    lat, hits = [], 0
    for q in qs:
        t = time.perf_counter()
        rows = conn.execute(sql, (_query(q["task_description"]), q["task_category"])).fetchall()
        lat.append((time.perf_counter() - t) * 1e3)
        hits += len(rows)
    lat.sort()
    return {
        "find_p50_ms": _pct(lat, 0.5),
        "find_p95_ms": _pct(lat, 0.95),
        "find_mean_ms": sum(lat) / len(lat),
        "hits_mean": hits / len(qs),
    }


def run(data_dir: str, singles: int) -> dict:
    pats, qs = _load(data_dir)
    out: dict = {"impl": "SQLite FTS5", "sqlite": sqlite3.sqlite_version, "n": len(pats)}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "fts5.db")
        conn = _connect(path)
        conn.execute(
            "CREATE VIRTUAL TABLE patterns USING fts5(task_description, "
            "task_category UNINDEXED, strategy UNINDEXED, body UNINDEXED, tokenize='porter')"
        )
        t0 = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(_INSERT, [_row(p) for p in pats])
        conn.execute("COMMIT")
        out["bulk_per_s"] = len(pats) / (time.perf_counter() - t0)
        out.update(_find(conn, qs))
        out["rss_mb"] = _rss_mb()
        lat = []
        for p in pats[:singles]:
            t = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(_INSERT, _row(p))
            conn.execute("COMMIT")
            lat.append((time.perf_counter() - t) * 1e6)
        lat.sort()
        out["store_p50_us"] = _pct(lat, 0.5)
        out["store_mean_us"] = sum(lat) / len(lat)
        conn.close()
        t0 = time.perf_counter()
        conn = _connect(path)
        conn.execute(
            "SELECT rowid FROM patterns WHERE patterns MATCH ? LIMIT 5",
            (_query(qs[0]["task_description"]),),
        ).fetchall()
        out["reopen_s"] = time.perf_counter() - t0
        conn.close()
        out["db_mb"] = sum(os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp)) / 1e6
    out["peak_rss_mb"] = _peak_rss_mb()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.fts5")
    ap.add_argument("data_dir")
    ap.add_argument("--singles", type=int, default=200)
    a = ap.parse_args(argv)
    print(json.dumps(run(a.data_dir, a.singles)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
