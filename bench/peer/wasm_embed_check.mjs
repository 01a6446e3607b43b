// usage: node wasm_embed_check.mjs < texts.json  (PEER_DIR env)  -> JSON on stdout
//
// Ground truth for bench/quality's port of ReasoningBankWasm's text embedding. Stores each text
// as a pattern (one category, success_score 0, no context), then asks findSimilar for each text
// and returns, per query, the top-5 ids, their composite similarity_score and the stored
// embedding vectors as the WASM build computed them.
import fs from 'fs';
import { loadReasoningBankWasm } from './peer_dir.mjs';

const texts = JSON.parse(fs.readFileSync(0, 'utf8'));
const RB = await loadReasoningBankWasm();
const rb = await new RB.ReasoningBankWasm('check');
const ids = [];
for (const t of texts) {
  ids.push(await rb.storePattern(JSON.stringify({ task_description: t, task_category: 'c',
    strategy: 's', success_score: 0 })));
}
const out = { ids, embeddings: {}, queries: [] };
for (const t of texts) {
  const res = JSON.parse(await rb.findSimilar(t, 'c', 5));
  out.queries.push(res.map((r) => [r.pattern.id, r.similarity_score]));
  for (const r of res) out.embeddings[r.pattern.id] = r.pattern.embedding;
}
console.log(JSON.stringify(out));
