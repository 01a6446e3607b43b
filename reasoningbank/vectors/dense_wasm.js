// Dense vector kernel on WebAssembly SIMD (dense.wat), for Pyodide. Evaluated once by
// run_js; the value is a function that takes dense.wasm's bytes and returns the API (the
// same shape as kernel.js's), or undefined (None in Python; null would be jsnull) when this
// engine cannot run the module (no WebAssembly, or no SIMD: WebAssembly.validate says so)
// and kernel.js must do.
//
// Every returned cosine is computed as kernel.js computes it (float64, in order, from the
// same float32 values), so results are the same. The SIMD scans only decide which rows need
// that arithmetic:
//   top-k   a scan estimates every row's cosine (int8 rows . int16 query, or float32 sums)
//           within a proven bound e. Let K be the k-th largest estimate: k rows are exactly
//           >= K - e, so the exact k-th best is, and every row of the exact top-k estimates
//           >= K - 2e. Those candidates, usually k plus a few, are rescored exactly. When
//           rows are so alike that too many remain, the next finer scan decides (int8 ->
//           float32 -> float64), so the answer is exact whatever the data.
//   scores  every row in float64 (float32 products are exact in float64; only the summation
//           order differs from kernel.js: ~1e-16).
//
// Memory (one instance per index, grown by doubling): the query at 0 (float32, float64 and
// int16 copies), 256 bytes of scratch, then capacity x dp float32 rows, the int8 rows (int8 mode), float32
// weights per row (1 / |row|; int8 mode: also scale / |row|), and the output. dp = dim
// rounded up to 16 (zero padding). A stored row is scaled by a power of two that brings
// its largest |value| into [0.5, 2]: exact, no change to cosines, and it keeps float32
// products and sums far from overflow and underflow.
(wasmBytes) => {
  if (typeof WebAssembly !== "object" || !WebAssembly.validate(wasmBytes)) return undefined;
  let module;
  try {
    module = new WebAssembly.Module(wasmBytes); // ~1.5 KB: synchronous compile is allowed
  } catch {
    return undefined; // e.g. a Content-Security-Policy without 'wasm-unsafe-eval'
  }
  const U = 2 ** -24; // float32 unit roundoff
  const PAGE = 65536;

  const pow2 = (m) => 2 ** -Math.floor(Math.log2(m)); // m > 0: m * pow2(m) in [0.5, 2]
  // The int16 query range that keeps every int32 partial sum of 127 * q * dp below 2^31.
  const int16Max = (dp) => Math.min(32767, Math.floor((2 ** 31 - 1) / (127 * dp)));

  class WasmDense {
    constructor(dim, int8) {
      this.dim = dim;
      this.dp = Math.ceil(dim / 16) * 16;
      // Past ~130k dims the int16 query range gets too coarse to prune: scan float32.
      this.int8 = Boolean(int8) && int16Max(this.dp) >= 127;
      this.mode = this.int8 ? "int8" : "f32";
      this.ex = new WebAssembly.Instance(module).exports;
      this.cap = 0;
      this.used = 0; // 1 + highest slot ever stored
      this.norms = new Float64Array(0); // |scaled row| by slot; 0 marks an empty slot
      // int8: a scaled row is scale * v + d with |d| <= err; the largest err / |row| and
      // scale |v|_1 / |row| seen so far bound every row's quantization error.
      this.maxErr = 0;
      this.maxL1 = 0;
      this.lastCandidates = 0;
      const dp = this.dp;
      this.qF32 = 0;
      this.qF64 = 4 * dp;
      this.qI16 = 12 * dp;
      this.top = 14 * dp; // kth's scratch: 64 float32
      this.rows = this.top + 256;
      this.place(0);
      this.views();
    }

    place(cap) {
      this.rows8 = this.rows + cap * this.dp * 4;
      this.w = this.rows8 + (this.int8 ? cap * this.dp : 0); // float32 scan weights
      this.w8 = this.w + cap * 4; // int8 scan weights (int8 mode)
      this.out = this.w8 + (this.int8 ? cap * 4 : 0);
      this.end = this.out + cap * 8;
    }

    views() {
      const buf = this.ex.memory.buffer;
      if (buf === this.buf) return;
      this.buf = buf;
      this.u8 = new Uint8Array(buf);
      this.i8 = new Int8Array(buf);
      this.i16 = new Int16Array(buf);
      this.i32 = new Int32Array(buf);
      this.f32 = new Float32Array(buf);
      this.f64 = new Float64Array(buf);
    }

    grow(needed) {
      if (needed <= this.cap) return;
      const old = { cap: this.cap, rows8: this.rows8 };
      const weights = this.f32.slice(this.w >> 2, (this.w >> 2) + old.cap);
      const weights8 = this.f32.slice(this.w8 >> 2, (this.w8 >> 2) + (this.int8 ? old.cap : 0));
      const cap = Math.max(needed, 2 * this.cap, 64);
      const dp = this.dp;
      this.place(cap);
      const pages = Math.ceil(this.end / PAGE) - this.ex.memory.buffer.byteLength / PAGE;
      if (pages > 0) this.ex.memory.grow(pages);
      this.views(); // growing detaches the old buffer
      // The int8 rows move up (copyWithin is a memmove), then the space the old blocks
      // leave becomes new zero rows; the weights are put back, NaN for the new slots.
      if (this.int8) this.u8.copyWithin(this.rows8, old.rows8, old.rows8 + old.cap * dp);
      this.u8.fill(0, this.rows + old.cap * dp * 4, this.rows8);
      if (this.int8) this.u8.fill(0, this.rows8 + old.cap * dp, this.w);
      this.f32.set(weights, this.w >> 2);
      this.f32.fill(NaN, (this.w >> 2) + old.cap, (this.w >> 2) + cap);
      if (this.int8) {
        this.f32.set(weights8, this.w8 >> 2);
        this.f32.fill(NaN, (this.w8 >> 2) + old.cap, (this.w8 >> 2) + cap);
      }
      const norms = new Float64Array(cap);
      norms.set(this.norms);
      this.norms = norms;
      this.cap = cap;
    }

    // slots: Int32 bytes; rows: Float32 bytes (slots.length x dim), both little-endian.
    add(slotBytes, rowBytes) {
      const slots = new Int32Array(slotBytes.slice().buffer);
      const rows = new Float32Array(rowBytes.slice().buffer);
      let max = 0;
      for (const s of slots) max = Math.max(max, s + 1);
      this.grow(max);
      const { dim, dp, f32 } = this;
      for (let i = 0; i < slots.length; i++) {
        const s = slots[i];
        const row = rows.subarray(i * dim, (i + 1) * dim);
        let m = 0;
        for (let j = 0; j < dim; j++) m = Math.max(m, Math.abs(row[j]));
        const p = m > 0 ? pow2(m) : 1;
        const at = (this.rows >> 2) + s * dp;
        let n = 0;
        for (let j = 0; j < dim; j++) {
          f32[at + j] = row[j] * p;
          n += f32[at + j] * f32[at + j];
        }
        f32.fill(0, at + dim, at + dp);
        const norm = Math.sqrt(n);
        this.norms[s] = norm;
        f32[(this.w >> 2) + s] = 1 / norm;
        if (this.int8) f32[(this.w8 >> 2) + s] = this.quantize(s, at, norm);
      }
      this.used = Math.max(this.used, max);
    }

    // Writes slot s's int8 row; returns its weight (scale / |row|).
    quantize(s, at, norm) {
      const { dim, dp, f32, i8 } = this;
      let m = 0;
      for (let j = 0; j < dim; j++) m = Math.max(m, Math.abs(f32[at + j]));
      const scale = m / 127;
      const to = this.rows8 + s * dp;
      let err = 0;
      let l1 = 0;
      for (let j = 0; j < dim; j++) {
        const x = f32[at + j];
        const v = scale > 0 ? Math.max(-127, Math.min(127, Math.round(x / scale))) : 0;
        i8[to + j] = v;
        err = Math.max(err, Math.abs(x - scale * v));
        l1 += Math.abs(v);
      }
      i8.fill(0, to + dim, to + dp);
      this.maxErr = Math.max(this.maxErr, err / norm);
      this.maxL1 = Math.max(this.maxL1, (scale * l1) / norm);
      return scale / norm;
    }

    remove(slot) {
      if (slot >= this.used) return;
      this.norms[slot] = 0;
      this.f32[(this.w >> 2) + slot] = NaN;
      if (this.int8) this.f32[(this.w8 >> 2) + slot] = NaN;
      const at = (this.rows >> 2) + slot * this.dp;
      this.f32.fill(0, at, at + this.dp);
      const to = this.rows8 + slot * this.dp;
      if (this.int8) this.i8.fill(0, to, to + this.dp);
    }

    // Writes the query's copies into memory; returns what the scans and rescoring need.
    query(qBytes) {
      const q = new Float32Array(qBytes.slice().buffer);
      const { dim, dp, f32, f64, i16 } = this;
      let m = 0;
      let qn = 0;
      for (let j = 0; j < dim; j++) {
        m = Math.max(m, Math.abs(q[j]));
        qn += q[j] * q[j];
      }
      const p = m > 0 ? pow2(m) : 1;
      const a = this.qF32 >> 2;
      const b = this.qF64 >> 3;
      let sn = 0;
      let sl1 = 0;
      for (let j = 0; j < dim; j++) {
        f32[a + j] = q[j] * p;
        const x = f32[a + j];
        sn += x * x;
        sl1 += Math.abs(x);
        f64[b + j] = q[j];
      }
      f32.fill(0, a + dim, a + dp);
      f64.fill(0, b + dim, b + dp);
      const info = { q, qn: Math.sqrt(qn), sn: Math.sqrt(sn), sl1, err: 0, scale: 0 };
      if (this.int8) {
        const c = this.qI16 >> 1;
        const scale = (m * p) / int16Max(dp);
        let err = 0;
        for (let j = 0; j < dim; j++) {
          const x = f32[a + j];
          const v = scale > 0 ? Math.round(x / scale) : 0;
          i16[c + j] = v;
          err = Math.max(err, Math.abs(x - scale * v));
        }
        i16.fill(0, c + dim, c + dp);
        info.scale = scale;
        info.err = err;
      }
      return info;
    }

    // Exact cosine of stored row s (kernel.js's arithmetic: float64, in order).
    exact(s, info) {
      const { dim, f32 } = this;
      const q = info.q;
      const at = (this.rows >> 2) + s * this.dp;
      let dot = 0;
      for (let j = 0; j < dim; j++) dot += f32[at + j] * q[j];
      return dot / (this.norms[s] * info.qn);
    }

    // Cosine of the query with every stored row, in float64 (~1e-16 from exact): a
    // Float64Array(used) in this instance's memory, NaN where a slot is empty.
    sims(info) {
      const n = this.used;
      this.ex.dots_f64(this.qF64, this.rows, this.dp, n, this.out);
      this.views();
      const out = this.f64.subarray(this.out >> 3, (this.out >> 3) + n);
      const norms = this.norms;
      for (let s = 0; s < n; s++) out[s] = norms[s] > 0 ? out[s] / (norms[s] * info.qn) : NaN;
      return out;
    }

    simsBytes(qBytes) {
      return new Uint8Array(this.sims(this.query(qBytes)).slice().buffer);
    }

    // Exact cosines of the rows in slotBytes (Int32), as Float64 bytes; NaN: empty slot.
    simsForBytes(qBytes, slotBytes) {
      const info = this.query(qBytes);
      const slots = new Int32Array(slotBytes.slice().buffer);
      const out = new Float64Array(slots.length);
      for (let i = 0; i < slots.length; i++) {
        const s = slots[i];
        out[i] = s < this.used && this.norms[s] > 0 ? this.exact(s, info) : NaN;
      }
      return new Uint8Array(out.buffer);
    }

    // The k best [slot, cosine] pairs, best first, ties by lower slot, as JSON.
    // Scans from coarse to fine until few enough candidates are left: rescoring costs ~dim
    // per candidate, the next scan ~n * dim / 32, so past n / 32 candidates (or 4k) the next
    // scan is cheaper. Near-duplicate rows defeat int8 (its bound is ~1e-2) and then float32
    // (~dp 2^-24); the float64 scan separates all but exact ties.
    topK(qBytes, k) {
      const info = this.query(qBytes);
      const n = this.used;
      if (!(info.sn > 0 && Number.isFinite(info.sn))) return "[]"; // NaN/inf query: no cosines
      const scans = this.int8 ? ["scanI8", "scanF32", "scanF64"] : ["scanF32", "scanF64"];
      const limit = Math.min(n, Math.max(4 * k, n >> 5));
      for (let i = 0; ; i++) {
        const last = i === scans.length - 1;
        const cands = this[scans[i]](info, k, last ? n : limit);
        if (cands === null) continue; // more than the limit
        this.lastCandidates = cands.length;
        this.lastScan = scans[i];
        const best = Array.from(cands, (s) => [s, this.exact(s, info)]);
        best.sort((x, y) => y[1] - x[1] || x[0] - y[0]);
        return JSON.stringify(best.slice(0, k));
      }
    }

    // Each scan estimates every row's cosine as c * output (NaN: empty slot) within a bound
    // e, and returns the candidates (slots whose output is >= K - 2e / c, K the k-th
    // largest output), or null when there are more than max.
    slack() {
      // Outside the scan itself: float64 rounding in the estimate and in the exact cosine
      // (< 2dp + 16 ulps) and float32 underflow (< dp 2^-140, as |values| are in [0.5, 2]).
      return (2 * this.dp + 16) * 2 ** -52 + this.dp * 2 ** -140;
    }

    scanI8(info, k, max) {
      this.ex.dots_i8(this.qI16, this.rows8, this.dp, this.used, this.out, this.w8);
      // The int32 sum v . w is exact; row . q differs from scale * qscale * (v . w) by at
      // most err |q|_1 + qerr * scale |v|_1. Then two float32 roundings (weight, product)
      // and the int32 -> float32 conversion: 3u of the estimate, whose size is <= 1 + e.
      // err and qerr are measured in float64 (each within 2^-52 of the truth): dp 2^-46.
      const c = info.scale / info.sn;
      const q = (this.maxErr * info.sl1 + this.maxL1 * info.err) / info.sn;
      const e = q * (1 + 2 ** -20) + 3.01 * U * (1 + q) + this.slack() + this.dp * 2 ** -46;
      return this.pick(k, (2 * e) / c, max);
    }

    scanF32(info, k, max) {
      const dp = this.dp;
      this.ex.dots_f32(this.qF32, this.rows, dp, this.used, this.out, this.w);
      // A float32 dot product of dp terms, in any summation order, errs by at most
      // gamma_dp |r|.|q| <= gamma_dp |r| |q| (Cauchy-Schwarz), gamma_dp = dp u / (1 - dp u);
      // then the weight and the product are rounded to float32: 3u more.
      const c = 1 / info.sn;
      const e = dp * U < 0.5 ? (dp * U) / (1 - dp * U) + 3.01 * U + this.slack() : Infinity;
      return this.pick(k, (2 * e) / c, max);
    }

    // Candidates over the float32 output at this.out, in WebAssembly (kth, select). The
    // floor goes to WebAssembly rounded to float32: rounded up, it is still <= every float32
    // output that reaches the exact floor, so no candidate is lost.
    pick(k, margin, max) {
      const n = this.used;
      this.views();
      const K =
        k <= 64
          ? this.ex.kth(this.out, n, k, this.top)
          : kth(this.f32.subarray(this.out >> 2, (this.out >> 2) + n), n, k);
      const at = this.out + this.cap * 4; // the output's second half: room for n indexes
      const count = this.ex.select(this.out, n, K - margin, at, max);
      return count > max ? null : this.i32.slice(at >> 2, (at >> 2) + count);
    }

    scanF64(info, k, max) {
      const est = this.sims(info);
      const floor = kth(est, est.length, k) - 4 * this.slack();
      const cands = [];
      for (let s = 0; s < est.length; s++) {
        if (!(est[s] >= floor)) continue; // NaN: empty slot
        if (cands.length === max) return null;
        cands.push(s);
      }
      return cands;
    }
  }

  // The k-th largest of v[0..n), NaN skipped; -Infinity when there are fewer than k.
  function kth(v, n, k) {
    if (k > 64) {
      const all = v.subarray(0, n).filter((x) => !Number.isNaN(x)).sort();
      return all.length < k ? -Infinity : all[all.length - k];
    }
    const top = new Float64Array(k).fill(-Infinity); // descending
    let t = -Infinity;
    for (let s = 0; s < n; s++) {
      const x = v[s];
      if (!(x > t)) continue;
      let i = k - 1;
      while (i > 0 && top[i - 1] < x) {
        top[i] = top[i - 1];
        i--;
      }
      top[i] = x;
      t = top[k - 1];
    }
    return t;
  }

  return { backend: "wasm-simd", create: (dim, int8) => new WasmDense(dim, int8) };
};
