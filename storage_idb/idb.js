// IndexedDB glue for storage_idb (evaluated once by Pyodide's run_js; the value is the API).
//
// Why JS and not Python-over-FFI: every IDB request needs onsuccess/onerror callbacks and
// must be issued while its transaction is active. Doing that from Python would cost one FFI
// crossing per request per record; here a whole batch is one call, and load() hands Python
// one JSON string plus one byte buffer for 10,000 records.
//
// Layout (schema 3): a write is one transaction holding ONE value, however many records it
// has, because IndexedDB's cost is per request (about 5k requests/s in Chromium), not per byte.
//   chunks     autoIncrement key "c", index "s": the records of one write, in columns:
//              {s, ids, ss, ns, cats, created, j, dims, vec}. Per record: ss = sequence number
//              of the writing transaction, ns = insertion number (a rewrite takes a new, larger
//              one, like SQLite's INSERT OR REPLACE), j = the record as a JSON array [id, cat,
//              strategy, created, updated, body, terms] (the chunk's j joins them with "\n",
//              which JSON text never contains), dims = its vector's length (0: none); vec =
//              the vectors end to end (float32). s = the largest ss: changes() finds the
//              chunks written after a sequence number through index "s".
//   tombstones keyPath "id": {id, s}, index s: deletions.
//   meta       out-of-line key: the user's get_meta/set_meta strings
//   sys        out-of-line key: counters "seq" and "n"
// Which copy of a record is live: the one with the largest insertion number, unless the
// record's tombstone has a sequence number at least as large (deleted after it was written).
// So an update writes a one-record chunk and never rewrites the chunk holding the old copy.
// Compaction (rule, run in the background after load(), which reads every chunk anyway):
// a chunk in which fewer than half the records are live is rewritten with its live records
// only, and once COMPACT.smallCount chunks hold fewer than COMPACT.small records each, they
// are merged into one. Records keep their sequence and insertion numbers, so compaction
// changes nothing that load() or changes() report, and it commits nothing if anyone wrote
// since the load. get(), byCategory() and count() read every chunk (the bank itself keeps
// its records in memory and only calls load() and changes()).
(() => {
  const SCHEMA = 3;
  const COMPACT = { small: 512, smallCount: 32, chunkMax: 4096 }; // (tests lower them)
  // MIGRATIONS[v] upgrades a database from version v to v + 1 inside onupgradeneeded.
  const MIGRATIONS = [
    (db) => {
      const records = db.createObjectStore("records", { keyPath: "id" });
      records.createIndex("n", "n", { unique: true });
      records.createIndex("s", "s");
      records.createIndex("cat_created", ["cat", "created"]);
      records.createIndex("created", "created");
      db.createObjectStore("vectors");
      db.createObjectStore("tombstones", { keyPath: "id" }).createIndex("s", "s");
      db.createObjectStore("meta");
      db.createObjectStore("sys");
    },
    (db) => {
      db.createObjectStore("snap");
    },
    // Schema 2 kept one value per record (plus one per vector): move them into chunks of
    // chunkMax records, keeping their sequence and insertion numbers.
    (db, tx) => {
      db.createObjectStore("chunks", { keyPath: "c", autoIncrement: true }).createIndex("s", "s");
      const vectors = tx.objectStore("vectors");
      const rows = request(tx.objectStore("records").index("n").getAll());
      const keys = request(vectors.getAllKeys());
      const vals = request(vectors.getAll());
      Promise.all([rows, keys, vals]).then(([rows, keys, vals]) => {
        const vecOf = new Map(keys.map((k, i) => [k, vals[i]]));
        const entries = rows.map((r) => ({
          id: r.id, s: r.s, n: r.n, cat: r.cat, created: r.created, j: r.j, vec: vecOf.get(r.id),
        }));
        const chunks = tx.objectStore("chunks");
        for (let i = 0; i < entries.length; i += COMPACT.chunkMax) {
          chunks.add(packChunk(entries.slice(i, i + COMPACT.chunkMax)));
        }
        for (const name of ["records", "vectors", "snap"]) db.deleteObjectStore(name);
      }, () => tx.abort());
    },
  ];

  const errorOf = (e, fallback) =>
    e || new DOMException(fallback || "transaction aborted", "AbortError");

  function request(r) {
    return new Promise((resolve, reject) => {
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(errorOf(r.error, "request failed"));
    });
  }

  // Resolves when the transaction commits, rejects with the error that aborted it.
  function finished(tx) {
    return new Promise((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onabort = () => reject(errorOf(tx.error));
      tx.onerror = (ev) => ev.preventDefault(); // let onabort report the cause once
    });
  }

  // Runs `issue` (which queues requests on `tx`); if it throws synchronously (a bad key,
  // an uncloneable value), aborts so that the requests already queued do not commit.
  function guarded(tx, done, issue) {
    try {
      issue();
    } catch (e) {
      done.catch(() => {});
      try {
        tx.abort();
      } catch (_) {
        // already finished
      }
      throw e;
    }
  }

  // A connection: the IDBDatabase plus change notices, so that changes() costs nothing until
  // another connection wrote. Connections in this realm are told synchronously (`live`);
  // other tabs and workers through a BroadcastChannel (a message arrives a task later).
  // Without BroadcastChannel (some embedders), `dirty` stays true and changes() queries.
  const live = new Map(); // database name -> Set of open handles in this realm

  function handle(name, db) {
    const h = { name, db, chan: null, dirty: true };
    if (typeof BroadcastChannel === "function") {
      h.chan = new BroadcastChannel("reasoningbank-idb:" + name);
      h.chan.onmessage = () => {
        h.dirty = true;
      };
      if (typeof h.chan.unref === "function") h.chan.unref(); // Node: don't hold the process
      h.dirty = false;
    }
    if (!live.has(name)) live.set(name, new Set());
    live.get(name).add(h);
    return h;
  }

  function announce(h, seq) {
    for (const other of live.get(h.name) || []) {
      if (other !== h) other.dirty = true;
    }
    if (h.chan) h.chan.postMessage(seq);
    return seq;
  }

  function open(name, blockedTimeoutMs) {
    const factory = globalThis.indexedDB;
    if (!factory) {
      return Promise.reject(new DOMException("indexedDB is not available here", "NotSupportedError"));
    }
    return new Promise((resolve, reject) => {
      let timer = null;
      const r = factory.open(name, SCHEMA);
      r.onupgradeneeded = (ev) => {
        for (let v = ev.oldVersion; v < SCHEMA; v++) MIGRATIONS[v](r.result, r.transaction);
      };
      r.onsuccess = () => {
        clearTimeout(timer);
        const db = r.result;
        // Another tab wants a newer schema: step aside instead of blocking it forever.
        db.onversionchange = () => db.close();
        resolve(handle(name, db));
      };
      r.onerror = () => {
        clearTimeout(timer);
        reject(errorOf(r.error, "open failed"));
      };
      r.onblocked = () => {
        timer = setTimeout(
          () => reject(new DOMException(`database ${name} is held open by another tab`, "BlockedError")),
          blockedTimeoutMs,
        );
      };
    });
  }

  // One chunk value from entries {id, s, n, cat, created, j, vec} (vec: Float32Array or none).
  function packChunk(entries) {
    const len = entries.length;
    const ids = new Array(len);
    const cats = new Array(len);
    const created = new Array(len);
    const dims = new Array(len);
    const ss = new Float64Array(len);
    const ns = new Float64Array(len);
    let total = 0;
    let s = 0;
    for (let i = 0; i < len; i++) {
      const e = entries[i];
      ids[i] = e.id;
      cats[i] = e.cat;
      created[i] = e.created;
      ss[i] = e.s;
      ns[i] = e.n;
      dims[i] = e.vec ? e.vec.length : 0;
      total += dims[i];
      if (e.s > s) s = e.s;
    }
    const vec = new Float32Array(total);
    let off = 0;
    for (const e of entries) {
      if (e.vec) {
        vec.set(e.vec, off);
        off += e.vec.length;
      }
    }
    return { s, ids, ss, ns, cats, created, j: entries.map((e) => e.j).join("\n"), dims, vec };
  }

  // A chunk of more than chunkMax records as chunks of chunkMax (bounded IndexedDB values).
  function split(ch) {
    const lines = ch.j.split("\n");
    const entries = [];
    let off = 0;
    for (let i = 0; i < ch.ids.length; i++) {
      const d = ch.dims[i];
      entries.push({
        id: ch.ids[i], s: ch.ss[i], n: ch.ns[i], cat: ch.cats[i], created: ch.created[i], j: lines[i],
        vec: d ? ch.vec.subarray(off, off + d) : null,
      });
      off += d;
    }
    const pieces = [];
    for (let i = 0; i < entries.length; i += COMPACT.chunkMax) {
      pieces.push(packChunk(entries.slice(i, i + COMPACT.chunkMax)));
    }
    return pieces;
  }

  // The live records among `chunks` (those written after `since`), in insertion order, and
  // the ids that `tombs` deleted for good. Each entry knows its chunk (for compaction).
  function liveRecords(chunks, tombs, since) {
    const best = new Map();
    for (const ch of chunks) {
      const lines = ch.j.split("\n");
      let off = 0;
      for (let i = 0; i < ch.ids.length; i++) {
        const d = ch.dims[i];
        if (ch.ss[i] > since) {
          const id = ch.ids[i];
          const known = best.get(id);
          if (!known || known.n < ch.ns[i]) {
            const vec = d ? ch.vec.subarray(off, off + d) : null;
            best.set(id, {
              id, s: ch.ss[i], n: ch.ns[i], cat: ch.cats[i], created: ch.created[i], j: lines[i], vec, ch,
            });
          }
        }
        off += d;
      }
    }
    const deleted = [];
    for (const t of tombs) {
      const e = best.get(t.id);
      if (e && e.s > t.s) continue; // written again after its deletion
      best.delete(t.id);
      deleted.push(t.id);
    }
    const entries = Array.from(best.values()).sort((a, b) => a.n - b.n);
    return { entries, deleted };
  }

  // Records as Python reads them: one JSON text (left out unless withJson), the vectors' ids
  // and lengths, one buffer.
  function pack(entries, withJson = true) {
    const parts = new Array(entries.length);
    const keys = [];
    const dims = [];
    let total = 0;
    entries.forEach((e, i) => {
      parts[i] = e.j;
      if (e.vec) {
        keys.push(e.id);
        dims.push(e.vec.length);
        total += e.vec.length;
      }
    });
    const flat = new Float32Array(total);
    let off = 0;
    for (const e of entries) {
      if (e.vec) {
        flat.set(e.vec, off);
        off += e.vec.length;
      }
    }
    const json = withJson ? "[" + parts.join(",") + "]" : undefined;
    return { json, vec: JSON.stringify([keys, dims]), bytes: new Uint8Array(flat.buffer) };
  }

  // Every chunk, every tombstone and the sequence number, in one read transaction.
  async function readAll(h) {
    const tx = h.db.transaction(["chunks", "tombstones", "sys"], "readonly");
    const [chunks, tombs, seq] = await Promise.all([
      request(tx.objectStore("chunks").getAll()),
      request(tx.objectStore("tombstones").getAll()),
      request(tx.objectStore("sys").get("seq")),
    ]);
    return { chunks, seq: seq || 0, ...liveRecords(chunks, tombs, 0) };
  }

  // The whole bank: as columns (what a bank indexes when it opens), and as records too when
  // `records` is true or a body was stored as an object (the columns then leave it out).
  async function load(h, records = false) {
    if (h.chan) h.dirty = false;
    const state = await readAll(h);
    h.compacting = compact(h, state);
    const columns = columnsOf(state.entries);
    return { ...pack(state.entries, records || columns.cols === undefined), ...columns, seq: state.seq };
  }

  // The records as the columns a bank indexes when it opens, each row parsed once here by
  // the engine's JSON.parse: cols, one JSON text of [ids, categories, strategies, created,
  // updated, terms]; bodies, the body texts joined by "\n" (JSON text never holds a raw
  // newline), so Python splits them instead of decoding them (both left out if a body was
  // stored as an object: then Python reads the rows as load() does); and per record the numbers the
  // bank reads out of each body (as reasoningbank/_table.py _known does): known, 5 columns
  // of n float64 (confidence, success and failure counts, average score, contradictions;
  // little-endian, as typed arrays are on every engine we run); flags, n bytes: has context.
  function columnsOf(entries) {
    const n = entries.length;
    const names = [new Array(n), new Array(n), new Array(n), new Array(n), new Array(n), new Array(n)];
    const texts = new Array(n);
    let asText = true;
    const cols = new Float64Array(5 * n);
    const flags = new Uint8Array(n);
    entries.forEach((e, i) => {
      const row = JSON.parse(e.j);
      for (let k = 0; k < 5; k++) names[k][i] = row[k];
      names[5][i] = row[6];
      const held = row[5];
      asText = asText && typeof held === "string";
      texts[i] = held;
      const body = typeof held === "string" ? JSON.parse(held) : held;
      const m = (body && body.metadata) || {};
      cols[i] = "confidence" in m ? Number(m.confidence) : 0.5;
      cols[n + i] = "success_count" in m ? Number(m.success_count) : 0;
      cols[2 * n + i] = "failure_count" in m ? Number(m.failure_count) : 0;
      cols[3 * n + i] = "avg_success_score" in m ? Number(m.avg_success_score) : 0;
      cols[4 * n + i] = "contradictions" in m ? Math.trunc(Number(m.contradictions)) : 0;
      flags[i] = truthy(body && body.context) ? 1 : 0;
    });
    return {
      cols: asText ? JSON.stringify(names) : undefined,
      bodies: asText ? texts.join("\n") : undefined,
      known: new Uint8Array(cols.buffer),
      flags,
    };
  }

  // Python's truth value of a JSON value.
  function truthy(v) {
    if (v == null) return false;
    if (Array.isArray(v)) return v.length > 0;
    if (typeof v === "object") return Object.keys(v).length > 0;
    if (typeof v === "string") return v.length > 0;
    return Boolean(v);
  }

  // The compaction rule above; resolves with the number of chunks rewritten (0: none, or
  // someone wrote since the load, or it failed: it is only an optimisation).
  function compact(h, { chunks, entries, seq }) {
    const liveIn = new Map();
    for (const e of entries) liveIn.set(e.ch, (liveIn.get(e.ch) || 0) + 1);
    const victims = new Set(chunks.filter((ch) => 2 * (liveIn.get(ch) || 0) < ch.ids.length));
    const small = chunks.filter((ch) => ch.ids.length < COMPACT.small);
    if (small.length >= COMPACT.smallCount) for (const ch of small) victims.add(ch);
    if (!victims.size) return Promise.resolve(0);
    const kept = entries.filter((e) => victims.has(e.ch));
    try {
      const tx = h.db.transaction(["chunks", "sys"], "readwrite");
      let rewritten = 0;
      const current = tx.objectStore("sys").get("seq");
      current.onsuccess = () => {
        if ((current.result || 0) !== seq) return;
        const store = tx.objectStore("chunks");
        for (const ch of victims) store.delete(ch.c);
        for (let i = 0; i < kept.length; i += COMPACT.chunkMax) {
          store.add(packChunk(kept.slice(i, i + COMPACT.chunkMax)));
        }
        rewritten = victims.size;
      };
      return finished(tx).then(() => rewritten, () => 0);
    } catch (_) {
      return Promise.resolve(0); // the connection is closing
    }
  }

  // blob: the records' JSON arrays joined by "\n" (json.dumps escapes newlines inside
  // strings, so "\n" cannot occur in one); dimsJson: JSON list of each record's vector
  // length; bytes: those vectors (float32) end to end; gone: JSON list of ids to delete.
  // One transaction holding one chunk (one per chunkMax records); resolves with its sequence
  // number.
  // expect (under the write lock): the sequence number the writer caught up to; if another
  // writer committed since (one that skipped the lock), nothing is written (ConflictError).
  // headsJson (optional): JSON [ids, categories, created] of the blob's records, what the
  // chunk indexes; given, the blob is not parsed here (it was most of a bulk put's time).
  async function put(h, blob, dimsJson, bytes, gone, expect, headsJson) {
    const ids = JSON.parse(gone);
    const rows = headsJson ? null : JSON.parse("[" + blob.replaceAll("\n", ",") + "]");
    const heads = rows ? [0, 1, 3].map((k) => rows.map((r) => r[k])) : JSON.parse(headsJson);
    const dims = heads[0].length ? JSON.parse(dimsJson) : [];
    const vec = bytes && bytes.length ? new Float32Array(bytes.slice().buffer) : new Float32Array(0);
    const tx = h.db.transaction(["chunks", "tombstones", "sys"], "readwrite");
    const done = finished(tx);
    const sys = tx.objectStore("sys");
    const [seq0, n0] = await Promise.all([request(sys.get("seq")), request(sys.get("n"))]);
    if (expect != null && (seq0 || 0) !== expect) {
      guarded(tx, done, () => {
        throw new DOMException(`sequence ${seq0} where ${expect} was expected`, "ConflictError");
      });
    }
    const seq = (seq0 || 0) + 1;
    let n = n0 || 0;
    guarded(tx, done, () => {
      const [ids_, cats, created] = heads;
      const len = ids_.length;
      const chunk = {
        s: seq, ids: ids_, ss: new Float64Array(len).fill(seq), ns: new Float64Array(len),
        cats, created, j: blob, dims, vec,
      };
      for (let i = 0; i < len; i++) {
        if (typeof ids_[i] !== "string") {
          throw new DOMException(`a record id must be a string, not ${JSON.stringify(ids_[i])}`, "DataError");
        }
        chunk.ns[i] = ++n;
      }
      const chunks = tx.objectStore("chunks");
      if (len > COMPACT.chunkMax) {
        for (const piece of split(chunk)) chunks.add(piece);
      } else if (len) {
        chunks.add(chunk);
      }
      const tombstones = tx.objectStore("tombstones");
      for (const id of ids) tombstones.put({ id, s: seq });
      sys.put(seq, "seq");
      sys.put(n, "n");
    });
    await done;
    return announce(h, seq);
  }

  async function get(h, id) {
    const { entries } = await readAll(h);
    const found = entries.filter((e) => e.id === id);
    return found.length ? pack(found) : undefined;
  }

  // Newest first; the same created_at: newest insertion first, as SQLite's
  // "created_at DESC, rowid DESC".
  async function byCategory(h, cat, limit) {
    const { entries } = await readAll(h);
    const rows = entries.filter((e) => e.cat === cat);
    rows.sort((a, b) => b.created - a.created || b.n - a.n);
    return pack(rows.slice(0, limit));
  }

  async function count(h) {
    return (await readAll(h)).entries.length;
  }

  async function getMeta(h, key) {
    const v = await request(h.db.transaction("meta", "readonly").objectStore("meta").get(key));
    return v === null ? undefined : v;
  }

  async function setMeta(h, key, value) {
    const tx = h.db.transaction("meta", "readwrite");
    const done = finished(tx);
    tx.objectStore("meta").put(value, key);
    await done;
  }

  // Synchronous: has anyone announced a commit since the last load()/changes()?
  function isDirty(h) {
    return h.dirty;
  }

  // Everything written by transactions after `since`: live records and deleted ids.
  async function changes(h, since) {
    if (h.chan) h.dirty = false;
    const tx = h.db.transaction(["chunks", "tombstones", "sys"], "readonly");
    const after = IDBKeyRange.lowerBound(since, true);
    const [chunks, tombs, seq] = await Promise.all([
      request(tx.objectStore("chunks").index("s").getAll(after)),
      request(tx.objectStore("tombstones").index("s").getAll(after)),
      request(tx.objectStore("sys").get("seq")),
    ]);
    const { entries, deleted } = liveRecords(chunks, tombs, since);
    return { ...pack(entries), deleted: JSON.stringify(deleted), seq: seq || 0 };
  }

  async function currentSeq(h) {
    const v = await request(h.db.transaction("sys", "readonly").objectStore("sys").get("seq"));
    return v || 0;
  }

  // The bank's write lock across tabs and workers of this origin (Web Locks: exclusive per
  // name, released by the browser if the holding tab closes or crashes). `granted` resolves
  // with {release, seq}: the function that releases the lock and the bank's sequence number
  // once it is held (in the same hop: a single tab learns that nothing changed for free).
  // `drop()` is for a caller that stopped waiting: the lock is released as soon as granted.
  // (Python cannot pass `granted` back for that: awaiting it made it a cancelled future.)
  const hasLocks = typeof navigator !== "undefined" && !!navigator.locks;

  function requestLock(h) {
    const granted = new Promise((resolve, reject) => {
      const hold = () =>
        new Promise((release) => {
          currentSeq(h).then(
            (seq) => resolve({ release, seq }),
            (e) => {
              release();
              reject(e);
            },
          );
        });
      navigator.locks.request("reasoningbank:" + h.name, { mode: "exclusive" }, hold).catch(reject);
    });
    return { granted, drop: () => granted.then((held) => held.release(), () => {}) };
  }

  function close(h) {
    const peers = live.get(h.name);
    if (peers) peers.delete(h);
    if (h.chan) h.chan.close();
    h.db.close();
  }

  function deleteDatabase(name) {
    return new Promise((resolve, reject) => {
      const r = globalThis.indexedDB.deleteDatabase(name);
      r.onsuccess = () => resolve(true);
      r.onerror = () => reject(errorOf(r.error, "delete failed"));
      r.onblocked = () => resolve(false);
    });
  }

  // Reading a bank ahead: the page starts open() and load() of the bank it is about to open
  // while Python is still starting (web/boot.js), and the store of that name adopts both,
  // once. Why: reading IndexedDB and parsing the rows in JS need no Python, so they overlap
  // the interpreter's start instead of following it. The payload is what load() would
  // return at that moment; whatever is committed after it reaches the store through
  // changes(), as after any load().
  const ahead = new Map(); // database name -> Promise of {h, payload}

  // Resolves (true if read, false if it failed) once the read is done.
  function readAhead(name, blockedTimeoutMs) {
    if (ahead.has(name)) return ahead.get(name).then(() => true, () => false);
    const read = open(name, blockedTimeoutMs).then(async (h) => {
      try {
        return { h, payload: await load(h) };
      } catch (e) {
        close(h);
        throw e;
      }
    });
    ahead.set(name, read);
    return read.then(() => true, () => false); // on failure the store opens by itself
  }

  // The read-ahead {h, payload} of `name` (taken: a second store opens by itself), or
  // undefined (Python's None).
  async function adopt(name) {
    const read = ahead.get(name);
    ahead.delete(name);
    return read ? read.catch(() => undefined) : undefined;
  }

  // A read-ahead nobody adopted (the bank's open failed first) lets go of its database.
  function dropAhead(name) {
    const read = ahead.get(name);
    ahead.delete(name);
    if (read) read.then((got) => close(got.h), () => {});
  }

  return {
    SCHEMA, open, load, put, get, byCategory, count, getMeta, setMeta, isDirty, changes, currentSeq,
    close, deleteDatabase, hasLocks, requestLock, readAhead, adopt, dropAhead, COMPACT,
    // Tests: the store's chunks as [key, records in it], and the last compaction's outcome.
    layout: async (h) => (await request(h.db.transaction("chunks").objectStore("chunks").getAll()))
      .map((ch) => [ch.c, ch.ids.length]),
    compacted: (h) => h.compacting || Promise.resolve(0),
  };
})()
