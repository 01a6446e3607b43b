// Booting Python fast: a Pyodide memory snapshot of the interpreter with our modules already
// imported, kept in Cache Storage next to the wheel it was made from.
//
// Why: a plain Pyodide boot runs the interpreter's start-up and imports the library from the
// wheel (most of the 2 s before a first answer). Restoring a snapshot maps the heap back in,
// so Python starts with everything imported. The snapshot is made once per wheel and Pyodide
// version, in a dedicated worker after the first plain boot (the page does not wait for it),
// and the service worker's cache keeps it offline; a new build's snapshot replaces it.

const CACHE = "reasoningbank-v1"; // the service worker's cache (web/sw.js)

/** Modules the first answer needs: imported before the snapshot is taken. */
export const SNAPSHOT_IMPORTS = [
  "reasoningbank.jsapi",
  "reasoningbank.storage.idb",
  "reasoningbank.storage.memory",
  "reasoningbank.vectors.dense",
  "storage_idb.store",
];

/**
 * Engines where booting from a snapshot is tested: Chromium and Firefox. WebKit (Safari,
 * WebKitGTK) boots plainly: a page reloaded there after a snapshot was made did not come up
 * in our tests.
 */
export function snapshotsWork() {
  const ua = globalThis.navigator?.userAgent || "";
  return !(/AppleWebKit/.test(ua) && !/Chrom(e|ium)\//.test(ua));
}

/** Where the snapshot of this wheel and Pyodide version is cached (a URL beside the wheel). */
export function snapshotURL(wheelURL, pyodideVersion) {
  return new URL(`pyodide-${pyodideVersion}.snapshot`, wheelURL).href;
}

/**
 * The cached snapshot, or null: `{ bytes }`, a promise of its bytes, so that reading them
 * (tens of MB) overlaps the rest of Pyodide's start instead of coming before it.
 */
export async function cachedSnapshot(url) {
  if (!globalThis.caches) return null;
  try {
    const hit = await (await caches.open(CACHE)).match(url);
    if (!hit) return null;
    const bytes = hit.arrayBuffer().then((buffer) => new Uint8Array(buffer));
    bytes.catch(() => {}); // reported where it is awaited (loadPyodide)
    return { bytes };
  } catch {
    return null; // storage unavailable (private mode, quota): boot plainly
  }
}

export async function dropSnapshot(url) {
  try {
    await (await caches.open(CACHE)).delete(url);
  } catch {}
}

/** The wheel unpacked into site-packages of a running Pyodide (it must be there whether or
 * not a snapshot was restored: the library reads files next to its modules, such as idb.js). */
export function unpackWheel(pyodide, wheel) {
  const sitePackages = pyodide.runPython("import site; site.getsitepackages()[0]");
  pyodide.unpackArchive(wheel, "wheel", { extractDir: sitePackages });
}

/** True where the browser can inflate a wheel itself (see wheelInstaller). */
export const inflates = typeof DecompressionStream === "function";

/**
 * The wheel (a promise of its bytes) unzipped while Pyodide starts, and written into
 * site-packages once it is up: `fsInit` is Pyodide's hook (it learns where site-packages
 * is), `install()` writes the files (rejecting if the download or the archive failed).
 * Why: the browser inflates the files natively and in parallel with the boot, where
 * `unpackWheel` runs zipfile in Python after it. (The hook itself only takes note: a hook
 * still busy when the interpreter starts leaves a snapshot-making Pyodide unable to make one.)
 */
export function wheelInstaller(wheel) {
  const files = wheel.then(unzip);
  files.catch(() => {}); // reported by install()
  let sitePackages = null;
  return {
    /** One file of the wheel (a promise of its bytes), before Pyodide is up. */
    async file(name) {
      const found = (await files).find(([path]) => path === name);
      if (!found) throw new Error(`the wheel has no ${name}`);
      return found[1];
    },
    fsInit(FS, info) {
      sitePackages = info.sitePackages;
    },
    async install(pyodide) {
      for (const [name, bytes] of await files) {
        const path = `${sitePackages}/${name}`;
        pyodide.FS.mkdirTree(path.slice(0, path.lastIndexOf("/")));
        pyodide.FS.writeFile(path, bytes);
      }
    },
  };
}

/** The files of a zip archive as [[name, bytes]]: entries stored or deflated (as in wheels). */
export async function unzip(buffer) {
  const view = new DataView(buffer);
  let end = buffer.byteLength - 22; // the end-of-central-directory record, after any comment
  while (end >= 0 && view.getUint32(end, true) !== 0x06054b50) end--;
  if (end < 0) throw new Error("the wheel is not a zip archive");
  const names = new TextDecoder();
  const files = [];
  for (let i = 0, at = view.getUint32(end + 16, true); i < view.getUint16(end + 10, true); i++) {
    if (view.getUint32(at, true) !== 0x02014b50) throw new Error("the wheel's zip directory is corrupt");
    const method = view.getUint16(at + 10, true);
    const size = view.getUint32(at + 20, true);
    const nameLength = view.getUint16(at + 28, true);
    const local = view.getUint32(at + 42, true);
    const name = names.decode(new Uint8Array(buffer, at + 46, nameLength));
    at += 46 + nameLength + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
    if (name.endsWith("/")) continue;
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    const data = new Uint8Array(buffer, start, size);
    if (method === 0) files.push([name, Promise.resolve(data)]);
    else if (method === 8) files.push([name, inflate(data)]);
    else throw new Error(`the wheel's ${name} uses zip method ${method}`);
  }
  return Promise.all(files.map(async ([name, bytes]) => [name, await bytes]));
}

async function inflate(data) {
  const stream = new Blob([data]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Where idb.js's object lives in a realm (storage_idb/store.py JS_GLOBAL: one per realm). */
const IDB_GLOBAL = "__reasoningbank_idb__";

/**
 * Start reading the IndexedDB bank `name` (open and load, storage_idb/idb.js from the wheel)
 * while Pyodide starts; the bank's store adopts what was read when Python opens it.
 * Why: at 10,000 patterns reading and parsing the rows takes a tenth of a second or more
 * that needs no Python. Notes in `marks` when it started and was read (readAheadStart,
 * readAhead). Returns a function that lets go of a read nobody adopted (call it
 * once the bank's open settled). Best effort: if anything fails, Python reads by itself.
 */
export function readBankAhead(installer, name, marks = {}) {
  if (!globalThis.indexedDB) return () => {};
  const api = installer.file("storage_idb/idb.js").then((bytes) => {
    globalThis[IDB_GLOBAL] ||= (0, eval)(new TextDecoder().decode(bytes));
    marks.readAheadStart = performance.now();
    globalThis[IDB_GLOBAL].readAhead(name, 10000).then((read) => {
      if (read) marks.readAhead = performance.now();
    });
    return globalThis[IDB_GLOBAL];
  });
  api.catch((e) => console.warn("reading the bank ahead:", e));
  return () => api.then((idb) => idb.dropAhead(name), () => {});
}

/** Boot Pyodide with our modules imported, snapshot it, and cache the snapshot at `url`. */
export async function makeSnapshot({ indexURL, wheelURL, url }) {
  const wheel = fetch(wheelURL).then((res) => {
    if (!res.ok) throw new Error(`loading ${wheelURL} failed: HTTP ${res.status}`);
    return res.arrayBuffer();
  });
  wheel.catch(() => {});
  const { loadPyodide } = await import(new URL("pyodide.mjs", indexURL).href);
  const installer = wheelInstaller(wheel);
  const pyodide = await loadPyodide({ indexURL, fsInit: installer.fsInit, _makeSnapshot: true });
  await installer.install(pyodide);
  pyodide.runPython(SNAPSHOT_IMPORTS.map((m) => `import ${m}`).join("\n"));
  const bytes = pyodide.makeMemorySnapshot();
  const cache = await caches.open(CACHE);
  await cache.put(
    url,
    new Response(bytes, { headers: { "Content-Type": "application/octet-stream" } }),
  );
  return bytes.length;
}

/**
 * Make the snapshot in a dedicated worker (this module, run as one), off the page's thread.
 * Resolves to its size in bytes; rejects if the browser cannot make one.
 */
export function makeSnapshotInWorker(options) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("boot.js?make-snapshot", import.meta.url), { type: "module" });
    worker.onmessage = ({ data }) => {
      worker.terminate();
      if (data.error) reject(new Error(`making the Pyodide snapshot failed: ${data.error}`));
      else resolve(data.size);
    };
    worker.onerror = (e) => {
      worker.terminate();
      reject(new Error(`making the Pyodide snapshot failed: ${e.message}`));
    };
    worker.postMessage(options);
  });
}

if (
  typeof WorkerGlobalScope === "function" &&
  globalThis instanceof WorkerGlobalScope &&
  new URL(import.meta.url).searchParams.has("make-snapshot")
) {
  globalThis.onmessage = async ({ data }) => {
    try {
      globalThis.postMessage({ size: await makeSnapshot(data) });
    } catch (e) {
      globalThis.postMessage({ error: String((e && e.message) || e) });
    }
  };
}
