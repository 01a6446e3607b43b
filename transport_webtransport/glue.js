// Browser glue for transport_webtransport (evaluated once by Pyodide's run_js; the value is
// the API object).
//
// Why JS and not Python-over-FFI: a WebTransport stream or a WebSocket delivers data through
// readers and event handlers. Here every transport becomes one "pipe" whose read() resolves
// with *all* bytes received since the previous read (or null once it closed), so Python
// crosses the FFI once per batch of frames, not once per network chunk. The identity key and
// the trust list live in IndexedDB; the private key is a non-extractable CryptoKey, so page
// scripts can use it to sign but nobody can read it out.
(() => {
  const IDENTITY = "identity";

  class Pipe {
    constructor() {
      this.chunks = [];
      this.size = 0;
      this.eof = false;
      this.reason = "";
      this.waiter = null;
    }
    push(u8) {
      if (this.eof || !u8.length) return;
      this.chunks.push(u8);
      this.size += u8.length;
      this.wake();
    }
    end(reason) {
      if (this.eof) return;
      this.eof = true;
      this.reason = reason ? String(reason && reason.message ? reason.message : reason) : "";
      this.wake();
    }
    wake() {
      const w = this.waiter;
      if (w) {
        this.waiter = null;
        w();
      }
    }
    async read() {
      while (!this.size && !this.eof) await new Promise((r) => (this.waiter = r));
      if (!this.size) return null;
      let out;
      if (this.chunks.length === 1) out = this.chunks[0];
      else {
        out = new Uint8Array(this.size);
        let off = 0;
        for (const c of this.chunks) {
          out.set(c, off);
          off += c.length;
        }
      }
      this.chunks = [];
      this.size = 0;
      return out;
    }
  }

  function hexBytes(hex) {
    const clean = String(hex).replace(/[^0-9a-fA-F]/g, "");
    if (clean.length !== 64) throw new TypeError("a certificate hash is 64 hex digits (SHA-256)");
    const out = new Uint8Array(32);
    for (let i = 0; i < 32; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
    return out;
  }

  function timeout(promise, ms, what) {
    let timer;
    return Promise.race([
      promise,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  /** One WebTransport session with one bidirectional stream: the bus session. */
  async function openWebTransport(url, certHash, timeoutMs) {
    const options = {};
    if (certHash) options.serverCertificateHashes = [{ algorithm: "sha-256", value: hexBytes(certHash) }];
    const wt = new WebTransport(url, options);
    const pipe = new Pipe();
    wt.closed.then(
      (info) => pipe.end(`session closed${info && info.reason ? ": " + info.reason : ""}`),
      (e) => pipe.end(e),
    );
    let writer;
    try {
      await timeout(wt.ready, timeoutMs, "WebTransport");
      const bidi = await timeout(wt.createBidirectionalStream(), timeoutMs, "WebTransport stream");
      writer = bidi.writable.getWriter();
      const reader = bidi.readable.getReader();
      (async () => {
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            pipe.push(value);
          }
          pipe.end("stream ended");
        } catch (e) {
          pipe.end(e);
        }
      })();
    } catch (e) {
      try {
        wt.close();
      } catch {}
      throw e;
    }
    return {
      kind: "webtransport",
      send(u8) {
        if (pipe.eof) return false;
        writer.write(u8.slice()).catch((e) => pipe.end(e));
        return true;
      },
      read: () => pipe.read(),
      get closed() {
        return pipe.eof;
      },
      get reason() {
        return pipe.reason;
      },
      close() {
        if (!pipe.eof) {
          writer.close().catch(() => {});
          try {
            wt.close({ closeCode: 0, reason: "bye" });
          } catch {}
        }
        pipe.end("closed by us");
      },
    };
  }

  /** A WebSocket carrying the same byte stream (engines without WebTransport: WebKit). */
  function openWebSocket(url, timeoutMs) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.binaryType = "arraybuffer";
      const pipe = new Pipe();
      let opened = false;
      const timer = setTimeout(() => {
        if (!opened) {
          ws.close();
          reject(new Error(`WebSocket: no answer in ${timeoutMs} ms`));
        }
      }, timeoutMs);
      const handle = {
        kind: "websocket",
        send(u8) {
          if (ws.readyState !== 1) return false;
          ws.send(u8.slice());
          return true;
        },
        read: () => pipe.read(),
        get closed() {
          return pipe.eof;
        },
        get reason() {
          return pipe.reason;
        },
        close() {
          try {
            ws.close(1000);
          } catch {}
          pipe.end("closed by us");
        },
      };
      ws.onopen = () => {
        opened = true;
        clearTimeout(timer);
        resolve(handle);
      };
      ws.onmessage = (e) => pipe.push(new Uint8Array(e.data));
      ws.onclose = (e) => {
        clearTimeout(timer);
        if (!opened) reject(new Error(`WebSocket to ${url} closed before opening (code ${e.code})`));
        pipe.end(`WebSocket closed (code ${e.code})`);
      };
    });
  }

  // -- identity and trust in IndexedDB ----------------------------------------------------
  function req(r) {
    return new Promise((resolve, reject) => {
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
  }

  const dbs = new Map();
  function openDb(name) {
    if (!dbs.has(name)) {
      const r = indexedDB.open(name, 1);
      r.onupgradeneeded = () => {
        r.result.createObjectStore("keys");
        r.result.createObjectStore("trust");
      };
      const p = req(r).catch((e) => {
        dbs.delete(name);
        throw e;
      });
      dbs.set(name, p);
    }
    return dbs.get(name);
  }

  async function tx(name, store, mode, fn) {
    const db = await openDb(name);
    const t = db.transaction(store, mode);
    const done = new Promise((resolve, reject) => {
      t.oncomplete = resolve;
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error || new DOMException("aborted", "AbortError"));
    });
    const result = await fn(t.objectStore(store));
    await done;
    return result;
  }

  /**
   * This browser's identity: {publicKey: Uint8Array(32), privateKey: CryptoKey, created}.
   * Made on first use with extractable = false; two tabs racing both end up with the one
   * that was stored first (add() refuses the second).
   */
  async function identity(name) {
    let rec = await tx(name, "keys", "readonly", (s) => req(s.get(IDENTITY)));
    if (rec) return { ...rec, created: false };
    const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    const publicKey = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    rec = { privateKey: pair.privateKey, publicKey, createdAt: Date.now() };
    try {
      await tx(name, "keys", "readwrite", (s) => req(s.add(rec, IDENTITY)));
    } catch (e) {
      if (e && e.name !== "ConstraintError") throw e;
      rec = await tx(name, "keys", "readonly", (s) => req(s.get(IDENTITY)));
      return { ...rec, created: false };
    }
    return { ...rec, created: true };
  }

  /** A throwaway non-extractable key (never stored), e.g. for a one-off session. */
  async function ephemeral() {
    const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    const publicKey = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    return { privateKey: pair.privateKey, publicKey, created: true };
  }

  async function trustList(name) {
    const out = await tx(name, "trust", "readonly", async (s) => {
      const keys = await req(s.getAllKeys());
      const values = await req(s.getAll());
      return keys.map((k, i) => [k, values[i]]);
    });
    return JSON.stringify(Object.fromEntries(out));
  }

  async function trustPut(name, hex, label) {
    await tx(name, "trust", "readwrite", (s) => req(s.put({ label, addedAt: Date.now() }, hex)));
  }

  async function trustDelete(name, hex) {
    await tx(name, "trust", "readwrite", (s) => req(s.delete(hex)));
  }

  /** Calls fn(true) on the window's online event and fn(false) on offline, until the
   * returned function is called. */
  function onNetwork(fn) {
    if (typeof addEventListener !== "function") return () => {};
    const up = () => fn(true);
    const down = () => fn(false);
    addEventListener("online", up);
    addEventListener("offline", down);
    return () => {
      removeEventListener("online", up);
      removeEventListener("offline", down);
    };
  }

  // -- batched Ed25519 verification -------------------------------------------------------
  const verifyKeys = new Map();
  function verifyKey(raw) {
    let hex = "";
    for (const b of raw) hex += b.toString(16).padStart(2, "0");
    let key = verifyKeys.get(hex);
    if (!key) {
      key = crypto.subtle.importKey("raw", raw.slice(), { name: "Ed25519" }, false, ["verify"]);
      key.catch(() => verifyKeys.delete(hex));
      if (verifyKeys.size > 1024) verifyKeys.clear();
      verifyKeys.set(hex, key);
    }
    return key;
  }

  /** Verify n signatures at once: keys (32·n bytes), sigs (64·n), data cut at offsets[0..n].
   * Resolves to n bytes, 1 = valid. A key WebCrypto refuses counts as an invalid signature. */
  async function verifyBatch(keys, sigs, data, offsets) {
    const n = offsets.length - 1;
    const alg = { name: "Ed25519" };
    const jobs = new Array(n);
    for (let i = 0; i < n; i++) {
      const sig = sigs.subarray(64 * i, 64 * i + 64);
      const msg = data.subarray(offsets[i], offsets[i + 1]);
      jobs[i] = verifyKey(keys.subarray(32 * i, 32 * i + 32))
        .then((key) => crypto.subtle.verify(alg, key, sig, msg))
        .catch(() => false);
    }
    const results = await Promise.all(jobs);
    return Uint8Array.from(results, (ok) => (ok ? 1 : 0));
  }

  const isOnline = () => (typeof navigator === "undefined" || navigator.onLine !== false);

  return {
    hasWebTransport: () => typeof globalThis.WebTransport === "function",
    openWebTransport,
    openWebSocket,
    identity,
    ephemeral,
    trustList,
    trustPut,
    trustDelete,
    onNetwork,
    verifyBatch,
    isOnline,
  };
})();
