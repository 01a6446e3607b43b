// usage: node ts_bench.mjs DATA_DIR   (PEER_DIR env, see peer_dir.mjs) -> one JSON line on stdout
//
// Same benchmark as wasm_bench.mjs, against agentic-flow 1.7.3's TypeScript ReasoningBank (compiled JS in
// $PEER_DIR/package/dist/reasoningbank, SQLite through better-sqlite3, WAL).
//
// It runs fully offline. With no reasoningbank.yaml anywhere (none ships in the package; cwd is a fresh temp
// dir) the default embeddings provider is 'claude', which utils/embeddings.js computeEmbedding() serves with
// its local hashEmbed: 1024 floats derived from ONE 32-bit hash of the whole string, so cosine similarities
// carry no meaning. Latency is comparable, retrieval quality is not. No API key is read.
//
//   store = computeEmbedding(title+description+content) + db.upsertMemory + db.upsertEmbedding, i.e. the calls
//           core/distill.js storeMemories() makes per distilled memory (two autocommit writes: durable on
//           return). It has no bulk call, so the bulk rate is this loop's rate.
//   find  = core/retrieve.js retrieveMemories(query, {k: 5, domain: category}): SQL fetch of every
//           reasoning_memory with confidence >= 0.3 in that domain plus its embedding, cosine+recency+
//           reliability scoring, MMR selection, incrementUsage on each hit, logMetric.
// Dataset mapping: title = task_description, domain = task_category, confidence = success_score (so ~30% fall
// below the package's 0.3 min_score and are never candidates; `candidates_mean` reports how many are scanned).
// The package console.logs every upsert and retrieval; that is swallowed so stdout holds only the JSON line.
import fs from 'fs';
import os from 'os';
import path from 'path';
import { createRequire } from 'module';
import { peerDir, percentile, peakRssMb } from './peer_dir.mjs';

const dist = `${peerDir}/package/dist/reasoningbank`;
const dir = process.argv[2] && path.resolve(process.argv[2]);
if (!dir) { console.error('usage: node ts_bench.mjs DATA_DIR'); process.exit(2); }
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-ts-'));
process.env.CLAUDE_FLOW_DB_PATH = path.join(tmp, '.swarm', 'memory.db');
delete process.env.OPENAI_API_KEY;
process.chdir(tmp);

const log = console.log;
console.log = () => {};
const rssBase = process.memoryUsage().rss;
const db = await import(`${dist}/db/queries.js`);
const { retrieveMemories } = await import(`${dist}/core/retrieve.js`);
const { computeEmbedding } = await import(`${dist}/utils/embeddings.js`);
const { loadConfig } = await import(`${dist}/utils/config.js`);
const { ulid } = createRequire(`${peerDir}/package.json`)('ulid');
await db.runMigrations();
const cfg = loadConfig();
if (cfg.embeddings.provider === 'openai') throw new Error('config selects OpenAI embeddings; expected the offline hash');

const pats = fs.readFileSync(`${dir}/patterns.jsonl`, 'utf8').trim().split('\n').map(JSON.parse);
const qs = fs.readFileSync(`${dir}/queries.jsonl`, 'utf8').trim().split('\n').map(JSON.parse);

async function store(p) {
  const id = ulid();
  const data = {
    title: p.task_description, description: `${p.task_category} task solved with ${p.strategy}`,
    content: `Strategy: ${p.strategy}. Outcome: ${p.outcome.success ? 'Success' : 'Failure'}.`,
    source: { task_id: 'bench', agent_id: 'bench', outcome: p.outcome.success ? 'Success' : 'Failure', evidence: [] },
    tags: [p.task_category, p.strategy], domain: p.task_category, created_at: new Date().toISOString(),
    confidence: p.success_score, n_uses: 0,
  };
  const emb = await computeEmbedding(`${data.title} ${data.description} ${data.content}`);
  db.upsertMemory({ id, type: 'reasoning_memory', pattern_data: data, confidence: p.success_score, usage_count: 0 });
  db.upsertEmbedding({ id, model: 'hash', dims: emb.length, vector: emb, created_at: data.created_at });
}

const storeLat = [];
const t0 = performance.now();
for (const p of pats) { const a = performance.now(); await store(p); storeLat.push(performance.now() - a); }
const t1 = performance.now();
storeLat.sort((a, b) => a - b);

for (const q of qs.slice(0, 3)) await retrieveMemories(q.task_description, { k: 5, domain: q.task_category });
const lat = [];
let hits = 0, cands = 0;
for (const q of qs) {
  const a = performance.now();
  const r = await retrieveMemories(q.task_description, { k: 5, domain: q.task_category });
  lat.push(performance.now() - a);
  hits += r.length;
}
for (const q of qs) cands += db.fetchMemoryCandidates({ domain: q.task_category, minConfidence: cfg.retrieve.min_score }).length;
lat.sort((a, b) => a - b);
const dbPath = process.env.CLAUDE_FLOW_DB_PATH;
const dbBytes = ['', '-wal'].reduce((s, x) => s + (fs.existsSync(dbPath + x) ? fs.statSync(dbPath + x).size : 0), 0);
log(JSON.stringify({
  peer: 'ReasoningBank-TS(sqlite)', version: '1.7.3', storage: 'sqlite (WAL, autocommit per write)', n: pats.length,
  queries: qs.length, bulk_per_s: pats.length / ((t1 - t0) / 1000), store_us: 1000 * (t1 - t0) / pats.length,
  store_p50_us: 1000 * percentile(storeLat, 0.5), find_p50_ms: percentile(lat, 0.5), find_p95_ms: percentile(lat, 0.95),
  find_mean_ms: lat.reduce((a, b) => a + b, 0) / lat.length, hits_mean: hits / qs.length,
  candidates_mean: cands / qs.length, embed: `${cfg.embeddings.provider}:hashEmbed-${cfg.embeddings.dimensions}`,
  db_mb: dbBytes / 1e6, rss_mb: process.memoryUsage().rss / 1e6, rss_delta_mb: (process.memoryUsage().rss - rssBase) / 1e6,
  peak_rss_mb: peakRssMb(),
}));
db.closeDb();
fs.rmSync(tmp, { recursive: true, force: true });
process.exit(0); // computeEmbedding arms a 1 h cache-expiry timer per text, which would keep node alive
