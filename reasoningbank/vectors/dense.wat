;; Dense vector kernel: dot products of one query with N rows, WebAssembly SIMD (128-bit).
;;
;; Assembled into dense.wasm (committed; the wheel ships those bytes) with wabt's wat2wasm,
;; default options. dense_wasm.js owns the memory layout: it writes the rows and the query
;; into this module's memory, calls one of these functions per query, and reads the
;; results back. Every function scans `n` consecutive rows of `dp` values each, with `dp` a
;; multiple of 16 (rows are zero-padded, which adds nothing to a dot product), and writes
;; one result per row to `out`. Addresses are byte offsets, 16-byte aligned.
;;
;; Three scans, from fast and approximate to exact:
;;   dots_i8   int8 rows . int16 query, exact integer sums, times a per-row float32 weight
;;             (the caller bounds the quantization error and rescores exactly the rows it
;;             cannot rule out);
;;   dots_f32  float32 rows . float32 query, float32 sums (error within dp * 2^-24 of
;;             |row| |query|), times a per-row float32 weight; the caller rescores likewise;
;;   dots_f64  float32 rows . float64 query, float64 sums: products of float32 values are
;;             exact in float64, so this is the cosine numerator to ~1e-16.
;; The weight (1/|row| or the int8 scale over |row|) makes the scans' outputs comparable
;; estimates of the cosine; NaN marks an empty row and fails every comparison.
;; Then, over a scan's output, kth finds the k-th largest estimate and select the rows whose
;; estimate reaches a floor: the candidates the caller rescores exactly.
(module
  (memory (export "memory") 1)

  ;; out[i] (f32) = (rows[i] . q) * w[i], all float32, for i < n.
  ;; Four accumulators over 16 floats per step: one f32x4 chain would wait on the add
  ;; latency instead of loading.
  (func (export "dots_f32")
    (param $q i32) (param $row i32) (param $dp i32) (param $n i32) (param $out i32) (param $w i32)
    (local $stop i32) (local $end i32) (local $qp i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local.set $stop (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $out) (local.get $stop)))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $a1 (v128.const i32x4 0 0 0 0))
        (local.set $a2 (v128.const i32x4 0 0 0 0))
        (local.set $a3 (v128.const i32x4 0 0 0 0))
        (local.set $qp (local.get $q))
        (local.set $end (i32.add (local.get $row) (i32.shl (local.get $dp) (i32.const 2))))
        (loop $cols
          (local.set $a0 (f32x4.add (local.get $a0)
            (f32x4.mul (v128.load (local.get $row)) (v128.load (local.get $qp)))))
          (local.set $a1 (f32x4.add (local.get $a1)
            (f32x4.mul (v128.load offset=16 (local.get $row)) (v128.load offset=16 (local.get $qp)))))
          (local.set $a2 (f32x4.add (local.get $a2)
            (f32x4.mul (v128.load offset=32 (local.get $row)) (v128.load offset=32 (local.get $qp)))))
          (local.set $a3 (f32x4.add (local.get $a3)
            (f32x4.mul (v128.load offset=48 (local.get $row)) (v128.load offset=48 (local.get $qp)))))
          (local.set $row (i32.add (local.get $row) (i32.const 64)))
          (local.set $qp (i32.add (local.get $qp) (i32.const 64)))
          (br_if $cols (i32.lt_u (local.get $row) (local.get $end))))
        ;; Fold the accumulators, then the four lanes.
        (local.set $a0 (f32x4.add (f32x4.add (local.get $a0) (local.get $a1))
                                  (f32x4.add (local.get $a2) (local.get $a3))))
        (f32.store (local.get $out)
          (f32.mul (f32.load (local.get $w))
            (f32.add
              (f32.add (f32x4.extract_lane 0 (local.get $a0)) (f32x4.extract_lane 1 (local.get $a0)))
              (f32.add (f32x4.extract_lane 2 (local.get $a0)) (f32x4.extract_lane 3 (local.get $a0))))))
        (local.set $w (i32.add (local.get $w) (i32.const 4)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (br $rows))))

  ;; out[i] (f64) = rows[i] . q, rows float32 widened to float64, q float64 (dp doubles).
  ;; Each f32x4 of a row becomes two f64x2: its low half, and its high half moved down.
  (func (export "dots_f64")
    (param $q i32) (param $row i32) (param $dp i32) (param $n i32) (param $out i32)
    (local $stop i32) (local $end i32) (local $qp i32) (local $v v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local.set $stop (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 3))))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $out) (local.get $stop)))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $a1 (v128.const i32x4 0 0 0 0))
        (local.set $a2 (v128.const i32x4 0 0 0 0))
        (local.set $a3 (v128.const i32x4 0 0 0 0))
        (local.set $qp (local.get $q))
        (local.set $end (i32.add (local.get $row) (i32.shl (local.get $dp) (i32.const 2))))
        (loop $cols
          ;; floats 0..3 of this step
          (local.set $v (v128.load (local.get $row)))
          (local.set $a0 (f64x2.add (local.get $a0)
            (f64x2.mul (f64x2.promote_low_f32x4 (local.get $v)) (v128.load (local.get $qp)))))
          (local.set $a1 (f64x2.add (local.get $a1)
            (f64x2.mul
              (f64x2.promote_low_f32x4
                (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))
              (v128.load offset=16 (local.get $qp)))))
          ;; floats 4..7
          (local.set $v (v128.load offset=16 (local.get $row)))
          (local.set $a2 (f64x2.add (local.get $a2)
            (f64x2.mul (f64x2.promote_low_f32x4 (local.get $v)) (v128.load offset=32 (local.get $qp)))))
          (local.set $a3 (f64x2.add (local.get $a3)
            (f64x2.mul
              (f64x2.promote_low_f32x4
                (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))
              (v128.load offset=48 (local.get $qp)))))
          ;; floats 8..11
          (local.set $v (v128.load offset=32 (local.get $row)))
          (local.set $a0 (f64x2.add (local.get $a0)
            (f64x2.mul (f64x2.promote_low_f32x4 (local.get $v)) (v128.load offset=64 (local.get $qp)))))
          (local.set $a1 (f64x2.add (local.get $a1)
            (f64x2.mul
              (f64x2.promote_low_f32x4
                (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))
              (v128.load offset=80 (local.get $qp)))))
          ;; floats 12..15
          (local.set $v (v128.load offset=48 (local.get $row)))
          (local.set $a2 (f64x2.add (local.get $a2)
            (f64x2.mul (f64x2.promote_low_f32x4 (local.get $v)) (v128.load offset=96 (local.get $qp)))))
          (local.set $a3 (f64x2.add (local.get $a3)
            (f64x2.mul
              (f64x2.promote_low_f32x4
                (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))
              (v128.load offset=112 (local.get $qp)))))
          (local.set $row (i32.add (local.get $row) (i32.const 64)))
          (local.set $qp (i32.add (local.get $qp) (i32.const 128)))
          (br_if $cols (i32.lt_u (local.get $row) (local.get $end))))
        (local.set $a0 (f64x2.add (f64x2.add (local.get $a0) (local.get $a1))
                                  (f64x2.add (local.get $a2) (local.get $a3))))
        (f64.store (local.get $out)
          (f64.add (f64x2.extract_lane 0 (local.get $a0)) (f64x2.extract_lane 1 (local.get $a0))))
        (local.set $out (i32.add (local.get $out) (i32.const 8)))
        (br $rows))))

  ;; out[i] (f32) = (rows[i] . q) * w[i], rows int8 (dp bytes), q int16 (dp values).
  ;; v128.load8x8_s widens 8 row bytes to int16; i32x4.dot_i16x8_s multiplies pairwise and
  ;; adds neighbours. The caller keeps |q| small enough that no partial sum can overflow.
  (func (export "dots_i8")
    (param $q i32) (param $row i32) (param $dp i32) (param $n i32) (param $out i32) (param $w i32)
    (local $stop i32) (local $end i32) (local $qp i32) (local $a0 v128) (local $a1 v128)
    (local.set $stop (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $out) (local.get $stop)))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $a1 (v128.const i32x4 0 0 0 0))
        (local.set $qp (local.get $q))
        (local.set $end (i32.add (local.get $row) (local.get $dp)))
        (loop $cols
          (local.set $a0 (i32x4.add (local.get $a0)
            (i32x4.dot_i16x8_s (v128.load8x8_s (local.get $row)) (v128.load (local.get $qp)))))
          (local.set $a1 (i32x4.add (local.get $a1)
            (i32x4.dot_i16x8_s (v128.load8x8_s offset=8 (local.get $row))
                               (v128.load offset=16 (local.get $qp)))))
          (local.set $row (i32.add (local.get $row) (i32.const 16)))
          (local.set $qp (i32.add (local.get $qp) (i32.const 32)))
          (br_if $cols (i32.lt_u (local.get $row) (local.get $end))))
        (local.set $a0 (i32x4.add (local.get $a0) (local.get $a1)))
        (f32.store (local.get $out)
          (f32.mul (f32.load (local.get $w))
            (f32.convert_i32_s
              (i32.add
                (i32.add (i32x4.extract_lane 0 (local.get $a0)) (i32x4.extract_lane 1 (local.get $a0)))
                (i32.add (i32x4.extract_lane 2 (local.get $a0)) (i32x4.extract_lane 3 (local.get $a0)))))))
        (local.set $w (i32.add (local.get $w) (i32.const 4)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (br $rows))))
  ;; The k-th largest of v[0..n) (f32), NaN skipped; -inf when there are fewer than k.
  ;; top: scratch for k f32, kept in descending order. Insertion is cheap here: after the
  ;; first few rows, hardly any value beats the current k-th (t), and the test is one compare.
  (func (export "kth")
    (param $v i32) (param $n i32) (param $k i32) (param $top i32) (result f32)
    (local $end i32) (local $t f32) (local $x f32) (local $i i32) (local $last i32)
    (local.set $end (i32.add (local.get $v) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $last
      (i32.add (local.get $top) (i32.shl (i32.sub (local.get $k) (i32.const 1)) (i32.const 2))))
    (local.set $t (f32.const -inf))
    (local.set $i (local.get $top))
    (block $filled
      (loop $fill
        (br_if $filled (i32.gt_u (local.get $i) (local.get $last)))
        (f32.store (local.get $i) (f32.const -inf))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $fill)))
    (block $done
      (loop $scan
        (br_if $done (i32.ge_u (local.get $v) (local.get $end)))
        (local.set $x (f32.load (local.get $v)))
        (local.set $v (i32.add (local.get $v) (i32.const 4)))
        (br_if $scan (i32.eqz (f32.gt (local.get $x) (local.get $t)))) ;; NaN: not greater
        ;; Move the smaller entries down one place (the last drops out), then put x in.
        (local.set $i (local.get $last))
        (block $placed
          (loop $shift
            (br_if $placed (i32.le_u (local.get $i) (local.get $top)))
            (br_if $placed
              (i32.eqz (f32.lt (f32.load (i32.sub (local.get $i) (i32.const 4))) (local.get $x))))
            (f32.store (local.get $i) (f32.load (i32.sub (local.get $i) (i32.const 4))))
            (local.set $i (i32.sub (local.get $i) (i32.const 4)))
            (br $shift)))
        (f32.store (local.get $i) (local.get $x))
        (local.set $t (f32.load (local.get $last)))
        (br $scan)))
    (local.get $t))

  ;; Writes the indexes i < n with v[i] >= floor (f32) to out (i32), in order, stopping once
  ;; it has written max + 1 of them; returns how many it wrote. Four values are compared at
  ;; once and only a quad with a hit is looked at lane by lane; NaN never passes.
  (func (export "select")
    (param $v i32) (param $n i32) (param $floor f32) (param $out i32) (param $max i32)
    (result i32)
    (local $i i32) (local $n4 i32) (local $c i32) (local $f v128) (local $j i32)
    (local.set $f (f32x4.splat (local.get $floor)))
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (block $done
      (loop $quads
        (br_if $done (i32.ge_u (local.get $i) (local.get $n4)))
        (if (v128.any_true
              (f32x4.ge (v128.load (i32.add (local.get $v) (i32.shl (local.get $i) (i32.const 2))))
                        (local.get $f)))
          (then
            (local.set $j (local.get $i))
            (loop $lanes
              (if (f32.ge (f32.load (i32.add (local.get $v) (i32.shl (local.get $j) (i32.const 2))))
                          (local.get $floor))
                (then
                  (i32.store (i32.add (local.get $out) (i32.shl (local.get $c) (i32.const 2)))
                             (local.get $j))
                  (local.set $c (i32.add (local.get $c) (i32.const 1)))
                  (br_if $done (i32.gt_u (local.get $c) (local.get $max)))))
              (local.set $j (i32.add (local.get $j) (i32.const 1)))
              (br_if $lanes (i32.lt_u (local.get $j) (i32.add (local.get $i) (i32.const 4)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $quads)))
    ;; The last n mod 4 values, one by one.
    (block $tail
      (loop $rest
        (br_if $tail (i32.gt_u (local.get $c) (local.get $max)))
        (br_if $tail (i32.ge_u (local.get $i) (local.get $n)))
        (if (f32.ge (f32.load (i32.add (local.get $v) (i32.shl (local.get $i) (i32.const 2))))
                    (local.get $floor))
          (then
            (i32.store (i32.add (local.get $out) (i32.shl (local.get $c) (i32.const 2)))
                       (local.get $i))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rest)))
    (local.get $c))
)
