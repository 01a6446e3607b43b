// IndexedDB glue for storage_idb (evaluated once by Pyodide's run_js; the value is the API).
//
// Why JS and not Python-over-FFI: every IDB request needs onsuccess/onerror callbacks and
// must be issued while its transaction is active. Doing that from Python would cost one FFI
// crossing per request per record; here a whole batch is one call, and load() hands Python
// one JSON string plus one byte buffer for 10,000 records.
//
// Layout (schema 2):
//   records    keyPath "id": {id, cat, created, updated, n, s, j}
//              n = insertion number (replacing a record gives it a new one, like SQLite's
//              INSERT OR REPLACE), s = sequence number of the writing transaction,
//              j = the record as a JSON array [id, cat, strategy, created, updated, body, terms]
//              kept as a string so load() never re-serialises it.
//              indexes: n (load order), s (changes), cat_created ([cat, created]), created
//   vectors    out-of-line key = record id, value = Float32Array (4 bytes per value)
//   tombstones keyPath "id": {id, s}, index s: deletions, for other tabs' changes()
//   meta       out-of-line key: the user's get_meta/set_meta strings
//   sys        out-of-line key: counters "seq" and "n"
//   snap       (schema 2) key "load": every record's id and JSON string in load order plus
//              all vectors, as of transaction "seq". Opening reads this one value and the
//              few records written since (index s, tombstones) instead of 10,000 objects,
//              then rewrites it in the background when it was stale.
(() => {
  const SCHEMA = 2;
  let SNAPSHOT_MIN_RECORDS = 500; // below this a full load is already fast (tests lower it)
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

  // Float32 vectors end to end in one byte buffer, and each one's length.
  function flatten(vals) {
    let total = 0;
    for (const v of vals) total += v.length;
    const flat = new Float32Array(total);
    const dims = new Array(vals.length);
    let off = 0;
    for (let i = 0; i < vals.length; i++) {
      flat.set(vals[i], off);
      off += vals[i].length;
      dims[i] = vals[i].length;
    }
    return { dims, bytes: new Uint8Array(flat.buffer) };
  }

  function concatVectors(keys, vals) {
    const { dims, bytes } = flatten(vals);
    return { vec: JSON.stringify([keys, dims]), bytes };
  }

  function joinRows(rows) {
    const parts = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) parts[i] = rows[i].j;
    return "[" + parts.join(",") + "]";
  }

  async function load(h) {
    if (h.chan) h.dirty = false;
    const quick = h.db.transaction(["snap", "sys"], "readonly");
    const [snap, current] = await Promise.all([
      request(quick.objectStore("snap").get("load")),
      request(quick.objectStore("sys").get("seq")),
    ]);
    let state;
    if (snap && snap.seq === (current || 0)) {
      state = snap;
    } else if (snap) {
      state = await applyChanges(h, snap);
    } else {
      state = await fullLoad(h);
    }
    if (state !== snap && state.ids.length >= SNAPSHOT_MIN_RECORDS) saveSnapshot(h, state);
    return {
      json: "[" + state.rows.join(",") + "]",
      seq: state.seq,
      vec: JSON.stringify([state.vkeys, state.vdims]),
      bytes: state.vbytes,
      snapshot: state === snap ? "current" : snap ? "updated" : "none",
    };
  }

  async function fullLoad(h) {
    const tx = h.db.transaction(["records", "vectors", "sys"], "readonly");
    const done = finished(tx);
    const vectors = tx.objectStore("vectors");
    const [rows, keys, vals, seq] = await Promise.all([
      request(tx.objectStore("records").index("n").getAll()),
      request(vectors.getAllKeys()),
      request(vectors.getAll()),
      request(tx.objectStore("sys").get("seq")),
    ]);
    await done;
    return packState(seq || 0, rows.map((r) => r.id), rows.map((r) => r.j), keys, vals);
  }

  function packState(seq, ids, rows, keys, vals) {
    const { dims, bytes } = flatten(vals);
    return { seq, ids, rows, vkeys: keys, vdims: dims, vbytes: bytes };
  }

  // The snapshot plus what committed after it: drop rewritten and deleted records, append
  // the rewritten ones in insertion order (a rewrite takes a new, larger n).
  async function applyChanges(h, snap) {
    const tx = h.db.transaction(["records", "vectors", "tombstones", "sys"], "readonly");
    const after = IDBKeyRange.lowerBound(snap.seq, true);
    const vectors = tx.objectStore("vectors");
    const [rows, gone, seq] = await Promise.all([
      request(tx.objectStore("records").index("s").getAll(after)),
      request(tx.objectStore("tombstones").index("s").getAll(after)),
      request(tx.objectStore("sys").get("seq")),
    ]);
    rows.sort((a, b) => a.n - b.n);
    const newVecs = await Promise.all(rows.map((r) => request(vectors.get(r.id))));
    const drop = new Set(gone.map((t) => t.id));
    for (const r of rows) drop.add(r.id);
    const ids = [];
    const js = [];
    for (let i = 0; i < snap.ids.length; i++) {
      if (!drop.has(snap.ids[i])) {
        ids.push(snap.ids[i]);
        js.push(snap.rows[i]);
      }
    }
    for (const r of rows) {
      ids.push(r.id);
      js.push(r.j);
    }
    const old = new Float32Array(snap.vbytes.slice().buffer);
    const keys = [];
    const vals = [];
    let off = 0;
    snap.vkeys.forEach((k, i) => {
      const d = snap.vdims[i];
      if (!drop.has(k)) {
        keys.push(k);
        vals.push(old.subarray(off, off + d));
      }
      off += d;
    });
    rows.forEach((r, i) => {
      if (newVecs[i]) {
        keys.push(r.id);
        vals.push(newVecs[i]);
      }
    });
    return packState(seq || 0, ids, js, keys, vals);
  }

  // Best effort, in the background: a failure (quota) only means the next open does more work.
  function saveSnapshot(h, state) {
    try {
      const tx = h.db.transaction(["snap", "sys"], "readwrite");
      const seqReq = tx.objectStore("sys").get("seq");
      seqReq.onsuccess = () => {
        if ((seqReq.result || 0) === state.seq) tx.objectStore("snap").put(state, "load");
      };
      finished(tx).catch(() => {});
    } catch (_) {
      // the connection is closing: skip
    }
  }

  // rows: JSON [[id, cat, created, updated, dim], ...]; blob: the records' JSON arrays joined
  // by "\n" (json.dumps escapes newlines inside strings, so "\n" cannot occur in one);
  // bytes: the float32 vectors of the rows with dim > 0, concatenated; gone: JSON list of
  // ids to delete. All of it in one transaction; resolves with its sequence number.
  // expect (under the write lock): the sequence number the writer caught up to; if another
  // writer committed since (one that skipped the lock), nothing is written (ConflictError).
  async function put(h, rowsJson, blob, bytes, gone, expect) {
    const rows = JSON.parse(rowsJson);
    const ids = JSON.parse(gone);
    const parts = rows.length ? blob.split("\n") : [];
    const flat = bytes && bytes.length ? new Float32Array(bytes.slice().buffer) : new Float32Array(0);
    const tx = h.db.transaction(["records", "vectors", "sys", "tombstones"], "readwrite");
    const done = finished(tx);
    const sys = tx.objectStore("sys");
    const records = tx.objectStore("records");
    const vectors = tx.objectStore("vectors");
    const tombstones = tx.objectStore("tombstones");
    // Deleting what is not there still costs a request per row (half a bulk store's time):
    // skip vector deletes when no vector is stored, tombstone deletes for ids not tombstoned.
    const [seq0, n0, vectorCount, tombCount] = await Promise.all([
      request(sys.get("seq")), request(sys.get("n")), request(vectors.count()), request(tombstones.count()),
    ]);
    if (expect != null && (seq0 || 0) !== expect) {
      guarded(tx, done, () => {
        throw new DOMException(`sequence ${seq0} where ${expect} was expected`, "ConflictError");
      });
    }
    const seq = (seq0 || 0) + 1;
    let n = n0 || 0;
    let tombed = null; // null: delete every row's tombstone
    if (tombCount === 0) tombed = new Set();
    else if (tombCount <= 4096) tombed = new Set(await request(tombstones.getAllKeys()));
    let off = 0;
    guarded(tx, done, () => {
      for (let i = 0; i < rows.length; i++) {
        const [id, cat, created, updated, dim] = rows[i];
        records.put({ id, cat, created, updated, n: ++n, s: seq, j: parts[i] });
        if (dim > 0) {
          vectors.put(flat.slice(off, off + dim), id);
          off += dim;
        } else if (vectorCount > 0) {
          vectors.delete(id);
        }
        if (tombed === null || tombed.has(id)) tombstones.delete(id);
      }
      for (const id of ids) {
        records.delete(id);
        vectors.delete(id);
        tombstones.put({ id, s: seq });
      }
      sys.put(seq, "seq");
      sys.put(n, "n");
    });
    await done;
    return announce(h, seq);
  }

  // Records (with their vectors) as load() returns them; keys of absent ids are skipped.
  async function collect(tx, rows) {
    const vectors = tx.objectStore("vectors");
    const vals = await Promise.all(rows.map((r) => request(vectors.get(r.id))));
    const keys = [];
    const present = [];
    rows.forEach((r, i) => {
      if (vals[i]) {
        keys.push(r.id);
        present.push(vals[i]);
      }
    });
    return { json: joinRows(rows), ...concatVectors(keys, present) };
  }

  async function get(h, id) {
    const tx = h.db.transaction(["records", "vectors"], "readonly");
    const row = await request(tx.objectStore("records").get(id));
    return row ? collect(tx, [row]) : undefined;
  }

  function byCategory(h, cat, limit) {
    const tx = h.db.transaction(["records", "vectors"], "readonly");
    const index = tx.objectStore("records").index("cat_created");
    const range = IDBKeyRange.bound([cat, -Infinity], [cat, Infinity]);
    return new Promise((resolve, reject) => {
      const rows = [];
      const cur = index.openCursor(range, "prev");
      cur.onerror = () => reject(errorOf(cur.error, "cursor failed"));
      cur.onsuccess = () => {
        const c = cur.result;
        if (c && rows.length < limit) {
          rows.push(c.value);
          c.continue();
        } else {
          // Same created_at: newest insertion first, as SQLite's "created_at DESC, rowid DESC".
          rows.sort((a, b) => b.created - a.created || b.n - a.n);
          collect(tx, rows).then(resolve, reject);
        }
      };
    });
  }

  async function count(h) {
    return request(h.db.transaction("records", "readonly").objectStore("records").count());
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

  // Everything written by transactions after `since`: upserted records and deleted ids.
  // Synchronous: has anyone announced a commit since the last load()/changes()?
  function isDirty(h) {
    return h.dirty;
  }

  async function changes(h, since) {
    if (h.chan) h.dirty = false;
    const tx = h.db.transaction(["records", "vectors", "tombstones", "sys"], "readonly");
    const after = IDBKeyRange.lowerBound(since, true);
    const [rows, gone, seq] = await Promise.all([
      request(tx.objectStore("records").index("s").getAll(after)),
      request(tx.objectStore("tombstones").index("s").getAll(after)),
      request(tx.objectStore("sys").get("seq")),
    ]);
    rows.sort((a, b) => a.n - b.n);
    const out = await collect(tx, rows);
    out.deleted = JSON.stringify(gone.map((t) => t.id));
    out.seq = seq || 0;
    return out;
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

  return {
    SCHEMA, open, load, put, setSnapshotMin: (n) => { SNAPSHOT_MIN_RECORDS = n; }, get, byCategory, count, getMeta, setMeta, isDirty, changes,
    currentSeq, close, deleteDatabase, hasLocks, requestLock,
  };
})()
