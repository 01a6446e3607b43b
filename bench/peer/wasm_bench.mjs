// usage: node wasm_bench.mjs DATA_DIR   (PEER_DIR env, see peer_dir.mjs) -> one JSON line on stdout
//
// Times agentic-flow 1.7.3's ReasoningBankWasm (Rust compiled to WebAssembly) on the dataset written by
// bench/dataset.py. Under Node it picks its MemoryStorage backend: nothing is durable, so its store time is
// an in-RAM insert. There is no bulk call, so "bulk" is the same per-pattern loop.
//
// Its findSimilar(desc, category, k) loads at most 1,000 patterns of that category
// (get_patterns_by_category(cat, 1000); which ones is arbitrary: hash-map order of random ids) and scores
// only those: past ~5,000 patterns (5 categories) its time stops growing and it never sees the rest. Its text similarity is the cosine of the raw byte codes
// of the first 384 bytes of the description, mixed 0.5/0.2/0.2/0.1 with category, context and score.
import fs from 'fs';
import { loadReasoningBankWasm, percentile, peakRssMb } from './peer_dir.mjs';

const RB = await loadReasoningBankWasm();
const dir = process.argv[2];
if (!dir) { console.error('usage: node wasm_bench.mjs DATA_DIR'); process.exit(2); }
const pats = fs.readFileSync(`${dir}/patterns.jsonl`, 'utf8').trim().split('\n');
const qs = fs.readFileSync(`${dir}/queries.jsonl`, 'utf8').trim().split('\n').map(JSON.parse);
const rssBase = process.memoryUsage().rss;

const rb = await new RB.ReasoningBankWasm('bench');
const t0 = performance.now();
for (const p of pats) await rb.storePattern(p);
const t1 = performance.now();

// warm-up: a few queries outside the timed loop (JIT, first allocation of the candidate vector)
for (const q of qs.slice(0, 5)) await rb.findSimilar(q.task_description, q.task_category, 5);
const lat = [];
let hits = 0;
for (const q of qs) {
  const a = performance.now();
  const r = await rb.findSimilar(q.task_description, q.task_category, 5);
  lat.push(performance.now() - a);
  hits += JSON.parse(r).length;
}
lat.sort((a, b) => a - b);
const storeUs = 1000 * (t1 - t0) / pats.length;
console.log(JSON.stringify({
  peer: 'ReasoningBankWasm', version: '1.7.3', storage: 'memory (not durable)', n: pats.length, queries: qs.length,
  bulk_per_s: pats.length / ((t1 - t0) / 1000), store_us: storeUs,
  find_p50_ms: percentile(lat, 0.5), find_p95_ms: percentile(lat, 0.95),
  find_mean_ms: lat.reduce((a, b) => a + b, 0) / lat.length, hits_mean: hits / qs.length,
  rss_mb: process.memoryUsage().rss / 1e6, rss_delta_mb: (process.memoryUsage().rss - rssBase) / 1e6,
  peak_rss_mb: peakRssMb(),
}));
