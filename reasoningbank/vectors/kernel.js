// Dense vector kernel for Pyodide (evaluated once by run_js; the value is the API).
//
// Rows live in one Float32Array (capacity x dim) on the JS side; Python sends new rows in
// batches and a query as one buffer, so a search is one FFI call whatever the bank size.
// Arithmetic: rows and query are float32 (as numpy stores them); dot products and norms are
// accumulated in float64, then cos = dot / (|row| |q|). numpy's float32 sgemv agrees to ~1e-7.
(() => {
  class Dense {
    constructor(dim) {
      this.dim = dim;
      this.cap = 0;
      this.used = 0; // 1 + highest slot ever stored
      this.m = new Float32Array(0);
      this.norms = new Float64Array(0); // 0 marks an empty slot
    }

    grow(needed) {
      if (needed <= this.cap) return;
      const cap = Math.max(needed, 2 * this.cap, 64);
      const m = new Float32Array(cap * this.dim);
      m.set(this.m);
      const norms = new Float64Array(cap);
      norms.set(this.norms);
      this.m = m;
      this.norms = norms;
      this.cap = cap;
    }

    // slots: Int32 bytes; rows: Float32 bytes (slots.length x dim), both little-endian.
    add(slotBytes, rowBytes) {
      const slots = new Int32Array(slotBytes.slice().buffer);
      const rows = new Float32Array(rowBytes.slice().buffer);
      const dim = this.dim;
      let max = 0;
      for (const s of slots) max = Math.max(max, s + 1);
      this.grow(max);
      for (let i = 0; i < slots.length; i++) {
        const s = slots[i];
        const row = rows.subarray(i * dim, (i + 1) * dim);
        this.m.set(row, s * dim);
        let n = 0;
        for (let j = 0; j < dim; j++) n += row[j] * row[j];
        this.norms[s] = Math.sqrt(n);
      }
      this.used = Math.max(this.used, max);
    }

    remove(slot) {
      if (slot < this.used) {
        this.norms[slot] = 0;
        this.m.fill(0, slot * this.dim, (slot + 1) * this.dim);
      }
    }

    // Cosine of q with every stored row: Float64Array(used), NaN where a slot is empty.
    sims(qBytes) {
      const q = new Float32Array(qBytes.slice().buffer);
      const dim = this.dim;
      const m = this.m;
      const norms = this.norms;
      let qn = 0;
      for (let j = 0; j < dim; j++) qn += q[j] * q[j];
      qn = Math.sqrt(qn);
      const out = new Float64Array(this.used);
      for (let s = 0; s < this.used; s++) {
        const n = norms[s];
        if (n === 0) {
          out[s] = NaN;
          continue;
        }
        let dot = 0;
        let o = s * dim;
        for (let j = 0; j < dim; j++) dot += m[o + j] * q[j];
        out[s] = dot / (n * qn);
      }
      return out;
    }

    simsBytes(qBytes) {
      return new Uint8Array(this.sims(qBytes).buffer);
    }

    // Cosines of the rows in slotBytes (Int32), as Float64 bytes; NaN: empty slot.
    simsForBytes(qBytes, slotBytes) {
      const all = this.sims(qBytes);
      const slots = new Int32Array(slotBytes.slice().buffer);
      const out = new Float64Array(slots.length);
      for (let i = 0; i < slots.length; i++) out[i] = slots[i] < all.length ? all[slots[i]] : NaN;
      return new Uint8Array(out.buffer);
    }

    // The k best [slot, cosine] pairs, best first, ties by lower slot, as JSON.
    topK(qBytes, k) {
      const sims = this.sims(qBytes);
      const best = []; // kept sorted, at most k
      for (let s = 0; s < sims.length; s++) {
        const v = sims[s];
        if (Number.isNaN(v)) continue;
        if (best.length === k && v <= best[k - 1][1]) continue;
        let i = best.length;
        while (i > 0 && best[i - 1][1] < v) i--;
        best.splice(i, 0, [s, v]);
        if (best.length > k) best.pop();
      }
      return JSON.stringify(best);
    }
  }

  return { create: (dim) => new Dense(dim) };
})()
