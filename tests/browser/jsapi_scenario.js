// Body of an async function (db) run in the page: exercises every JS API method and reports
// results, whether they are plain JS objects, and how many PyProxies are alive before/after.
const { ReasoningBank, ReasoningBankError } = await import("/reasoningbank.js");
const rb = await ReasoningBank.load({ db });
const py = rb.pyodide;
py._module.enable_pyproxy_allocation_tracing();
const before = py._module.pyproxy_alloc_map.size;
const PATTERNS = __PATTERNS__;
const ids = await rb.storePatterns(PATTERNS.slice(1));
const id = await rb.storePattern(PATTERNS[0]);
const matches = await rb.findSimilar("refresh oauth tokens", "backend", 3);
const anyCategory = await rb.findSimilar("login form", null, 2);
const got = await rb.getPattern(id);
const missing = await rb.getPattern("no-such-id");
const byCat = await rb.searchByCategory("backend", 10);
const updated = await rb.recordOutcome(id, { success: true, score: 1.0, durationSeconds: 3 });
const rec = await rb.recommendStrategy("refresh oauth tokens", "backend");
const stats = await rb.getStats();
let error = null;
try {
  await rb.recordOutcome("no-such-id", { success: true });
} catch (e) {
  error = { name: e.name, message: e.message, isRB: e instanceof ReasoningBankError, patternId: e.patternId };
}
let invalid = null;
try {
  await rb.storePattern({ task_category: "x" });
} catch (e) {
  invalid = { name: e.name, field: e.field };
}
const after = py._module.pyproxy_alloc_map.size;
const isPlain = (x) =>
  x === null || typeof x !== "object" ||
  ((Array.isArray(x) || Object.getPrototypeOf(x) === Object.prototype) && Object.values(x).every(isPlain));
const plain = [ids, matches, anyCategory, got, byCat, updated, rec, stats].every(isPlain);
await rb.close();
let closed = null;
try {
  await rb.getStats();
} catch (e) {
  closed = e.name;
}
return { ids, id, matches, anyCategory, got, missing, byCat, updated, rec, stats, error, invalid,
         before, after, plain, closed };
