/**
 * Event-driven matrix products for the wasm backend, in AssemblyScript compiled to wasm with SIMD.
 *
 * The module imports the tfjs wasm backend's own memory, so every pointer here is a byte offset of
 * a tensor (or of scratch space malloc'd by the backend) in that heap: no copies in or out. It has
 * no data segments and allocates nothing; it must never write outside the ranges it is given.
 *
 * C = op(A) · B with op(A) = A ([M, K]) or Aᵀ (A stored [K, M]), B [K, N], C [M, N]. The nonzeros
 * of op(A) are first listed row by row (CSR: `starts`, `index`, `values`; for Aᵀ by a counting sort
 * of A's lists); then each row of C is the sum of the rows of B its nonzeros select, scaled by
 * their values, accumulated 16 columns at a time in four SIMD registers from B's columns laid out
 * as stripes. With binary spikes at density ρ this costs ρ of a dense product.
 */

/** Number of nonzero floats in `a[0 .. n)`. */
export function countNonzero(a: usize, n: i32): i32 {
  let count = i32x4.splat(0);
  let i = 0;
  const zero = f32x4.splat(0);
  for (; i + 4 <= n; i += 4) {
    // ne gives −1 in each nonzero lane
    count = i32x4.sub(count, f32x4.ne(v128.load(a + (<usize>i << 2)), zero));
  }
  let total = i32x4.extract_lane(count, 0) + i32x4.extract_lane(count, 1) + i32x4.extract_lane(count, 2) + i32x4.extract_lane(count, 3);
  for (; i < n; i++) if (load<f32>(a + (<usize>i << 2)) != 0) total++;
  return total;
}

/**
 * Lists the nonzeros of A ([rows, cols], row-major, rows `stride` ≥ cols floats apart: all of a
 * matrix, or a block of its columns) row by row (CSR): `starts` (i32[rows + 1]) gets
 * each row's first entry, `index` (i32) the column, `values` (f32) the entry, in increasing column.
 * Sixteen entries at a time are tested with SIMD compares folded into one 16-bit mask; blocks of
 * zeros are skipped whole and the set bits of the others visited in order. Returns 1 when every
 * nonzero is exactly 1.
 */
export function compress(a: usize, rows: i32, cols: i32, stride: i32, starts: usize, index: usize, values: usize): i32 {
  const zero = f32x4.splat(0), one = f32x4.splat(1);
  let zeroOrOne = i32x4.splat(-1);
  let ones = 1;
  let p = 0;
  for (let r = 0; r < rows; r++) {
    store<i32>(starts + (<usize>r << 2), p);
    const row = a + ((<usize>r * <usize>stride) << 2);
    let c = 0;
    for (; c + 16 <= cols; c += 16) {
      const at = row + (<usize>c << 2);
      const v0 = v128.load(at, 0), v1 = v128.load(at, 16), v2 = v128.load(at, 32), v3 = v128.load(at, 48);
      const m0 = f32x4.ne(v0, zero), m1 = f32x4.ne(v1, zero), m2 = f32x4.ne(v2, zero), m3 = f32x4.ne(v3, zero);
      let mask = i8x16.bitmask(i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(m0, m1), i16x8.narrow_i32x4_s(m2, m3)));
      if (mask == 0) continue;
      zeroOrOne = v128.and(zeroOrOne, v128.and(v128.and(v128.or(f32x4.eq(v0, one), v128.not(m0)), v128.or(f32x4.eq(v1, one), v128.not(m1))),
        v128.and(v128.or(f32x4.eq(v2, one), v128.not(m2)), v128.or(f32x4.eq(v3, one), v128.not(m3)))));
      while (mask != 0) {
        const i = <i32>ctz(mask);
        store<i32>(index + (<usize>p << 2), c + i);
        store<f32>(values + (<usize>p << 2), load<f32>(at + (<usize>i << 2)));
        p++;
        mask &= mask - 1;
      }
    }
    for (; c < cols; c++) {
      const v = load<f32>(row + (<usize>c << 2));
      if (v != 0) {
        store<i32>(index + (<usize>p << 2), c);
        store<f32>(values + (<usize>p << 2), v);
        if (v != 1) ones = 0;
        p++;
      }
    }
  }
  store<i32>(starts + (<usize>rows << 2), p);
  return ones & <i32>v128.all_true<i32>(zeroOrOne);
}

/**
 * The CSR lists of Aᵀ from those of A ([rows, cols]) by a counting sort on the column: `tStarts`
 * (i32[cols + 1]), `tIndex` (the row of A), `tValues`, each column's entries in increasing row.
 */
export function transposeRows(rows: i32, cols: i32, starts: usize, index: usize, values: usize, tStarts: usize, tIndex: usize, tValues: usize): void {
  const nnz = load<i32>(starts + (<usize>rows << 2));
  memory.fill(tStarts, 0, (<usize>cols + 1) << 2);
  for (let p = 0; p < nnz; p++) {
    const at = tStarts + (<usize>(load<i32>(index + (<usize>p << 2)) + 1) << 2);
    store<i32>(at, load<i32>(at) + 1);
  }
  for (let c = 0; c < cols; c++) {
    const at = tStarts + (<usize>(c + 1) << 2);
    store<i32>(at, load<i32>(at) + load<i32>(at - 4));
  }
  // tStarts[c] serves as column c's fill cursor; shifted back into place below
  for (let r = 0; r < rows; r++) {
    const last = load<i32>(starts + (<usize>(r + 1) << 2));
    for (let p = load<i32>(starts + (<usize>r << 2)); p < last; p++) {
      const at = tStarts + (<usize>load<i32>(index + (<usize>p << 2)) << 2);
      const q = load<i32>(at);
      store<i32>(tIndex + (<usize>q << 2), r);
      store<f32>(tValues + (<usize>q << 2), load<f32>(values + (<usize>p << 2)));
      store<i32>(at, q + 1);
    }
  }
  for (let c = cols; c > 0; c--) store<i32>(tStarts + (<usize>c << 2), load<i32>(tStarts + (<usize>(c - 1) << 2)));
  store<i32>(tStarts, 0);
}

/**
 * B's whole stripes of 16 columns, each as one block: stripe s holds B[r, 16s .. 16s + 16) for
 * r = 0 … k − 1, 64 bytes (a cache line) a row (⌊n / 16⌋ · 16 · k floats). In B itself a stripe's
 * rows lie 4n bytes apart, and for n a multiple of 512 (B of 512 or 1024 columns) that maps all of
 * them to a few of the caches' sets, which then hold a fraction of it; as one block it stays in L2.
 */
export function stripeColumns(b: usize, k: i32, n: i32, out: usize): void {
  const rowBytes = <usize>n << 2;
  let to = out;
  for (let j = 0; j + 16 <= n; j += 16) {
    let from = b + (<usize>j << 2);
    for (let r = 0; r < k; r++) {
      // four vector moves: a 64-byte memory.copy is a call with its own checks, several times slower
      v128.store(to, v128.load(from), 0);
      v128.store(to, v128.load(from, 16), 16);
      v128.store(to, v128.load(from, 32), 32);
      v128.store(to, v128.load(from, 48), 48);
      to += 64;
      from += rowBytes;
    }
  }
}

/**
 * C[m, :] = Σ over row m's entries of value · B[k, :]; `ones` skips the multiplications. Columns
 * go outermost, 16 at a time: each row's sum stays in four SIMD registers, and the stripe of B
 * that all rows read stays in cache while every row passes over it — read from `stripes`, B's
 * whole stripes as {@link stripeColumns} lays them out, where it is nonzero (B has `k` rows), else
 * from B in place. (Four registers, not eight: with eight sums and their eight loads live, V8
 * spills one sum to the stack and every entry then waits on a store and a reload — 1.6× slower.)
 * Each output is summed over its row's entries in increasing k, whatever the stripe.
 */
export function accumulate(starts: usize, index: usize, values: usize, m: i32, b: usize, k: i32, n: i32, c: usize, ones: i32, stripes: usize): void {
  const rowBytes = <usize>n << 2;
  const step = stripes != 0 ? <usize>64 : rowBytes;
  let j = 0;
  for (; j + 16 <= n; j += 16) {
    const column = stripes != 0 ? stripes + ((<usize>(j >> 4) * <usize>k) << 6) : b + (<usize>j << 2);
    for (let r = 0; r < m; r++) {
      const first = load<i32>(starts + (<usize>r << 2));
      const last = load<i32>(starts + (<usize>(r + 1) << 2));
      let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
      if (ones) {
        for (let p = first; p < last; p++) {
          const q = column + <usize>load<i32>(index + (<usize>p << 2)) * step;
          c0 = f32x4.add(c0, v128.load(q, 0)); c1 = f32x4.add(c1, v128.load(q, 16));
          c2 = f32x4.add(c2, v128.load(q, 32)); c3 = f32x4.add(c3, v128.load(q, 48));
        }
      } else {
        for (let p = first; p < last; p++) {
          const q = column + <usize>load<i32>(index + (<usize>p << 2)) * step;
          const v = f32x4.splat(load<f32>(values + (<usize>p << 2)));
          c0 = f32x4.add(c0, f32x4.mul(v, v128.load(q, 0))); c1 = f32x4.add(c1, f32x4.mul(v, v128.load(q, 16)));
          c2 = f32x4.add(c2, f32x4.mul(v, v128.load(q, 32))); c3 = f32x4.add(c3, f32x4.mul(v, v128.load(q, 48)));
        }
      }
      const o = c + <usize>r * rowBytes + (<usize>j << 2);
      v128.store(o, c0, 0); v128.store(o, c1, 16); v128.store(o, c2, 32); v128.store(o, c3, 48);
    }
  }
  for (let r = 0; r < m; r++) {
    const first = load<i32>(starts + (<usize>r << 2));
    const last = load<i32>(starts + (<usize>(r + 1) << 2));
    const out = c + <usize>r * rowBytes;
    let i = j;
    for (; i + 4 <= n; i += 4) {
      let acc = f32x4.splat(0);
      const column = b + (<usize>i << 2);
      for (let p = first; p < last; p++) {
        const q = column + <usize>load<i32>(index + (<usize>p << 2)) * rowBytes;
        acc = f32x4.add(acc, f32x4.mul(f32x4.splat(load<f32>(values + (<usize>p << 2))), v128.load(q)));
      }
      v128.store(out + (<usize>i << 2), acc);
    }
    for (; i < n; i++) {
      let acc: f32 = 0;
      const column = b + (<usize>i << 2);
      for (let p = first; p < last; p++) {
        acc += load<f32>(values + (<usize>p << 2)) * load<f32>(column + <usize>load<i32>(index + (<usize>p << 2)) * rowBytes);
      }
      store<f32>(out + (<usize>i << 2), acc);
    }
  }
}

/** Copies `rows` rows of `n` floats from `src` to `dst` with a row stride of `stride` ≥ n floats, zero-filling the rest. */
export function padRows(src: usize, rows: i32, n: i32, dst: usize, stride: i32): void {
  const bytes = <usize>n << 2, dstBytes = <usize>stride << 2;
  for (let r = 0; r < rows; r++) {
    const to = dst + <usize>r * dstBytes;
    memory.copy(to, src + <usize>r * bytes, bytes);
    memory.fill(to + bytes, 0, dstBytes - bytes);
  }
}

/** The inverse of {@link padRows}: the first `n` of every `stride` floats. */
export function unpadRows(src: usize, rows: i32, stride: i32, dst: usize, n: i32): void {
  const bytes = <usize>n << 2, srcBytes = <usize>stride << 2;
  for (let r = 0; r < rows; r++) memory.copy(dst + <usize>r * bytes, src + <usize>r * srcBytes, bytes);
}

/**
 * The same products for an output of at most 16 columns straight from A's rows, with no lists:
 * each row of A is scanned sixteen entries at a time (as in {@link compress}) and every nonzero
 * used at once. `b16` and `c16` hold rows padded to 16 floats. Without transposition
 * (`transposeA` 0), C16[r] = Σ_j A[r, j] · B16[j] (a readout's currents); with it (1),
 * C16[j] = Σ_r A[r, j] · B16[r] (its weight gradient Aᵀ·B, scattered into C16, which is zeroed
 * first: [cols, 16] floats, 32 kB for 500 inputs, stays in L1).
 */
export function scan16(a: usize, rows: i32, cols: i32, b16: usize, c16: usize, transposeA: i32): void {
  const zero = f32x4.splat(0);
  if (transposeA) memory.fill(c16, 0, <usize>cols << 6);
  for (let r = 0; r < rows; r++) {
    const row = a + ((<usize>r * <usize>cols) << 2);
    // transposed: this row's B16 row, added into the output rows of its nonzeros; else their sum
    const br = b16 + (<usize>r << 6);
    const b0 = transposeA ? v128.load(br, 0) : zero, b1 = transposeA ? v128.load(br, 16) : zero;
    const b2 = transposeA ? v128.load(br, 32) : zero, b3 = transposeA ? v128.load(br, 48) : zero;
    let s0 = zero, s1 = zero, s2 = zero, s3 = zero;
    let c = 0;
    for (; c < cols; c += 16) {
      let mask: i32;
      if (c + 16 <= cols) {
        const at = row + (<usize>c << 2);
        const m0 = f32x4.ne(v128.load(at, 0), zero), m1 = f32x4.ne(v128.load(at, 16), zero);
        const m2 = f32x4.ne(v128.load(at, 32), zero), m3 = f32x4.ne(v128.load(at, 48), zero);
        mask = i8x16.bitmask(i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(m0, m1), i16x8.narrow_i32x4_s(m2, m3)));
      } else {
        mask = 0;
        for (let i = 0; c + i < cols; i++) if (load<f32>(row + (<usize>(c + i) << 2)) != 0) mask |= 1 << i;
      }
      while (mask != 0) {
        const j = c + <i32>ctz(mask);
        mask &= mask - 1;
        const v = f32x4.splat(load<f32>(row + (<usize>j << 2)));
        if (transposeA) {
          const o = c16 + (<usize>j << 6);
          v128.store(o, f32x4.add(v128.load(o, 0), f32x4.mul(v, b0)), 0);
          v128.store(o, f32x4.add(v128.load(o, 16), f32x4.mul(v, b1)), 16);
          v128.store(o, f32x4.add(v128.load(o, 32), f32x4.mul(v, b2)), 32);
          v128.store(o, f32x4.add(v128.load(o, 48), f32x4.mul(v, b3)), 48);
        } else {
          const q = b16 + (<usize>j << 6);
          s0 = f32x4.add(s0, f32x4.mul(v, v128.load(q, 0))); s1 = f32x4.add(s1, f32x4.mul(v, v128.load(q, 16)));
          s2 = f32x4.add(s2, f32x4.mul(v, v128.load(q, 32))); s3 = f32x4.add(s3, f32x4.mul(v, v128.load(q, 48)));
        }
      }
    }
    if (!transposeA) {
      const o = c16 + (<usize>r << 6);
      v128.store(o, s0, 0); v128.store(o, s1, 16); v128.store(o, s2, 32); v128.store(o, s3, 48);
    }
  }
}
