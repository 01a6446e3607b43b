// Service worker: after the first visit the app, Pyodide and the wheel come from the cache,
// so the page works with no network at all.
//   /pyodide/*, /wheels/<hash>/* and /semantic/<hash>/*  never change at a given URL: cache
//   first. The semantic asset (8.8 MB) is not pre-cached: it is stored on its first fetch,
//   which only pages that ask for the semantic embedder make.
//   everything else (page, scripts, build-info.json): network first, cache when offline.
const CACHE = "reasoningbank-v1";
const scope = new URL(self.registration.scope);
const local = (path) => new URL(path.replace(/^\//, ""), scope).href;

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const res = await fetch(local("build-info.json"), { cache: "no-store" });
      const info = await res.clone().json();
      const cache = await caches.open(CACHE);
      await cache.addAll(info.precache.map(local));
      await cache.put(local("build-info.json"), res);
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
      // Drop wheels (and the Pyodide snapshots filed beside them: web/boot.js) and semantic
      // assets of older builds.
      const cache = await caches.open(CACHE);
      const info = await (await cache.match(local("build-info.json")))?.json();
      if (info) {
        const wheelDir = new URL(".", local(info.wheel)).href;
        for (const req of await cache.keys()) {
          const path = new URL(req.url).pathname;
          if (path.includes("/wheels/") && !req.url.startsWith(wheelDir)) await cache.delete(req);
          if (path.includes("/semantic/") && (!info.semantic || req.url !== local(info.semantic)))
            await cache.delete(req);
        }
      }
      await self.clients.claim();
    })(),
  );
});

const immutable = (url) =>
  ["/pyodide/", "/wheels/", "/semantic/"].some((part) => url.pathname.includes(part));

async function cacheFirst(request) {
  const cache = await caches.open(CACHE);
  const hit = await cache.match(request, { ignoreSearch: true });
  if (hit) return hit;
  const res = await fetch(request);
  if (res.ok) await cache.put(request, res.clone());
  return res;
}

async function networkFirst(event) {
  const { request } = event;
  const cache = await caches.open(CACHE);
  try {
    const res = await fetch(request);
    // Answer now, store meanwhile: the page's start waits on every script it fetches.
    if (res.ok) event.waitUntil(cache.put(request, res.clone()));
    return res;
  } catch (err) {
    const hit =
      (await cache.match(request, { ignoreSearch: true })) ||
      (request.mode === "navigate" ? await cache.match(local("/")) : undefined);
    if (hit) return hit;
    throw err;
  }
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== scope.origin) return;
  event.respondWith(immutable(url) ? cacheFirst(event.request) : networkFirst(event));
});
