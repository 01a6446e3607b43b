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

/** A call of the page dispatcher that needs no link (identity, trust list, bundles). */
export function pageCall(rb, method, ...args) {
  return call(dispatcher(rb), 0, method, args);
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
   * list), identityDb, backoffBase, backoffMax, syncEvery, timeout, trustPoll (seconds).
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

  /** Trust `keys` (hex) without a link; running links see them at once. Resolves to how many were new. */
  static async trustKeys(rb, keys, identityDb = "reasoningbank-identity") {
    return call(dispatcher(rb), 0, "trustKeys", [keys, identityDb]);
  }

  /** The trust list without a link: {hex key: {label}}. */
  static async trustedKeys(rb, identityDb = "reasoningbank-identity") {
    return call(dispatcher(rb), 0, "trustedKeys", [identityDb]);
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

// -- the PWA -------------------------------------------------------------------------------
// Private by default: the page connects to no hub until the user turns sharing on (remembered
// per origin), and a link's ?hub= / ?trust= change nothing until the user accepts them in a
// dialog. The page always says where its patterns go.

const SAVED = "rb-bus"; // localStorage: {hub, certHash, wsUrl, source: "server" | "link", enabled, tuning}
const HUB_PARAMS = ["hub", "certHash", "wsUrl"];
const TUNING = ["backoffBase", "backoffMax", "syncEvery", "timeout", "trustPoll"];
const KEY_HEX = /^[0-9a-f]{64}$/;
/** What each reason a received pattern was refused for means, for the bus line. */
const REJECTED = {
  untrusted: "signed by keys this browser does not trust (add them under Trusted keys to accept them)",
  forged: "signatures that do not verify (changed on the way, or forged)",
  malformed: "not valid patterns",
  quota: "from an author over its share of this browser's bus store",
  full: "arrived while this browser's bus store was full",
};

let pageBus = null; // Promise of the page's one PageBus

/**
 * Wire the PWA (index.html): show this browser's key, the sharing switch and where patterns
 * go; offer the hub `reasoningbank serve` announces in build-info.json; ask before adopting a
 * link's ?hub=URL&certHash=HEX&wsUrl=URL&trust=k1,k2. Called again (with other parameters) it
 * handles those on the same page. Resolves to the running BusSync or null (also window.rbBus).
 */
export async function attach(rb, params = new URLSearchParams(location.search)) {
  const page = await sharing(rb);
  await page.consider(params);
  return page.bus;
}

/** The page's sharing controls, set up once: key shown, a remembered opted-in hub linked. */
export function sharing(rb) {
  pageBus ||= (async () => {
    const page = new PageBus(rb);
    await page.init();
    return page;
  })();
  return pageBus;
}

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

/** Where patterns go, in one sentence (the footer and the sharing card). */
function whereText(hub, sharing, state) {
  if (!sharing) return "Stored only in this browser.";
  let where = `Stored in this browser and shared with the hub at ${hubName(hub)}`;
  if (state === "refused") where += " once it trusts this browser's key";
  else if (state !== "online") where += " when connected";
  return `${where}; only peers that trust this browser's key accept them.`;
}

/**
 * Before the runtime is up: say what the remembered setting will do, so the page never
 * claims "only in this browser" while it is about to share.
 */
export function previewSharing() {
  const saved = loadSaved();
  if (!saved.enabled || !saved.hub) return;
  const where = whereText(saved.hub, true, "starting");
  $("where").textContent = where;
  $("where-now").textContent = where;
}

function loadSaved() {
  try {
    const saved = JSON.parse(localStorage.getItem(SAVED) || "{}");
    return saved && typeof saved === "object" ? saved : {};
  } catch {
    return {};
  }
}

function hubName(url) {
  try {
    return new URL(url).host;
  } catch {
    return String(url);
  }
}

class PageBus {
  constructor(rb) {
    this.rb = rb;
    this.bus = null;
    this.saved = loadSaved();
    this.label = navigator.userAgent.match(/(Firefox|Chrome|Safari)\/[\d.]+/)?.[0] || "browser";
    this._imported = 0;
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
        this.bus?.share(ids(out, args)).catch((e) => console.warn("bus share:", e));
        return out;
      };
    }
    $("bus-share").addEventListener("change", (e) => this.setSharing(e.target.checked));
    $("copy-key").addEventListener("click", () => this.copyKey());
    $("trust-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.trustFromForm().catch((err) => this.formError(err.message));
    });
  }

  async init() {
    this.key = await BusSync.identity(this.rb);
    $("own-key").textContent = this.key;
    $("copy-key").disabled = false;
    // The server's own hub (fresh when online: a restarted hub may have a new certificate)
    // replaces a remembered server hub, never a hub the user accepted from a link.
    const info = await fetch(new URL("build-info.json", document.baseURI))
      .then((r) => (r.ok ? r.json() : {}))
      .catch(() => ({}));
    const announced = info.bus && info.bus.hub ? info.bus : null;
    if (announced && (!this.saved.hub || this.saved.source === "server")) {
      const enabled = this.saved.source === "server" && this.saved.enabled === true;
      this.save({ ...this.pick(announced), source: "server", enabled });
    }
    if (this.saved.enabled && this.saved.hub) {
      this.render({ state: "starting", peers: [] });
      await this.startBus().catch((e) => console.warn("neural bus:", e));
    }
    this.render();
    await this.renderTrust();
    $("trust-form").querySelector("button").disabled = false;
  }

  pick(cfg) {
    return Object.fromEntries(HUB_PARAMS.filter((k) => cfg[k]).map((k) => [k, String(cfg[k])]));
  }

  save(saved) {
    this.saved = saved;
    localStorage.setItem(SAVED, JSON.stringify(saved));
  }

  /** A link's parameters: tuning applies as is; a hub or keys to trust need the user's yes. */
  async consider(params) {
    const tuning = { ...(this.saved.tuning || {}) };
    for (const k of TUNING) if (params.has(k)) tuning[k] = Number(params.get(k));
    if (params.has("transport")) tuning.prefer = params.get("transport");
    if (params.has("label")) tuning.label = params.get("label");
    const tuned = JSON.stringify(tuning) !== JSON.stringify(this.saved.tuning || {});
    if (tuned) this.save({ ...this.saved, tuning });

    const hub = params.get("hub") ? this.pick(Object.fromEntries(params)) : null;
    const keys = (params.get("trust") || "").split(",").map((k) => k.trim().toLowerCase()).filter(Boolean);
    if (!hub && !keys.length) {
      if (tuned && this.bus) await this.startBus();
      return;
    }
    this.forgetLinkParams(); // handled once: a reload must not ask again
    const trusted = await BusSync.trustedKeys(this.rb);
    const newKeys = [...new Set(keys.filter((k) => KEY_HEX.test(k) && k !== this.key && !(k in trusted)))];
    const bad = keys.filter((k) => !KEY_HEX.test(k));
    const same = (k) => (hub[k] || this.saved[k] || null) === (this.saved[k] || null);
    const newHub = hub && !(this.saved.enabled && HUB_PARAMS.every(same)) ? hub : null;
    if (!newHub && !newKeys.length) {
      if (tuned && this.bus) await this.startBus();
      return;
    }
    if (!(await this.confirm(newHub, newKeys, bad))) {
      this.render();
      return;
    }
    if (newKeys.length) {
      await BusSync.trustKeys(this.rb, newKeys);
      await this.renderTrust();
    }
    if (newHub) this.save({ ...this.saved, ...newHub, certHash: newHub.certHash, wsUrl: newHub.wsUrl, source: "link", enabled: true });
    // A fresh link: what a running one rejected from the newly trusted keys comes again.
    if (this.saved.enabled && this.saved.hub) await this.startBus();
    this.render();
  }

  forgetLinkParams() {
    const url = new URL(location.href);
    const linked = [...HUB_PARAMS, "trust"].filter((k) => url.searchParams.has(k));
    if (!linked.length) return;
    for (const k of linked) url.searchParams.delete(k);
    history.replaceState(history.state, "", url);
  }

  /** The dialog: resolves true only when the user accepts. */
  confirm(hub, keys, bad) {
    const dialog = $("bus-confirm");
    const body = $("bus-confirm-body");
    const code = (text) => Object.assign(document.createElement("code"), { textContent: text });
    const para = (...parts) => {
      const p = document.createElement("p");
      p.append(...parts);
      return p;
    };
    body.replaceChildren();
    if (hub) {
      body.append(
        para("Share every pattern in this browser with the hub ", code(hub.hub),
          hub.certHash ? " (certificate " : "", hub.certHash ? code(`${hub.certHash.slice(0, 16)}…`) : "",
          hub.certHash ? ")" : "", ", and import what it sends from keys you trust."),
      );
    }
    if (keys.length) {
      const list = document.createElement("ul");
      for (const k of keys) list.append(Object.assign(document.createElement("li"), { textContent: k }));
      body.append(para(`Trust ${keys.length === 1 ? "this key" : `these ${keys.length} keys`}: patterns signed with ${keys.length === 1 ? "it" : "them"} will be imported into this browser's bank.`), list);
    }
    if (bad.length) body.append(para(`Ignored (not a 64-hex-digit key): ${bad.join(", ")}`));
    dialog.dataset.hub = hub ? hub.hub : "";
    dialog.dataset.keys = keys.join(",");
    return new Promise((resolve) => {
      const done = (answer) => {
        dialog.removeEventListener("close", onClose);
        resolve(answer);
      };
      const onClose = () => done(dialog.returnValue === "accept");
      dialog.returnValue = "";
      dialog.addEventListener("close", onClose);
      if (typeof dialog.showModal === "function") dialog.showModal();
      else dialog.setAttribute("open", "");
    });
  }

  async setSharing(on) {
    if (!this.saved.hub) return this.render();
    this.save({ ...this.saved, enabled: on });
    if (on) await this.startBus();
    else await this.stopBus();
    this.render();
  }

  async startBus() {
    await this.stopBus();
    const t = this.saved.tuning || {};
    const cfg = { ...this.pick(this.saved), label: t.label || this.label, prefer: t.prefer };
    for (const k of TUNING) if (t[k] !== undefined) cfg[k] = t[k];
    const bus = await BusSync.start(this.rb, cfg);
    this._imported = 0;
    bus.onChange((s) => {
      this.render(s);
      // Patterns arrived from the bus: tell the page (app.js refreshes its stats).
      if (s.imported > this._imported) dispatchEvent(new CustomEvent("rb-bus-import", { detail: s }));
      this._imported = s.imported;
    });
    this.bus = window.rbBus = bus;
    this.render(bus.last);
    bus.status().then((s) => this.bus === bus && this.render(s));
    return bus;
  }

  async stopBus() {
    const bus = this.bus;
    this.bus = window.rbBus = null;
    if (bus) await bus.stop().catch((e) => console.warn("bus stop:", e));
  }

  async copyKey() {
    const button = $("copy-key");
    let ok = false;
    try {
      await navigator.clipboard.writeText(this.key);
      ok = true;
    } catch {
      // No async clipboard (an insecure origin, an older engine): copy the selected text.
      const range = document.createRange();
      range.selectNodeContents($("own-key"));
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      ok = document.execCommand("copy");
    }
    button.textContent = ok ? "Copied" : "Select and copy it";
    setTimeout(() => (button.textContent = "Copy"), 2000);
  }

  /** Say where patterns go, in every state: the footer, the sharing card and the bus line. */
  render(s = this.bus?.last) {
    const hub = this.saved.hub;
    const starting = s && s.state === "starting";
    const sharing = Boolean(hub && this.saved.enabled && (this.bus || starting));
    const toggle = $("bus-share");
    toggle.disabled = !hub;
    toggle.checked = sharing;
    $("bus-hub").textContent = hub ? `the hub at ${hubName(hub)}` : "a hub (none known yet)";
    const where = whereText(hub, sharing, s && s.state);
    $("where").textContent = where;
    $("where-now").textContent = where;
    const state = sharing ? (s && s.state) || "starting" : "off";
    dispatchEvent(new CustomEvent("rb-bus-state", { detail: { state, transport: s?.transport || null } }));
    this.renderPeers(sharing ? s?.peers || [] : null);
    const box = $("bus");
    if (!sharing) {
      box.dataset.state = "off";
      box.textContent = hub
        ? "Neural bus: off. Nothing leaves this browser."
        : "Neural bus: off. No hub known (open a link from a hub's owner, or run `reasoningbank serve`).";
      return;
    }
    if (s && !starting) renderStatus(box, s);
    else box.textContent = `Neural bus: connecting to ${hubName(hub)}…`;
  }

  // -- peers and the trust list ----------------------------------------------------------
  /** The peers the hub announces (null: sharing is off), each with its trust and a button. */
  renderPeers(peers) {
    const list = $("peers");
    if (!peers || !peers.length) {
      list.replaceChildren(el("li", { class: "empty" }, peers ? "None online right now." : "None: sharing is off."));
      return;
    }
    const trusted = this.trusted || {};
    list.replaceChildren(...peers.map((p) => {
      const li = el("li", { "data-key": p.key }, el("span", {}, p.label || "bank"), " ", el("code", { title: p.key }, `${p.key.slice(0, 16)}…`));
      if (p.key in trusted) li.append(" ", el("span", { class: "ok" }, "trusted"));
      else li.append(" ", el("button", { type: "button", class: "small", "aria-label": `Trust ${p.label || "bank"} ${p.key.slice(0, 8)}`, onclick: () => this.trust(p.key, p.label || "") }, "Trust"));
      return li;
    }));
  }

  async renderTrust() {
    this.trusted = await BusSync.trustedKeys(this.rb);
    const list = $("trust-list");
    const entries = Object.entries(this.trusted);
    list.replaceChildren(
      el("li", { class: "own" }, "This browser ", el("code", { title: this.key }, `${this.key.slice(0, 16)}…`), " (always)"),
      ...entries.map(([key, { label }]) => el("li", { "data-key": key },
        el("span", {}, label || "unnamed"), " ", el("code", { title: key }, key), " ",
        el("button", { type: "button", class: "small", "aria-label": `Stop trusting ${label || key.slice(0, 8)}`, onclick: () => this.untrust(key) }, "Remove"))),
    );
    this.renderPeers(this.bus ? this.bus.last?.peers || [] : null);
  }

  formError(message) {
    const box = $("t-error");
    box.textContent = message;
    box.hidden = !message;
    $("t-key").setAttribute("aria-invalid", message ? "true" : "false");
    if (message) $("t-key").focus();
  }

  async trustFromForm() {
    const key = $("t-key").value.trim().toLowerCase();
    const label = $("t-label").value.trim();
    if (!KEY_HEX.test(key)) return this.formError("A key is 64 hexadecimal digits (0-9, a-f), as `reasoningbank trust` or a page's key line shows it.");
    if (key === this.key) return this.formError("That is this browser's own key: it is always trusted.");
    this.formError("");
    await this.trust(key, label);
    $("trust-form").reset();
  }

  async trust(key, label) {
    await pageCall(this.rb, "trustKey", key, label);
    await this.renderTrust();
    // A fresh link: what the running one refused from this key comes again.
    if (this.bus) await this.startBus();
  }

  async untrust(key) {
    await pageCall(this.rb, "untrustKey", key);
    await this.renderTrust();
  }
}

function renderStatus(box, s) {
  box.dataset.state = s.state;
  box.dataset.transport = s.transport || "";
  box.dataset.peers = String(s.peers.length);
  const short = (k) => `${k.slice(0, 8)}…`;
  const peers = s.peers.map((p) => `${p.label || "bank"} ${short(p.key)}`).join(", ");
  const parts = [
    s.state === "refused"
      ? "Neural bus: refused: the hub does not trust this browser's key yet"
      : `Neural bus: ${s.state}${s.transport ? ` via ${s.transport}` : ""}`,
    `peers: ${s.peers.length ? peers : "none"}`,
    `sent ${s.sent}, received ${s.imported}`,
  ];
  if (s.pending) parts.push(`${s.pending} queued`);
  if (s.state !== "online" && s.state !== "refused" && s.lastError) parts.push(s.lastError);
  const open = Boolean(box.querySelector("details.rejected")?.open); // kept open across updates
  box.replaceChildren(parts.join(" · "));
  const reasons = Object.entries(s.rejected || {}).filter(([, n]) => n > 0);
  const rejected = reasons.reduce((a, [, n]) => a + n, 0);
  if (rejected) {
    // Which patterns were refused and why, one line per reason.
    const list = el("ul", {}, ...reasons.map(([reason, n]) =>
      el("li", { "data-reason": reason }, `${n} ${REJECTED[reason] || `refused: ${reason}`}`)));
    const details = el("details", { class: "rejected" }, el("summary", {}, `${rejected} rejected`), list);
    details.open = open;
    box.append(" · ", details);
  }
}
