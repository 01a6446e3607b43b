#!/usr/bin/env python3
"""Browser benchmarks (Chromium, Debian binary, through Playwright); results go to the
``## Browser`` section of docs/benchmarks.md.

usage: python scripts/bench-browser.py [--n 10000] [--queries 200] [--json OUT]
       [--only js-api|first-answer] [--dense-only] [--idb-only]

Measures, on the deterministic dataset of ``bench/dataset.py`` (N patterns, 5 categories):

- ours, inside Pyodide in Chromium, on an IndexedDB bank (dedup off, so it holds N patterns):
  bulk store, ``ReasoningBank.open`` of the N-pattern bank from IndexedDB (and the store's
  ``load()`` alone), ``find_similar(desc, category, top_k=5)`` timed in Python, and the same
  query through the JS API (``rb.findSimilar``: FFI and reply included), alternating with
  Python runs on the same bank so that the overhead is measured under the same load;
- ReasoningBankWasm (npm agentic-flow@1.7.3, installed by bench/peer/setup.sh into
  $PEER_DIR), in the same Chromium, on the same data: in a dedicated worker, where it uses its
  in-memory storage (as under Node), and as shipped in a page, where its storage keeps nothing
  (its finds return no results: reported, not compared);
- IndexedDB bulk store (``--idb-only`` runs just this part): N patterns in batches of 1,000
  through the bank, through the store alone and through the JS API, beside plain IndexedDB in
  the same page (one request per record; one value per batch);
- page load to the first answered query with a warm cache (service worker), empty-ish bank
  and N-pattern bank: navigation start to results on screen (``?q=`` runs one search),
  reloading one tab, booting from the Pyodide memory snapshot (web/boot.js) and without it,
  alternately; then in new tabs; with the median of each step (``steps_ms``); and the first
  visit in a fresh profile (nothing cached);
- hybrid (lexical + semantic) search with the browser's semantic asset, when the server offers
  one: an in-memory bank of (at most) 10,000 patterns embedded in Pyodide, ``find_similar``;
- the dense vector kernels, 10,000 x 384, top-5 (and all cosines, ``scores``): pure Python,
  the plain JS loop, the WebAssembly SIMD kernel (float32 scan, int8 scan); ``--dense-only``
  runs just this part.

Browsers clamp ``performance.now()`` (100 µs steps in Chromium without cross-origin
isolation), so per-query p50s are coarse; means come from total time / count.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from browsers import DEPS, launch  # noqa: E402

PEER_VERSION = "1.7.3"

OURS_PY = r"""
import json, time
from reasoningbank import ReasoningBank
from storage_idb import IdbStore, delete_database

def pct(v, q):
    v = sorted(v)
    import math
    return v[min(len(v) - 1, max(0, math.ceil(q * len(v)) - 1))]

pats = [json.loads(l) for l in open('/tmp/patterns.jsonl')]
qs = [json.loads(l) for l in open('/tmp/queries.jsonl')]
await delete_database('rb-bench')
out = {}
bank = await ReasoningBank.open('idb://rb-bench', dedup_threshold=None)
t = time.perf_counter()
for i in range(0, len(pats), 1000):
    await bank.store_patterns(pats[i:i + 1000])
out['bulk_per_s'] = len(pats) / (time.perf_counter() - t)
await bank.close()

opens = []
for _ in range(4):
    t = time.perf_counter()
    bank = await ReasoningBank.open('idb://rb-bench', dedup_threshold=None)
    opens.append((time.perf_counter() - t) * 1e3)
    if _ < 3:
        await bank.close()
# The first open reads every chunk (and compacts in the background if there is anything to
# compact); later opens read the same chunks or the compacted ones.
out['open_full_ms'] = opens[0]
out['open_snapshot_ms'] = min(opens[1:])
out['open_ms_all'] = opens
store = await IdbStore.open('rb-bench')
t = time.perf_counter()
recs = await store.load()
out['store_load_ms'] = (time.perf_counter() - t) * 1e3
await store.close()
assert len(recs) == len(pats), len(recs)
out['total_patterns'] = (await bank.get_stats())['total_patterns']

for q in qs[:5]:
    await bank.find_similar(q['task_description'], q['task_category'], 5)
lat, hits = [], 0
t0 = time.perf_counter()
for q in qs:
    t = time.perf_counter()
    r = await bank.find_similar(q['task_description'], q['task_category'], 5)
    lat.append((time.perf_counter() - t) * 1e3)
    hits += len(r)
total = time.perf_counter() - t0
out.update(find_p50_ms=pct(lat, 0.5), find_p95_ms=pct(lat, 0.95), find_mean_ms=total * 1e3 / len(qs),
           hits_mean=hits / len(qs))
await bank.close()
json.dumps(out)
"""

# IndexedDB bulk store: N patterns in batches of 1,000 (one transaction each), through the
# bank (validate, analyze, index, store), through the store alone (what put() costs), and
# through the JS API; an in-memory bank (the bank's own work, no store) beside them; best of
# REPS runs each. The raw IndexedDB references (IDB_RAW_JS) run
# in the same page right after.
IDB_BULK_PY = r"""
import json, time
from reasoningbank import ReasoningBank
from reasoningbank.storage.base import Record
from storage_idb import IdbStore, delete_database

pats = [json.loads(l) for l in open('/tmp/patterns.jsonl')]
recs = [
    Record(f'p{i}', p['task_category'], p['strategy'], 1.7e9 + i, 1.7e9 + i,
           json.dumps(p, separators=(',', ':')), p['task_description'].split(), None)
    for i, p in enumerate(pats)
]
out = {'bank_per_s_all': [], 'store_per_s_all': [], 'memory_bank_per_s_all': []}
for rep in range(REPS):
    bank = await ReasoningBank.open(':memory:', dedup_threshold=None)
    t = time.perf_counter()
    for i in range(0, len(pats), 1000):
        await bank.store_patterns(pats[i:i + 1000])
    out['memory_bank_per_s_all'].append(len(pats) / (time.perf_counter() - t))
    await bank.close()
    await delete_database('rb-bulk')
    bank = await ReasoningBank.open('idb://rb-bulk', dedup_threshold=None)
    t = time.perf_counter()
    for i in range(0, len(pats), 1000):
        await bank.store_patterns(pats[i:i + 1000])
    out['bank_per_s_all'].append(len(pats) / (time.perf_counter() - t))
    await bank.close()
    await delete_database('rb-bulk-store')
    store = await IdbStore.open('rb-bulk-store')
    t = time.perf_counter()
    for i in range(0, len(recs), 1000):
        await store.put(recs[i:i + 1000])
    out['store_per_s_all'].append(len(recs) / (time.perf_counter() - t))
    await store.close()
t = time.perf_counter()
bank = await ReasoningBank.open('idb://rb-bulk', dedup_threshold=None)
out['open_ms'] = (time.perf_counter() - t) * 1e3
out['total_patterns'] = (await bank.get_stats())['total_patterns']
await bank.close()
out['bank_per_s'] = max(out['bank_per_s_all'])
out['store_per_s'] = max(out['store_per_s_all'])
out['memory_bank_per_s'] = max(out['memory_bank_per_s_all'])
json.dumps(out)
"""

IDB_BULK_JS_API = r"""
async ([pats, reps]) => {
  const { ReasoningBank } = await import('/reasoningbank.js');
  const all = [];
  for (let r = 0; r < reps; r++) {
    await window.rb.pyodide.runPythonAsync(
      "from storage_idb import delete_database\nawait delete_database('rb-bulk-js')");
    const rb = await ReasoningBank.load({ db: 'rb-bulk-js', dedupThreshold: null });
    const t0 = performance.now();
    for (let i = 0; i < pats.length; i += 1000) await rb.storePatterns(pats.slice(i, i + 1000));
    all.push(pats.length / ((performance.now() - t0) / 1e3));
    await rb.close();
  }
  return { per_s: Math.max(...all), per_s_all: all };
}
"""

IDB_RAW_JS = r"""
async ([values, reps]) => {
  // Plain IndexedDB in this page, the same pattern JSON: one request per record, and one
  // value per batch of 1,000 (an array of the batch's strings); one transaction per batch.
  const open = (name) => new Promise((resolve, reject) => {
    const del = indexedDB.deleteDatabase(name);
    del.onsuccess = del.onerror = () => {
      const r = indexedDB.open(name, 1);
      r.onupgradeneeded = () => r.result.createObjectStore('s');
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    };
  });
  const commit = (tx) => new Promise((res, rej) => { tx.oncomplete = res; tx.onabort = () => rej(tx.error); });
  const run = async (perRecord) => {
    const db = await open('rb-raw');
    const t0 = performance.now();
    for (let i = 0; i < values.length; i += 1000) {
      const tx = db.transaction('s', 'readwrite');
      const store = tx.objectStore('s');
      const batch = values.slice(i, i + 1000);
      if (perRecord) batch.forEach((v, k) => store.put(v, i + k));
      else store.put(batch, i);
      await commit(tx);
    }
    const perS = values.length / ((performance.now() - t0) / 1e3);
    db.close();
    return perS;
  };
  const perRecord = [], perBatch = [];
  for (let r = 0; r < reps; r++) {
    perRecord.push(await run(true));
    perBatch.push(await run(false));
  }
  return { per_record_per_s: Math.max(...perRecord), one_value_per_batch_per_s: Math.max(...perBatch) };
}
"""


def run_idb_bulk(page: Any, pats: list[str], reps: int = 3) -> dict[str, Any]:
    """Bulk store into IndexedDB (IDB_BULK_PY, IDB_BULK_JS_API) and the raw IndexedDB
    references (IDB_RAW_JS), in a page where the app is ready and /tmp/patterns.jsonl exists."""
    out: dict[str, Any] = json.loads(
        page.evaluate(
            "c => window.rb.pyodide.runPythonAsync(c)", IDB_BULK_PY.replace("REPS", str(reps))
        )
    )
    out["js_api"] = page.evaluate(IDB_BULK_JS_API, [[json.loads(p) for p in pats], reps])
    out["raw"] = page.evaluate(IDB_RAW_JS, [pats, reps])
    out["bank_vs_raw_per_record"] = out["bank_per_s"] / out["raw"]["per_record_per_s"]
    return out


def idb_only(n: int, json_out: str | None) -> int:
    """Just the IndexedDB bulk store section, with the machine's load average."""
    from playwright.sync_api import sync_playwright

    from bench.dataset import write
    from reasoningbank.serve import serve_in_thread

    tmp = Path(tempfile.mkdtemp(prefix="rb-bench-idb-"))
    write(n, 1, str(tmp))
    pats_text = (tmp / "patterns.jsonl").read_text()
    app, url = serve_in_thread(port=0, pyodide_dir=str(DEPS / "node_modules" / "pyodide"))
    results: dict[str, Any] = {"n": n, "load_before": os.getloadavg()}
    with sync_playwright() as p:
        browser = launch(p, "chromium")
        try:
            page = booted_page(browser, url)
            results["chromium"] = browser.version
            page.evaluate(
                "a => window.rb.pyodide.FS.writeFile('/tmp/patterns.jsonl', a)", pats_text
            )
            results["idb_bulk"] = run_idb_bulk(page, pats_text.strip().split("\n"))
        finally:
            browser.close()
    app.shutdown()
    results["load_after"] = os.getloadavg()
    shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(results, indent=1))
    if json_out:
        Path(json_out).write_text(json.dumps(results, indent=1))
    return 0


SEMANTIC_PY = r"""
import json, math, time
from pyodide.http import pyfetch
from reasoningbank import ReasoningBank
from reasoningbank.semantic_asset import AssetEmbedder

info = await (await pyfetch('build-info.json')).json()
out = {}
if info.get('semantic'):
    t = time.perf_counter()
    emb = AssetEmbedder.from_bytes(await (await pyfetch(info['semantic'])).bytes())
    out['asset_load_ms'] = (time.perf_counter() - t) * 1e3
    pats = [json.loads(l) for l in open('/tmp/patterns.jsonl')][:10000]
    qs = [json.loads(l) for l in open('/tmp/queries.jsonl')]
    bank = await ReasoningBank.open(':memory:', embedder=emb, dedup_threshold=None)
    t = time.perf_counter()
    await bank.store_patterns(pats)
    out['n'] = len(pats)
    out['store_per_s'] = len(pats) / (time.perf_counter() - t)
    out['dense_backend'] = bank._table.dense.backend
    for q in qs[:5]:
        await bank.find_similar(q['task_description'], q['task_category'], 5)
    lat = []
    t0 = time.perf_counter()
    for q in qs:
        t = time.perf_counter()
        await bank.find_similar(q['task_description'], q['task_category'], 5)
        lat.append((time.perf_counter() - t) * 1e3)
    out['find_mean_ms'] = (time.perf_counter() - t0) * 1e3 / len(qs)
    out['find_p50_ms'] = sorted(lat)[math.ceil(0.5 * len(lat)) - 1]
    t = time.perf_counter()
    for q in qs:
        emb(q['task_description'])
    out['embed_query_ms'] = (time.perf_counter() - t) * 1e3 / len(qs)
    await bank.close()
json.dumps(out)
"""

OURS_JS_API = r"""
async ([qs, reps]) => {
  // The JS API against the Python API on the same open bank. This machine's load drifts, so
  // the ways of calling take turns every 20 queries, and each repetition times all of them
  // over the same 200 queries: the overhead is the difference of the best repetitions.
  //   python:     await bank.find_similar(...) in a Python loop (the search alone);
  //   js:         await rb.findSimilar(...) (jsapi.find: primitives in, no task);
  //   js_general: the same call through the general entry every other method takes
  //               (jsapi.call: a JSON array of arguments, an eager task);
  //   python_reply: jsapi.find called from a Python loop (the JS path's Python work: the
  //               search and the packed reply, with no Pattern built), so that
  //               js - python_reply is what crossing into Python and back costs.
  const { ReasoningBank } = await import('/reasoningbank.js');
  const rb = await ReasoningBank.load({ db: 'rb-bench', dedupThreshold: null });
  rb.pyodide.globals.set('bench_queries', JSON.stringify(qs));
  const pyRun = await rb.pyodide.runPythonAsync(`
import json, time
from reasoningbank import jsapi
async def bench_py_run(handle, a, b, qs=json.loads(bench_queries)):
    bank = jsapi.bank_for(handle)
    t0 = time.perf_counter()
    for q in qs[a:b]:
        await bank.find_similar(q['task_description'], q['task_category'], 5)
    return (time.perf_counter() - t0) * 1e3
def bench_py_reply(handle, a, b, qs=json.loads(bench_queries)):
    t0 = time.perf_counter()
    for q in qs[a:b]:
        jsapi.find(handle, q['task_description'], q['task_category'], 5, '', 0)
    return (time.perf_counter() - t0) * 1e3
bench_py_run`);
  const pyReply = rb.pyodide.globals.get('bench_py_reply');
  const ways = {
    js: (q) => rb.findSimilar(q.task_description, q.task_category, 5),
    js_general: (q) => rb._call('findSimilar', q.task_description, q.task_category, 5, {}),
  };
  for (const q of qs.slice(0, 5)) for (const f of Object.values(ways)) await f(q);
  const runs = { python: [], python_reply: [], js: [], js_general: [] };
  const lat = [];
  const BLOCK = 20;
  for (let r = 0; r < reps; r++) {
    const total = { python: 0, python_reply: 0, js: 0, js_general: 0 };
    for (let a = 0; a < qs.length; a += BLOCK) {
      const block = qs.slice(a, a + BLOCK);
      total.python += await pyRun(rb._handle, a, a + BLOCK);
      total.python_reply += pyReply(rb._handle, a, a + BLOCK);
      for (const [name, f] of Object.entries(ways)) {
        const t0 = performance.now();
        for (const q of block) {
          const t = performance.now();
          await f(q);
          if (name === 'js') lat.push(performance.now() - t);
        }
        total[name] += performance.now() - t0;
      }
    }
    for (const name of Object.keys(runs)) runs[name].push(total[name] / qs.length);
  }
  pyRun.destroy();
  pyReply.destroy();
  await rb.close();
  lat.sort((a, b) => a - b);
  const best = (name) => Math.min(...runs[name]);
  return { find_p50_ms: lat[Math.ceil(0.5 * lat.length) - 1], find_mean_ms: best('js'),
           python_find_mean_ms: best('python'), overhead_ms: best('js') - best('python'),
           general_find_mean_ms: best('js_general'),
           general_overhead_ms: best('js_general') - best('python'),
           python_reply_mean_ms: best('python_reply'),
           crossing_ms: best('js') - best('python_reply'),
           runs_js: runs.js, runs_py: runs.python, runs_general: runs.js_general };
}
"""

DENSE_PY = r"""
import json, random, time
from reasoningbank.vectors import DenseIndex
from reasoningbank.vectors.js import JsDenseIndex
rnd = random.Random(5)
n, dim = 10000, 384
rows = [[rnd.uniform(-1, 1) for _ in range(dim)] for _ in range(n)]
queries = [[rnd.uniform(-1, 1) for _ in range(dim)] for _ in range(200)]
kernels = {
    'python': DenseIndex('python'),
    'js': JsDenseIndex('js'),
    'wasm_f32': JsDenseIndex('wasm-simd'),
    'wasm_int8': JsDenseIndex('wasm-simd', int8=True),
}
out, tops = {}, {}
for name, index in kernels.items():
    for s, r in enumerate(rows):
        index.add(s, r)
    index.top_k(queries[0], 5)  # warm-up (the JS/wasm index ships its rows here)
    # performance.now() is clamped in the browser: time many queries, report the mean.
    qs = queries[:10] if name == 'python' else queries
    reps = 1 if name == 'python' else 3
    t = time.perf_counter()
    for _ in range(reps):
        got = [index.top_k(q, 5) for q in qs]
    out[name + '_top5_ms'] = (time.perf_counter() - t) * 1e3 / (reps * len(qs))
    tops[name] = [[s for s, _ in top] for top in got[:10]]
    if name != 'python':
        t = time.perf_counter()
        for q in qs[:50]:
            index.scores(q)
        out[name + '_scores_ms'] = (time.perf_counter() - t) * 1e3 / 50
        if name.startswith('wasm'):
            out[name + '_candidates'] = index._js.lastCandidates
assert all(t == tops['python'] for t in tops.values()), tops
out['same_results'] = True
json.dumps(out)
"""

PEER_SHIM = """
// Loads the bundler-target ReasoningBankWasm in a plain page (what a bundler would do).
import * as bg from "./reasoningbank_wasm_bg.js";
const { instance } = await WebAssembly.instantiateStreaming(
  fetch("./reasoningbank_wasm_bg.wasm"), { "./reasoningbank_wasm_bg.js": bg });
bg.__wbg_set_wasm(instance.exports);
instance.exports.__wbindgen_start();
export const ReasoningBankWasm = bg.ReasoningBankWasm;
"""

PEER_JS = r"""
async ([pats, qs]) => {
  // As shipped, in a page: it picks IndexedDB storage, which keeps nothing (0 patterns).
  const { ReasoningBankWasm } = await import('/shim.mjs');
  const rb = await new ReasoningBankWasm('rb-peer-bench-' + Date.now());
  const t0 = performance.now();
  for (const p of pats) await rb.storePattern(p);
  const t1 = performance.now();
  let hits = 0;
  const f0 = performance.now();
  for (const q of qs) hits += JSON.parse(await rb.findSimilar(q.task_description, q.task_category, 5)).length;
  const f1 = performance.now();
  return { store_us: 1000 * (t1 - t0) / pats.length, find_mean_ms: (f1 - f0) / qs.length,
           hits_mean: hits / qs.length, stats: JSON.parse(await rb.getStats()) };
}
"""
PEER_WORKER = r"""
// ReasoningBankWasm in a dedicated worker: there it picks its in-memory storage (backend
// "wasm-memory", as under Node). In a page its storage backends keep nothing (0 patterns).
self.onmessage = async ({ data: [pats, qs] }) => {
  console.log = () => {};  // it logs every store and query
  const { ReasoningBankWasm } = await import('./shim.mjs');
  const rb = await new ReasoningBankWasm('rb-peer-bench-' + Date.now());
  const t0 = performance.now();
  for (const p of pats) await rb.storePattern(p);
  const t1 = performance.now();
  for (const q of qs.slice(0, 5)) await rb.findSimilar(q.task_description, q.task_category, 5);
  const lat = [];
  let hits = 0;
  const f0 = performance.now();
  for (const q of qs) {
    const a = performance.now();
    const r = await rb.findSimilar(q.task_description, q.task_category, 5);
    lat.push(performance.now() - a);
    hits += JSON.parse(r).length;
  }
  const total = performance.now() - f0;
  lat.sort((a, b) => a - b);
  self.postMessage({ store_us: 1000 * (t1 - t0) / pats.length,
    find_p50_ms: lat[Math.ceil(0.5 * lat.length) - 1], find_mean_ms: total / qs.length,
    hits_mean: hits / qs.length, stats: JSON.parse(await rb.getStats()) });
};
"""

PEER_IN_WORKER = r"""
async ([pats, qs]) => new Promise((resolve, reject) => {
  const w = new Worker('/worker.mjs', { type: 'module' });
  w.onmessage = (e) => { w.terminate(); resolve(e.data); };
  w.onerror = (e) => reject(new Error('peer worker: ' + e.message));
  w.postMessage([pats, qs]);
})
"""


def peer_dir() -> Path:
    env = os.environ.get("PEER_DIR")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "reasoningbank-bench" / f"agentic-flow-{PEER_VERSION}"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".mjs": "text/javascript",
        ".js": "text/javascript",
    }

    def log_message(self, *args: Any) -> None:
        pass


def serve_dir(path: Path) -> tuple[Any, str]:
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(path))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def booted_page(browser: Any, url: str) -> Any:
    """A page of the app with Pyodide and the library up (no service worker)."""
    page = browser.new_page()
    page.goto(f"{url}?nosw&nosnapshot&db=rb-boot")  # no snapshot worker competing
    wait_ready(page)
    return page


def wait_ready(page: Any) -> None:
    page.wait_for_function("window.rbReady || window.rbError", timeout=120_000)
    err = page.evaluate("window.rbError || null")
    if err:
        raise RuntimeError(err)


SNAPSHOT_CACHED = """
caches.open('reasoningbank-v1').then((c) => c.keys())
  .then((ks) => ks.some((r) => r.url.endsWith('.snapshot')))
"""


def wait_for_snapshot(page: Any, timeout: float = 300.0) -> bool:
    """Wait until the first visit's worker cached the Pyodide memory snapshot."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.evaluate(SNAPSHOT_CACHED):
            return True
        time.sleep(0.5)
    return False


def first_answers(page: Any, url: str, db: str, runs: int, extra: str = "") -> dict[str, Any]:
    """Reload the page ``runs`` times: navigation start to the first answered query."""
    ready, answer, pyodide_boot, ours, how = [], [], [], [], set()
    steps: dict[str, list[float]] = {}
    q = "refresh%20oauth%20tokens&cat=backend"
    for _ in range(runs):
        page.goto(f"{url}?db={db}&q={q}{extra}")
        page.wait_for_function("window.rbTimings && window.rbTimings.firstAnswer", timeout=120_000)
        t = page.evaluate("window.rbTimings")
        ready.append(t["ready"])
        answer.append(t["firstAnswer"])
        boot = t["boot"]
        pyodide_boot.append(boot["pyodide"] - boot["start"])
        ours.append(t["firstAnswer"] - boot["pyodide"])
        how.add(boot.get("snapshot", "none"))
        # Where the time went: page load to our boot's start, build-info.json, Pyodide's
        # runtime module (and the snapshot lookup), Pyodide's start, the wheel, the bank's
        # open, the first query (with the stats the page shows first); and the bank read
        # ahead from IndexedDB during the boot ("read_ahead"; "read_ahead_left": how long after
        # Python was up it was done, negative if before).
        marks = [("page", 0, boot["start"]), ("info", boot["start"], boot.get("info")),
                 ("read_ahead", boot.get("readAheadStart"), boot.get("readAhead")),
                 ("read_ahead_left", boot["wheel"], boot.get("readAhead")),
                 ("runtime", boot.get("info"), boot.get("runtime")),
                 ("pyodide", boot.get("runtime") or boot.get("info"), boot["pyodide"]),
                 ("wheel", boot["pyodide"], boot["wheel"]),
                 ("query", t["ready"], t["firstAnswer"])]  # fmt: skip
        for name, a, b in marks:
            if a is not None and b is not None:
                steps.setdefault(name, []).append(b - a)
        steps.setdefault("open", []).append(boot["open"])
        # The page's work after its first answer (the chart, the pattern list, the bus) is
        # let finish before the next navigation: it would otherwise delay that one's start.
        wait_ready(page)
    return {
        "ready_ms": statistics.median(ready),
        "first_answer_ms": statistics.median(answer),
        "first_answer_ms_all": answer,
        "min_first_answer_ms": min(answer),
        "pyodide_boot_ms": statistics.median(pyodide_boot),
        "after_pyodide_ms": statistics.median(ours),
        "steps_ms": {k: statistics.median(v) for k, v in steps.items()},
        "snapshot": sorted(how),
    }


def page_load(
    browser: Any, url: str, db: str, seed: list[str] = (), runs: int = 5
) -> dict[str, Any]:
    """Navigation start to the first answered query, warm cache (service worker installed):
    booting from the Pyodide memory snapshot (the default, once the first visit made it)
    and without it (``?nosnapshot``), alternating so both see the same machine load."""
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(f"{url}?db={db}")
    wait_ready(page)
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=60_000)
    # Stored with deduplication off (as in the bank above), so the bank holds every pattern.
    fill = """async ([db, ps]) => {
      const bank = await window.rb.constructor.load({ db, dedupThreshold: null });
      await bank.storePatterns(ps.map(JSON.parse));
      const { total_patterns } = await bank.getStats();
      await bank.close();
      return total_patterns;
    }"""
    stored = 0
    for i in range(0, len(seed), 1000):
        stored = page.evaluate(fill, [db, list(seed[i : i + 1000])])
    assert stored == len(seed), (stored, len(seed))
    if not wait_for_snapshot(page):
        print("no Pyodide snapshot was made: measuring plain boots only", file=sys.stderr)
    snap: list[dict[str, Any]] = []
    plain: list[dict[str, Any]] = []
    for _ in range(runs):
        snap.append(first_answers(page, url, db, 1))
        plain.append(first_answers(page, url, db, 1, "&nosnapshot"))
    # The same, each time in a new tab: no process-wide cache of the previous page (such as
    # its compiled WebAssembly) helps it.
    tabs = []
    for _ in range(3):
        page.close()
        page = ctx.new_page()
        tabs.append(first_answers(page, url, db, 1))
    ctx.close()

    def merged(rows: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {
            k: statistics.median(r[k] for r in rows)
            for k in rows[0]
            if k.endswith("_ms") and k != "steps_ms"
        }
        out["steps_ms"] = {
            k: statistics.median(r["steps_ms"][k] for r in rows if k in r["steps_ms"])
            for k in rows[0]["steps_ms"]
        }
        out["first_answer_ms_all"] = [r["first_answer_ms"] for r in rows]
        out["min_first_answer_ms"] = min(out["first_answer_ms_all"])
        out["snapshot"] = sorted({h for r in rows for h in r["snapshot"]})
        return out

    return {**merged(snap), "no_snapshot": merged(plain), "new_tab": merged(tabs)}


def fresh_profile(browser: Any, url: str, runs: int = 3) -> dict[str, Any]:
    """First visit in a fresh profile (nothing cached: no service worker, no snapshot)."""
    rows = []
    for i in range(runs):
        ctx = browser.new_context()
        rows.append(first_answers(ctx.new_page(), url, f"rb-fresh-{i}", 1))
        ctx.close()
    return {
        "first_answer_ms": statistics.median(r["first_answer_ms"] for r in rows),
        "first_answer_ms_all": [r["first_answer_ms"] for r in rows],
        "pyodide_boot_ms": statistics.median(r["pyodide_boot_ms"] for r in rows),
    }


def run_dense(page: Any) -> dict[str, Any]:
    """The dense-kernel timings (DENSE_PY) in a page where the app is ready."""
    out: dict[str, Any] = json.loads(
        page.evaluate("c => window.rb.pyodide.runPythonAsync(c)", DENSE_PY)
    )
    return out


def dense_only(json_out: str | None) -> int:
    from playwright.sync_api import sync_playwright

    from reasoningbank.serve import serve_in_thread

    app, url = serve_in_thread(port=0, pyodide_dir=str(DEPS / "node_modules" / "pyodide"))
    with sync_playwright() as p:
        browser = launch(p, "chromium")
        try:
            results = {"chromium": browser.version, "dense": run_dense(booted_page(browser, url))}
        finally:
            browser.close()
    app.shutdown()
    print(json.dumps(results, indent=1))
    if json_out:
        Path(json_out).write_text(json.dumps(results, indent=1))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--dense-only", action="store_true", help="just the dense vector kernels")
    ap.add_argument("--idb-only", action="store_true", help="just the IndexedDB bulk store")
    ap.add_argument(
        "--only",
        choices=["js-api", "first-answer"],
        help="after filling the bank, just this part (js-api: with the peer in a worker)",
    )
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    from bench.dataset import write
    from reasoningbank.serve import serve_in_thread

    if args.dense_only:
        return dense_only(args.json)
    if args.idb_only:
        return idb_only(args.n, args.json)

    tmp = Path(tempfile.mkdtemp(prefix="rb-bench-browser-"))
    write(args.n, args.queries, str(tmp))
    pats_text = (tmp / "patterns.jsonl").read_text()
    qs_text = (tmp / "queries.jsonl").read_text()
    pats = pats_text.strip().split("\n")
    qs = [json.loads(x) for x in qs_text.strip().split("\n")]

    app, url = serve_in_thread(port=0, pyodide_dir=str(DEPS / "node_modules" / "pyodide"))
    results: dict[str, Any] = {"n": args.n, "queries": args.queries}
    peer_src = peer_dir() / "package" / "wasm" / "reasoningbank"
    peer_server = None
    if (peer_src / "reasoningbank_wasm_bg.wasm").exists():
        site = tmp / "peer"
        shutil.copytree(peer_src, site)
        (site / "shim.mjs").write_text(PEER_SHIM)
        (site / "index.html").write_text("<!doctype html><title>peer</title>")
        (site / "worker.mjs").write_text(PEER_WORKER)
        peer_server, peer_url = serve_dir(site)
    else:
        print(
            f"peer not installed in {peer_dir()} (bench/peer/setup.sh): skipping it",
            file=sys.stderr,
        )

    with sync_playwright() as p:
        browser = launch(p, "chromium")
        try:
            page = booted_page(browser, url)
            results["chromium"] = browser.version
            page.evaluate(
                "([a, b]) => { window.rb.pyodide.FS.writeFile('/tmp/patterns.jsonl', a);"
                " window.rb.pyodide.FS.writeFile('/tmp/queries.jsonl', b); }",
                [pats_text, qs_text],
            )
            results["ours"] = json.loads(
                page.evaluate("c => window.rb.pyodide.runPythonAsync(c)", OURS_PY)
            )
            if args.only in (None, "js-api"):
                results["ours_js_api"] = page.evaluate(OURS_JS_API, [qs, 7])
            if args.only is None:
                results["idb_bulk"] = run_idb_bulk(page, pats)
                results["dense"] = run_dense(page)
                results["semantic"] = json.loads(
                    page.evaluate("c => window.rb.pyodide.runPythonAsync(c)", SEMANTIC_PY)
                )
            page.close()
            if peer_server is not None and args.only in (None, "js-api"):
                peers = {"peer_worker": PEER_IN_WORKER, "peer_page": PEER_JS}
                if args.only:
                    del peers["peer_page"]  # its storage keeps nothing: not compared
                for key, script in peers.items():
                    ppage = browser.new_page()
                    ppage.goto(peer_url)
                    results[key] = ppage.evaluate(script, [pats, qs])
                    ppage.close()
            if args.only in (None, "first-answer"):
                results["page_load_small"] = page_load(browser, url, "rb-small", pats[:20])
                # Its own profile: the bank filled above lives in another browser context.
                results["page_load_n"] = page_load(browser, url, "rb-bench", pats)
                results["page_load_fresh"] = fresh_profile(browser, url)
        finally:
            browser.close()
    app.shutdown()
    if peer_server is not None:
        peer_server.shutdown()
    if peer_server is not None and args.only is None:
        # The same peer under Node (its MemoryStorage), as bench/compare.py runs it.
        done = subprocess.run(
            ["node", str(ROOT / "bench" / "peer" / "wasm_bench.mjs"), str(tmp)],
            capture_output=True,
            text=True,
            env={**os.environ, "PEER_DIR": str(peer_dir())},
        )
        if done.returncode == 0:
            results["peer_node"] = json.loads(done.stdout.strip().splitlines()[-1])
        else:
            results["peer_node_error"] = done.stderr.strip()[-500:]
    shutil.rmtree(tmp, ignore_errors=True)

    print(json.dumps(results, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
