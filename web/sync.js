// Browsers on the neural bus: link a ReasoningBank (reasoningbank.js) to a hub, so what this
// browser learns reaches other browsers and CPython banks, and theirs reach it.
//
//   import { ReasoningBank } from "./reasoningbank.js";
//   import { BusSync } from "./sync.js";
//   const rb = await ReasoningBank.load({ db: "my-agent" });
//   const bus = await BusSync.start(rb, { hub: "https://127.0.0.1:4433/bus",
//     certHash: "<sha256 printed by `reasoningbank hub`>", trust: ["<peer key hex>"] });
//   bus.onChange((s) => console.log(s.state, s.transport, s.peers));
//
// WebTransport (pinned with serverCertificateHashes) where the engine has it, a WebSocket to
// the same hub otherwise (WebKit). Patterns are signed with a non-extractable WebCrypto
// Ed25519 key kept in IndexedDB. Offline, learned patterns stay queued in the bank and are
// shared on reconnection; drops are retried with backoff and resumed by anti-entropy.

export class BusSyncError extends Error {
  constructor({ name, message }) {
    super(message);
    this.name = name;
  }
}

const dispatchers = new WeakMap();

function dispatcher(rb) {
  let d = dispatchers.get(rb._rt);
  if (!d) {
    const mod = rb.pyodide.pyimport("transport_webtransport.page");
    d = mod.dispatch.copy();
    mod.destroy();
    dispatchers.set(rb._rt, d);
  }
  return d;
}

function call(d, handle, method, args, extra) {
  return new Promise((resolve, reject) => {
    d(handle, method, JSON.stringify(args),
      (out) => resolve(JSON.parse(out)),
      (err) => reject(new BusSyncError(JSON.parse(err))),
      extra);
  });
}

export class BusSync {
  constructor(d, handle, status) {
    this._d = d;
    this.handle = handle;
    this.last = status;
    this._listeners = new Set();
  }

  /**
   * Start syncing `rb` with a hub. Options: hub (URL, required), certHash, wsUrl,
   * prefer ("auto" | "webtransport" | "websocket"), label, trust (keys to add to the trust
   * list), identityDb, backoffBase, backoffMax, syncEvery, timeout (seconds).
   */
  static async start(rb, { hub, ...options } = {}) {
    const d = dispatcher(rb);
    let sync = null;
    const early = [];
    const onChange = (json) => {
      const s = JSON.parse(json);
      if (sync) sync._emit(s);
      else early.push(s);
    };
    const status = await call(d, 0, "start", [{ bank: rb._handle, hub, ...options }], onChange);
    sync = new BusSync(d, status.handle, status);
    for (const s of early) sync._emit(s);
    return sync;
  }

  /** This browser's public key (hex), without starting a link. */
  static async identity(rb, identityDb = "reasoningbank-identity") {
    return call(dispatcher(rb), 0, "identity", [identityDb]);
  }

  _emit(s) {
    this.last = s;
    for (const fn of this._listeners) {
      try {
        fn(s);
      } catch (e) {
        console.error(e);
      }
    }
  }

  /** fn(status) on every change of state, peers or counts; returns an unsubscribe function. */
  onChange(fn) {
    this._listeners.add(fn);
    return () => this._listeners.delete(fn);
  }

  _call(method, ...args) {
    return call(this._d, this.handle, method, args);
  }

  /** {state, transport, hub, hubKey, identity, peers, known, shared, imported, rejected, pending, ...} */
  status() {
    return this._call("status");
  }
  /** Share the patterns `ids` (or everything not shared yet); queued while offline. */
  share(ids = null) {
    return this._call("share", ids);
  }
  /** Share, then anti-entropy with the hub; waits for a connection up to `timeout` s. */
  syncNow(timeout = 30) {
    return this._call("syncNow", timeout);
  }
  trust(key, label = "") {
    return this._call("trust", key, label);
  }
  untrust(key) {
    return this._call("untrust", key);
  }
  trusted() {
    return this._call("trusted");
  }
  stop() {
    return this._call("stop");
  }
}

/**
 * Wire the PWA: link to the hub named in the URL (?hub=…&certHash=…&trust=k1,k2; remembered
 * in localStorage for offline reloads) or announced by the server in build-info.json
 * ({"bus": {hub, certHash, wsUrl}}), show state and peers, and share after every change.
 */
export async function attach(rb, params = new URLSearchParams(location.search)) {
  const saved = JSON.parse(localStorage.getItem("rb-bus") || "{}");
  // A server that runs a hub announces it in build-info.json ({"bus": {hub, certHash, wsUrl}}).
  // That (fresh when online) beats what an earlier visit remembered: a restarted hub may have a
  // new certificate. URL parameters beat both.
  const info = params.get("hub")
    ? {}
    : await fetch(new URL("build-info.json", document.baseURI)).then((r) => (r.ok ? r.json() : {})).catch(() => ({}));
  const base = info.bus && info.bus.hub ? info.bus : saved;
  const cfg = {
    hub: params.get("hub") || base.hub,
    certHash: params.get("certHash") || base.certHash,
    wsUrl: params.get("wsUrl") || base.wsUrl,
    prefer: params.get("transport") || saved.prefer,
    label: params.get("label") || saved.label || navigator.userAgent.match(/(Firefox|Chrome|Safari)\/[\d.]+/)?.[0] || "browser",
    trust: (params.get("trust") || "").split(",").filter(Boolean),
  };
  for (const k of ["backoffBase", "backoffMax", "syncEvery", "timeout"]) if (params.has(k)) cfg[k] = Number(params.get(k));
  const box = ensureBox();
  if (!cfg.hub) {
    box.textContent = "Neural bus: not linked (open with ?hub=URL&certHash=HEX)";
    return null;
  }
  localStorage.setItem("rb-bus", JSON.stringify({ ...cfg, trust: undefined }));
  const bus = await BusSync.start(rb, cfg);
  let imported = 0;
  bus.onChange((s) => {
    render(box, s);
    // Patterns arrived from the bus: tell the page (app.js refreshes its stats).
    if (s.imported > imported) dispatchEvent(new CustomEvent("rb-bus-import", { detail: s }));
    imported = s.imported;
  });
  render(box, bus.last);
  // Share what the page learns as soon as it is stored: the ids each call touched.
  const touched = {
    storePattern: (out) => [out],
    storePatterns: (out) => out,
    recordOutcome: (out, args) => [args[0]],
  };
  for (const [method, ids] of Object.entries(touched)) {
    const original = rb[method].bind(rb);
    rb[method] = async (...args) => {
      const out = await original(...args);
      bus.share(ids(out, args)).catch((e) => console.warn("bus share:", e));
      return out;
    };
  }
  bus.status().then((s) => render(box, s));
  return bus;
}

function ensureBox() {
  let box = document.querySelector("#bus");
  if (!box) {
    box = document.createElement("p");
    box.id = "bus";
    box.setAttribute("role", "status");
    box.setAttribute("aria-live", "polite");
    (document.querySelector("header") || document.body).append(box);
  }
  return box;
}

function render(box, s) {
  if (!s) return;
  box.dataset.state = s.state;
  box.dataset.transport = s.transport || "";
  box.dataset.peers = String(s.peers.length);
  const short = (k) => `${k.slice(0, 8)}…`;
  const peers = s.peers.map((p) => `${p.label || "bank"} ${short(p.key)}`).join(", ");
  const parts = [
    `Neural bus: ${s.state}${s.transport ? ` via ${s.transport}` : ""}`,
    `peers: ${s.peers.length ? peers : "none"}`,
    `sent ${s.sent}, received ${s.imported}`,
  ];
  if (s.pending) parts.push(`${s.pending} queued`);
  const rejected = Object.values(s.rejected || {}).reduce((a, b) => a + b, 0);
  if (rejected) parts.push(`${rejected} rejected`);
  if (s.state !== "online" && s.lastError) parts.push(s.lastError);
  box.textContent = parts.join(" · ");
}
