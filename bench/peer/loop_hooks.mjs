// Module hooks for loop_agentic_flow.mjs. agentic-flow's judge and distill modules import its model
// router, which imports five provider SDKs at module load. Keyless runs never reach the router (judge.js
// and distill.js check for an API key first and take their heuristic/template path), so setup.sh does not
// install those SDKs. When one is missing, its import resolves to a stand-in whose every use throws: if the
// keyless path ever touched a provider, the benchmark would fail loudly instead of measuring something else.
// An installed SDK is always used as is.
const EXPORTS = {
  'axios': [],
  '@anthropic-ai/sdk': [],
  '@google/genai': ['GoogleGenAI'],
  'onnxruntime-node': ['InferenceSession', 'Tensor'],
  'tiktoken': ['get_encoding'],
};

function standIn(name) {
  const thrower = `() => { throw new Error(${JSON.stringify(`${name} is not installed: the keyless path should never call it`)}); }`;
  const lines = [`const fail = ${thrower};`,
    'const stub = new Proxy(function () {}, { get: fail, apply: fail, construct: fail });',
    'export default stub;',
    ...EXPORTS[name].map((e) => `export const ${e} = stub;`)];
  return `data:text/javascript,${encodeURIComponent(lines.join('\n'))}`;
}

export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    if (err?.code === 'ERR_MODULE_NOT_FOUND' && specifier in EXPORTS) {
      return { url: standIn(specifier), shortCircuit: true };
    }
    throw err;
  }
}
