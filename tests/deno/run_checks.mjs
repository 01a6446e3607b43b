// The core checks (tests/pyodide/checks.py) inside Pyodide under Deno, with fake-indexeddb
// as the IndexedDB, as they run under Node. Prints one JSON object: {call: result}.
//
//   deno run --allow-read --allow-env run_checks.mjs \
//     DEPS_DIR WHEEL CHECKS_PY '["check_find(\':memory:\')", ...]'
const [deps, wheelPath, checksPath, callsJson] = Deno.args;
const modules = new URL(`file://${deps}/node_modules/`);
await import(new URL("fake-indexeddb/auto/index.mjs", modules).href);
const { loadPyodide } = await import(new URL("pyodide/pyodide.mjs", modules).href);

const pyodide = await loadPyodide({ indexURL: new URL("pyodide/", modules).pathname });
const sitePackages = pyodide.runPython("import site; site.getsitepackages()[0]");
pyodide.unpackArchive(await Deno.readFile(wheelPath), "wheel", { extractDir: sitePackages });
const checks = await Deno.readTextFile(checksPath);
const out = {};
for (const call of JSON.parse(callsJson)) {
  try {
    out[call] = { ok: await pyodide.runPythonAsync(`${checks}\nawait ${call}\n`) };
  } catch (e) {
    out[call] = { error: String(e.message || e).slice(-2000) };
  }
}
console.log(JSON.stringify(out));
