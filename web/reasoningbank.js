// ReasoningBank for plain web pages: the Python library running in Pyodide, its patterns in
// IndexedDB, behind a small camelCase API that returns plain JS objects.
//
//   import { ReasoningBank } from "/reasoningbank.js";
//   const rb = await ReasoningBank.load({ db: "my-agent" });
//   const id = await rb.storePattern({ task_description: "add oauth token refresh",
//     task_category: "backend", strategy: "test-driven", success_score: 0.9 });
//   const matches = await rb.findSimilar("refresh oauth tokens", "backend", 5);
//   const rec = await rb.recommendStrategy("refresh oauth tokens", "backend");
//   // The closed loop: learn from what an agent did, with your own model (or none).
//   const report = await rb.learn("fix the flaky login test", transcript, { llm: myModel });
//   const block = await rb.memoryPrompt("fix the flaky signup test", { k: 5 });
//   // Semantic + lexical ranking, with the embedder `reasoningbank serve` offers (an
//   // 8.8 MB int8 table, fetched on first use and cached by the service worker):
//   const rb2 = await ReasoningBank.load({ db: "my-agent", semantic: true });
//
// Values cross into Python as JSON and come back as JSON: the page holds two PyProxies (the
// Python `call`, and `find` for findSimilar) for its whole life, and no call creates another.
// A call that finishes at once (a search on an open bank) returns its reply directly: one FFI
// crossing each way.

import {
  cachedSnapshot,
  dropSnapshot,
  inflates,
  makeSnapshotInWorker,
  readBankAhead,
  snapshotURL,
  snapshotsWork,
  unpackWheel,
  wheelInstaller,
} from "./boot.js";

const HERE = new URL(".", import.meta.url);

/** Errors raised by the library keep its class name: InvalidPattern, NotFound, StorageError, ... */
export class ReasoningBankError extends Error {
  constructor({ name, message, field = null, patternId = null }) {
    super(message);
    this.name = name;
    this.field = field;
    this.patternId = patternId;
  }
}

let runtimePromise = null;
const semanticFiles = new Map(); // asset URL -> Promise of its path in Pyodide's file system

async function buildInfo(base) {
  const res = await fetch(new URL("build-info.json", base));
  if (!res.ok) throw new Error(`build-info.json: HTTP ${res.status}`);
  return res.json();
}

async function boot({ indexURL, wheelURL, pyodide, snapshot = true, readAhead = null }) {
  const marks = { start: performance.now() };
  // Pyodide's module where the server puts it, fetched while build-info.json is (it names
  // the wheel, the snapshot and where Pyodide is: the default, unless told otherwise).
  const usual = new URL("pyodide/", HERE).href;
  const usualModule = !pyodide && inflates && !indexURL ? import(`${usual}pyodide.mjs`) : null;
  usualModule?.catch(() => {}); // reported where it is awaited, if it is
  let info = null;
  if (!wheelURL || !indexURL) info = await buildInfo(HERE);
  else if (snapshot && !pyodide) info = await buildInfo(HERE).catch(() => null);
  marks.info = performance.now();
  indexURL = new URL(indexURL || info.pyodide || "pyodide/", HERE).href;
  wheelURL = new URL(wheelURL || info.wheel, HERE).href;
  // Download the wheel while Pyodide boots.
  const wheel = fetch(wheelURL).then((res) => {
    if (!res.ok) throw new Error(`loading ${wheelURL} failed: HTTP ${res.status}`);
    return res.arrayBuffer();
  });
  wheel.catch(() => {}); // reported below, once awaited
  const installer = pyodide || !inflates ? null : wheelInstaller(wheel);
  // The bank this page opens first is read from IndexedDB while Pyodide starts.
  const dropAhead = installer && readAhead ? readBankAhead(installer, readAhead, marks) : () => {};
  // A memory snapshot (web/boot.js) only of the wheel and Pyodide the server announced: their
  // URLs name their content, so a snapshot filed beside the wheel can never be stale.
  const announced = info?.pyodideVersion && wheelURL === new URL(info.wheel, HERE).href;
  const snapURL =
    !pyodide && snapshot && announced && snapshotsWork() ? snapshotURL(wheelURL, info.pyodideVersion) : null;
  marks.snapshot = "none";
  if (pyodide || !inflates) {
    pyodide ||= await (await import(new URL("pyodide.mjs", indexURL).href)).loadPyodide({ indexURL });
    marks.pyodide = performance.now();
    unpackWheel(pyodide, await wheel);
  } else {
    // The wheel is unzipped while Pyodide starts, and the snapshot's bytes are read from
    // the cache meanwhile.
    const [{ loadPyodide }, cached] = await Promise.all([
      indexURL === usual && usualModule ? usualModule : import(new URL("pyodide.mjs", indexURL).href),
      snapURL ? cachedSnapshot(snapURL) : null,
    ]);
    marks.runtime = performance.now();
    if (cached) {
      try {
        pyodide = await loadPyodide({ indexURL, fsInit: installer.fsInit, _loadSnapshot: cached.bytes });
        marks.snapshot = "restored";
      } catch (e) {
        console.warn("Pyodide snapshot unusable, booting without it:", e);
        await dropSnapshot(snapURL);
      }
    }
    pyodide ||= await loadPyodide({ indexURL, fsInit: installer.fsInit });
    marks.pyodide = performance.now();
    await installer.install(pyodide);
  }
  marks.wheel = performance.now();
  const mod = pyodide.pyimport("reasoningbank.jsapi");
  const pending = new Map(); // call id -> [resolve, reject] of a call not answered at once
  mod.connect((id, reply) => {
    const [resolve, reject] = pending.get(id);
    pending.delete(id);
    settle(reply, resolve, reject);
  });
  const pyCall = mod.call.copy(); // our own proxies: they outlive the module proxy
  const pyFind = mod.find.copy();
  mod.destroy();
  marks.ready = performance.now();
  let snapshotMade = Promise.resolve(0);
  if (snapURL && marks.snapshot === "none" && typeof Worker === "function") {
    // For the next visit; this one does not wait. A browser that cannot make one boots plainly.
    snapshotMade = makeSnapshotInWorker({ indexURL, wheelURL, url: snapURL }).catch((e) => {
      console.warn(e.message);
      return 0;
    });
  }
  return { pyodide, pyCall, pyFind, pending, nextId: 1, marks, snapshotMade, dropAhead };
}

/** The shared Pyodide runtime (booted once per page; later options are ignored). */
export function runtime(options = {}) {
  if (!runtimePromise) {
    runtimePromise = boot(options).catch((e) => {
      runtimePromise = null;
      throw e;
    });
  }
  return runtimePromise;
}

/**
 * Fetch the semantic asset at `url` (once per page) into Pyodide's file system, where the
 * Python side parses it into an embedder on the first open that names it.
 */
function semanticFile(rt, url) {
  if (!semanticFiles.has(url)) {
    const path = `/tmp/reasoningbank-semantic-${semanticFiles.size}.rbsem`;
    const done = (async () => {
      await serviceWorkerControl();
      const res = await fetch(url);
      if (!res.ok) throw new Error(`loading the semantic asset ${url} failed: HTTP ${res.status}`);
      rt.pyodide.FS.writeFile(path, new Uint8Array(await res.arrayBuffer()));
      return path;
    })();
    done.catch(() => semanticFiles.delete(url)); // a failed download may be retried
    semanticFiles.set(url, done);
  }
  return semanticFiles.get(url);
}

/**
 * On a page whose service worker is installed but not in control yet (the first visit), wait
 * for it a little, so the download below goes through it and is cached for offline use.
 */
async function serviceWorkerControl(ms = 20000) {
  const sw = globalThis.navigator?.serviceWorker;
  if (!sw || sw.controller || !(await sw.getRegistration())) return;
  await new Promise((resolve) => {
    sw.addEventListener("controllerchange", resolve, { once: true });
    setTimeout(resolve, ms);
  });
}

async function semanticURL(semantic) {
  if (typeof semantic === "string") return new URL(semantic, HERE).href;
  const info = await buildInfo(HERE);
  if (!info.semantic) {
    throw new ReasoningBankError({
      name: "ReasoningBankError",
      message:
        "this server offers no semantic embedder: install 'reasoningbank[semantic]' where " +
        "`reasoningbank serve` runs, or pass semantic: <asset URL>",
      field: "semantic",
    });
  }
  return new URL(info.semantic, HERE).href;
}

// A reply (reasoningbank/jsapi.py): "1" + result JSON, "0" + error JSON, or "2" + packed
// matches: base64 of every match's float64s (score, similarity, each part), a newline, then
// JSON [pattern, [part names], pattern, [part names], ...]. Floats travel as bytes: writing
// them as text is what a search would spend most of its time on in Pyodide.
function settle(reply, resolve, reject) {
  const kind = reply.charCodeAt(0);
  if (kind === 50) resolve(unpackMatches(reply));
  else if (kind === 49) resolve(JSON.parse(reply.slice(1)));
  else reject(new ReasoningBankError(JSON.parse(reply.slice(1))));
}

/** A reply as a promise: one already settled when the reply came at once, or one that
 * `settle` (jsapi.connect) settles later. */
function replied(rt, id, reply) {
  if (reply === undefined) return new Promise((resolve, reject) => rt.pending.set(id, [resolve, reject]));
  const kind = reply.charCodeAt(0);
  try {
    if (kind === 50) return Promise.resolve(unpackMatches(reply));
    if (kind === 49) return Promise.resolve(JSON.parse(reply.slice(1)));
  } catch (e) {
    return Promise.reject(e);
  }
  return Promise.reject(new ReasoningBankError(JSON.parse(reply.slice(1))));
}

const fromBase64 =
  typeof Uint8Array.fromBase64 === "function"
    ? (text) => Uint8Array.fromBase64(text)
    : (text) => {
        const raw = atob(text);
        const bytes = new Uint8Array(raw.length);
        for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
        return bytes;
      };

function unpackMatches(reply) {
  const cut = reply.indexOf("\n");
  const numbers = new Float64Array(fromBase64(reply.slice(1, cut)).buffer);
  const items = JSON.parse(reply.slice(cut + 1));
  const matches = [];
  for (let i = 0, k = 0; i < items.length; i += 2) {
    const score = numbers[k++];
    const similarity = numbers[k++];
    const parts = {};
    for (const name of items[i + 1]) parts[name] = numbers[k++];
    matches.push({ pattern: items[i], score, similarity, parts });
  }
  return matches;
}

const learnEntries = new WeakMap(); // runtime -> its jsapi.learn proxy, made on first use

/** `jsapi.learn`, the entry that takes a JS `llm` function beside the JSON arguments. */
function learnEntry(rt) {
  if (!learnEntries.has(rt)) {
    const mod = rt.pyodide.pyimport("reasoningbank.jsapi");
    learnEntries.set(rt, mod.learn.copy());
    mod.destroy();
  }
  return learnEntries.get(rt);
}

function call(rt, handle, method, args) {
  if (rt.worker) return rt.worker.request(handle, method, args);
  const id = rt.nextId++;
  let reply;
  try {
    reply = rt.pyCall(handle, method, JSON.stringify(args), id);
  } catch (e) {
    return Promise.reject(e);
  }
  return replied(rt, id, reply);
}

/**
 * findSimilar's own path (jsapi.find): the query crosses as primitives (no JSON array to
 * build and parse) and Python searches on this stack, with no task, so a search on an open
 * bank is one FFI crossing each way. Anything else takes the general path.
 */
function find(rt, handle, text, category, topK, options) {
  if (rt.worker || typeof text !== "string" || typeof topK !== "number") {
    return call(rt, handle, "findSimilar", [text, category, topK, options]);
  }
  if (category !== null && category !== undefined && typeof category !== "string") {
    return call(rt, handle, "findSimilar", [text, category, topK, options]);
  }
  let optionsJSON = "";
  for (const _ in options) {
    optionsJSON = JSON.stringify(options);
    break;
  }
  const id = rt.nextId++;
  let reply;
  try {
    // `undefined`, not null: Pyodide turns undefined into None (null would be jsnull).
    reply = rt.pyFind(handle, text, category ?? undefined, topK, optionsJSON, id);
  } catch (e) {
    return Promise.reject(e);
  }
  return replied(rt, id, reply);
}

/**
 * A dedicated worker running this module's runtime (web/reasoningbank-worker.js): banks
 * opened through it live off the page's thread, and each call is one message each way.
 */
class WorkerLink {
  constructor(url) {
    this.worker = new Worker(url, { type: "module" });
    this.pending = new Map();
    this.nextId = 1;
    this.worker.onmessage = ({ data: { id, value, error } }) => {
      const [resolve, reject] = this.pending.get(id);
      this.pending.delete(id);
      if (error) reject(new ReasoningBankError(error));
      else resolve(value);
    };
    this.worker.onerror = (e) => {
      const error = new Error(`the ReasoningBank worker failed: ${e.message}`);
      for (const [, reject] of this.pending.values()) reject(error);
      this.pending.clear();
    };
  }

  request(handle, method, args) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, [resolve, reject]);
      this.worker.postMessage({ id, handle, method, args });
    });
  }
}

const workerLinks = new Map(); // worker script URL -> its WorkerLink (one worker per page)

export class ReasoningBank {
  constructor(rt, handle, db) {
    this._rt = rt;
    this._handle = handle;
    this.db = db;
  }

  /**
   * Open (creating if needed) a bank. `db`: an IndexedDB name (default "reasoningbank"),
   * or ":memory:". `semantic`: true for the embedder the server announces (build-info.json),
   * or an asset URL (`reasoningbank semantic-asset`): texts then also get vectors and search
   * fuses lexical and semantic similarity. Other options: backend, weights, dedupThreshold,
   * halfLifeDays, vectorBackend; and for the runtime: indexURL (Pyodide files), wheelURL,
   * pyodide (an already loaded instance), snapshot (default true: boot from a Pyodide memory
   * snapshot of the announced wheel when one is cached, and make one for the next visit).
   * `worker`: true (or a worker script URL) runs Python and the bank in a dedicated worker
   * (web/reasoningbank-worker.js), off this thread: same API, results copied across.
   */
  static async load({
    db = "reasoningbank",
    semantic = false,
    indexURL,
    wheelURL,
    pyodide,
    snapshot,
    worker = false,
    ...options
  } = {}) {
    if (worker) {
      const src = new URL(worker === true ? "reasoningbank-worker.js" : worker, HERE).href;
      if (!workerLinks.has(src)) workerLinks.set(src, new WorkerLink(src));
      const rt = { worker: workerLinks.get(src) };
      const load = { db, semantic, indexURL, wheelURL, snapshot, ...options };
      const { handle, timings } = await rt.worker.request(0, "load", [load]);
      const bank = new ReasoningBank(rt, handle, db);
      bank.timings = timings;
      return bank;
    }
    const url = semantic ? semanticURL(semantic) : null;
    url?.catch(() => {}); // reported below, once awaited
    const idbName = db === ":memory:" ? null : db.startsWith("idb://") ? db.slice(6) : db.includes("://") ? null : db;
    const rt = await runtime({ indexURL, wheelURL, pyodide, snapshot, readAhead: idbName });
    const t = performance.now();
    if (url) options.semantic = await semanticFile(rt, await url);
    const handle = await call(rt, 0, "open", [{ db, ...options }]).finally(rt.dropAhead);
    if (url) {
      // Parsed and kept by the Python side now: drop the file's copy of the bytes.
      try {
        rt.pyodide.FS.unlink(options.semantic);
      } catch {}
    }
    const bank = new ReasoningBank(rt, handle, db);
    bank.timings = { ...rt.marks, open: performance.now() - t };
    return bank;
  }

  /** The Pyodide instance behind every bank on this page (null for a bank in a worker). */
  get pyodide() {
    return this._rt.pyodide ?? null;
  }

  _call(method, ...args) {
    return call(this._rt, this._handle, method, args);
  }

  /** Store one pattern (pattern JSON; `success_score` shorthand accepted). Resolves to its id. */
  storePattern(pattern) {
    return this._call("storePattern", pattern);
  }

  /** Store many in one transaction. Resolves to their ids, in order. */
  storePatterns(patterns) {
    return this._call("storePatterns", patterns);
  }

  /**
   * Most similar patterns: [{pattern, score, similarity, parts}], best first.
   * `options`: minScore, context, embedding, strictCategory.
   */
  findSimilar(taskDescription, taskCategory = null, topK = 5, options = {}) {
    return find(this._rt, this._handle, taskDescription, taskCategory, topK, options);
  }

  /** The pattern, or null. */
  getPattern(id) {
    return this._call("getPattern", id);
  }

  /** Newest first. */
  searchByCategory(category, limit = 10) {
    return this._call("searchByCategory", category, limit);
  }

  getStats() {
    return this._call("getStats");
  }

  /**
   * Learn from applying a pattern again: {success, score, durationSeconds, tokensUsed,
   * errorMessage, metrics}. Resolves to the updated pattern.
   */
  recordOutcome(id, outcome = {}) {
    return this._call("recordOutcome", id, outcome);
  }

  /** {strategy, confidence, evidence, alternatives, explored}. */
  recommendStrategy(taskDescription, taskCategory = null) {
    return this._call("recommendStrategy", taskDescription, taskCategory);
  }

  deletePattern(id) {
    return this._call("deletePattern", id);
  }

  /**
   * Learn from an attempt (DESIGN 2b): judge it, distill at most 3 memory items, store them.
   * `trajectory`: text, or steps [{thought, action, observation}]. `outcome`: true, false or
   * a score in [0, 1] (skips the judge). `llm`: your model, `(prompt) => string` or a
   * Promise of one; without it a heuristic judge and a template distiller do the work.
   * Resolves to {verdict: {success, score, reason, judged_by}, items: [...], ids: [...]}.
   */
  learn(task, trajectory, { category = null, outcome = null, llm = null } = {}) {
    const options = { category, outcome };
    if (llm === null || llm === undefined) return this._call("learn", task, trajectory, options);
    if (typeof llm !== "function") {
      const message = `llm must be a function (prompt) => answer, got ${typeof llm}`;
      return Promise.reject(new ReasoningBankError({ name: "InvalidPattern", message, field: "llm" }));
    }
    if (this._rt.worker) {
      const message = "an llm function cannot cross into the worker: load the bank without {worker: true} to learn with your model";
      return Promise.reject(new ReasoningBankError({ name: "InvalidPattern", message, field: "llm" }));
    }
    return new Promise((resolve, reject) => {
      learnEntry(this._rt)(
        this._handle,
        JSON.stringify([task, trajectory, options]),
        llm,
        (out) => resolve(JSON.parse(out)),
        (err) => reject(new ReasoningBankError(JSON.parse(err))),
      );
    });
  }

  /** Memory items of the most similar past tasks, MMR-diversified (`diversity` 0 = off). */
  retrieve(task, { category = null, k = 5, diversity = 0 } = {}) {
    return this._call("retrieve", task, { category, k, diversity });
  }

  /** A block for a system prompt: the memories of similar past tasks, quoted as data. */
  memoryPrompt(task, { k = 5, category = null, diversity = 0 } = {}) {
    return this._call("memoryPrompt", task, { k, category, diversity });
  }

  async close() {
    await this._call("close");
  }
}

export default ReasoningBank;
