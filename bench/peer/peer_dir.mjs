// Where setup.sh installed the peer: $PEER_DIR, else the same per-user cache default setup.sh uses.
import os from 'os';
import path from 'path';

export const PEER_VERSION = '1.7.3';
export const peerDir = path.resolve(process.env.PEER_DIR ||
  path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'),
            'reasoningbank-bench', `agentic-flow-${PEER_VERSION}`));

export function percentile(sorted, q) {
  // nearest-rank on an ascending array; same definition as bench/compare.py
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export function peakRssMb() {
  // resourceUsage().maxRSS is in KiB (Node >= 12.6)
  return process.resourceUsage().maxRSS * 1024 / 1e6;
}

// Load ReasoningBankWasm without --experimental-wasm-modules: instantiate the .wasm ourselves and
// hand it to the wasm-bindgen glue exactly as its reasoningbank_wasm.js entry point does.
export async function loadReasoningBankWasm() {
  const base = `${peerDir}/package/wasm/reasoningbank`;
  const bg = await import(`${base}/reasoningbank_wasm_bg.js`);
  const bytes = (await import('fs')).readFileSync(`${base}/reasoningbank_wasm_bg.wasm`);
  const { instance } = await WebAssembly.instantiate(bytes, { './reasoningbank_wasm_bg.js': bg });
  bg.__wbg_set_wasm(instance.exports);
  instance.exports.__wbindgen_start();
  return bg;
}
