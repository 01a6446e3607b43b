// usage: node loop_agentic_flow.mjs   (PEER_DIR env, see peer_dir.mjs); JSON lines on stdin/stdout
//
// Drives agentic-flow 1.7.3's own closed loop, index.js runTask(): retrieveMemories -> executeFn ->
// judgeTrajectory -> distillMemories -> consolidate (when shouldConsolidate()), with no API key, so the
// package takes its keyless fallbacks (heuristic judge, template distiller). The agent itself lives in
// bench/loop.py; executeFn hands it the memories rendered by the package's formatMemoriesForPrompt() and
// waits for the trajectory.
//
//   in  {"op": "episode", "id": "...", "query": "...", "domain": "..."}
//   out {"prompt": "...", "retrieved": N}
//   in  {"steps": ["...", ...]}
//   out {"verdict": "Success"|"Failure", "distilled": N, "consolidated": bool, "stored": N}
//   in  {"op": "close"}
//   out {"warnings": [...distinct console.warn texts...], "stored": N}
import fs from 'fs';
import os from 'os';
import path from 'path';
import readline from 'readline';
import { register } from 'module';
import { peerDir } from './peer_dir.mjs';

register('./loop_hooks.mjs', import.meta.url);
for (const key of ['OPENROUTER_API_KEY', 'ANTHROPIC_API_KEY', 'GOOGLE_GEMINI_API_KEY', 'OPENAI_API_KEY']) {
  delete process.env[key];
}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-loop-af-'));
process.env.CLAUDE_FLOW_DB_PATH = path.join(tmp, '.swarm', 'memory.db');
process.chdir(tmp);

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const warnings = new Set();
console.log = () => {};  // the package logs every step on stdout, which carries the protocol
console.warn = (...a) => warnings.add(a.join(' '));
console.error = (...a) => warnings.add(a.map(String).join(' '));

const dist = `${peerDir}/package/dist/reasoningbank`;
const rb = await import(`${dist}/index.js`);
await rb.db.runMigrations();
const stored = () => rb.db.getDb().prepare("SELECT COUNT(*) AS n FROM patterns WHERE type = 'reasoning_memory'").get().n;

const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const next = async () => { const r = await lines.next(); return r.done ? null : JSON.parse(r.value); };

for (let msg = await next(); msg && msg.op !== 'close'; msg = await next()) {
  const result = await rb.runTask({
    taskId: msg.id, agentId: 'loop-bench', query: msg.query, domain: msg.domain,
    executeFn: async (memories) => {
      out({ prompt: rb.formatMemoriesForPrompt(memories), retrieved: memories.length });
      return { steps: (await next()).steps };
    },
  });
  out({ verdict: result.verdict.label, distilled: result.newMemories.length,
        consolidated: result.consolidated, stored: stored() });
}
out({ warnings: [...warnings], stored: stored() });
fs.rmSync(tmp, { recursive: true, force: true });
process.exit(0);  // embeddings.js keeps an hour-long cache timer alive
