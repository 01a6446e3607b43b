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

/** The cached snapshot's bytes, or null. */
export async function cachedSnapshot(url) {
  if (!globalThis.caches) return null;
  try {
    const hit = await (await caches.open(CACHE)).match(url);
    return hit ? new Uint8Array(await hit.arrayBuffer()) : null;
  } catch {
    return null; // storage unavailable (private mode, quota): boot plainly
  }
}

export async function dropSnapshot(url) {
  try {
    await (await caches.open(CACHE)).delete(url);
  } catch {}
}

/** The wheel unpacked into site-packages (it must be there whether or not a snapshot was
 * restored: the library reads files next to its modules, such as idb.js). */
export function unpackWheel(pyodide, wheel) {
  const sitePackages = pyodide.runPython("import site; site.getsitepackages()[0]");
  pyodide.unpackArchive(wheel, "wheel", { extractDir: sitePackages });
}

/** Boot Pyodide with our modules imported, snapshot it, and cache the snapshot at `url`. */
export async function makeSnapshot({ indexURL, wheelURL, url }) {
  const wheel = fetch(wheelURL).then((res) => {
    if (!res.ok) throw new Error(`loading ${wheelURL} failed: HTTP ${res.status}`);
    return res.arrayBuffer();
  });
  wheel.catch(() => {});
  const { loadPyodide } = await import(new URL("pyodide.mjs", indexURL).href);
  const pyodide = await loadPyodide({ indexURL, _makeSnapshot: true });
  unpackWheel(pyodide, await wheel);
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
