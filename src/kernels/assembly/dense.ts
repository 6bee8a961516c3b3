/**
 * Dense matrix products for the wasm backend: C = A · op(B), A [M, K] and C [M, N] row-major with
 * their own row strides, op(B) [K, N] packed first into panels of eight columns. Each output tile of
 * 4 rows × 8 columns is summed in eight SIMD registers over a block of K, one multiply–add per
 * lane and term: fused (`f32x4.relaxed_madd`, one rounding) where the module is compiled with
 * relaxed SIMD and the engine runs it (Node 22, Chrome 114; Node 20 behind a V8 flag that
 * src/core/platform/node.ts sets), a multiply and an add otherwise. Every output is summed in the
 * same order — k ascending, in blocks of {@link KC} — whatever the tile, the thread or the rows
 * around it, so a row's result never depends on which other rows share the product.
 */

/** Terms of K per block: a 4 × KC tile of A and a KC × 8 panel of B stay in L1 while a tile is summed. */
const KC = 256;
/** Rows of A per block: MC × KC floats stay in L2 while every panel passes over them. */
const MC = 64;

// @ts-ignore: decorator
@inline
function madd(a: v128, b: v128, c: v128): v128 {
  // ASC_FEATURE_RELAXED_SIMD is a compile-time constant: each build keeps one branch
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

/** Floats of the panels of an op(B) with `n` columns and `k` rows: ⌈n / 8⌉ · 8 · k. */
export function panelFloats(k: i32, n: i32): i32 {
  return ((n + 7) >> 3) * 8 * k;
}

/**
 * Packs op(B) [K, N] into panels: panel p holds op(B)[k, 8p .. 8p + 8) for k = 0 … K − 1, 32 bytes
 * a row, the columns past N zero. op(B) is B stored [K, N], or with `transposed` Bᵀ of a B stored
 * [N, K] (so A · Bᵀ needs no transpose of its own).
 */
export function packPanels(b: usize, k: i32, n: i32, transposed: i32, out: usize): void {
  const panels = (n + 7) >> 3;
  for (let p = 0; p < panels; p++) {
    const panel = out + ((<usize>p * <usize>k) << 5);
    const first = p << 3;
    const cols = min(8, n - first);
    if (!transposed && cols == 8) {
      for (let r = 0; r < k; r++) {
        const from = b + ((<usize>r * <usize>n + first) << 2);
        v128.store(panel + (<usize>r << 5), v128.load(from));
        v128.store(panel + (<usize>r << 5), v128.load(from, 16), 16);
      }
      continue;
    }
    for (let r = 0; r < k; r++) {
      const row = panel + (<usize>r << 5);
      for (let j = 0; j < 8; j++) {
        const col = first + j;
        const value: f32 = j < cols ? load<f32>(b + ((transposed ? <usize>col * <usize>k + r : <usize>r * <usize>n + col) << 2)) : 0;
        store<f32>(row + (<usize>j << 2), value);
      }
    }
  }
}

/**
 * C = A · op(B) with op(B) packed by {@link packPanels}: A [M, K] with rows `lda` floats apart, C
 * [M, N] with rows `ldc` floats apart (C's other columns untouched).
 */
export function panelProduct(a: usize, lda: i32, m: i32, k: i32, packed: usize, n: i32, c: usize, ldc: i32): void {
  const panels = (n + 7) >> 3;
  const aRow = <usize>lda << 2,
    cRow = <usize>ldc << 2;
  for (let k0 = 0; k0 < k; k0 += KC) {
    const kc = min(KC, k - k0);
    const more = k0 > 0;
    for (let m0 = 0; m0 < m; m0 += MC) {
      const mc = min(MC, m - m0);
      for (let p = 0; p < panels; p++) {
        const panel = packed + ((<usize>p * <usize>k + k0) << 5);
        const first = p << 3;
        const cols = min(8, n - first);
        let r = m0;
        for (; r + 4 <= m0 + mc; r += 4) tile4(a + <usize>r * aRow + (<usize>k0 << 2), aRow, panel, kc, c + <usize>r * cRow + (<usize>first << 2), cRow, cols, more);
        for (; r < m0 + mc; r++) tile1(a + <usize>r * aRow + (<usize>k0 << 2), panel, kc, c + <usize>r * cRow + (<usize>first << 2), cols, more);
      }
    }
  }
}

/** Loads `cols` (< 8 allowed) floats of a C row as two vectors, the rest zero. */
// @ts-ignore: decorator
@inline
function loadRow(at: usize, cols: i32, half: i32): v128 {
  const from = half << 2;
  const count = min(4, cols - from);
  if (count >= 4) return v128.load(at + (<usize>from << 2));
  let v = f32x4.splat(0);
  if (count > 0) v = f32x4.replace_lane(v, 0, load<f32>(at + (<usize>from << 2)));
  if (count > 1) v = f32x4.replace_lane(v, 1, load<f32>(at + (<usize>(from + 1) << 2)));
  if (count > 2) v = f32x4.replace_lane(v, 2, load<f32>(at + (<usize>(from + 2) << 2)));
  return v;
}

/** Stores the first `cols` of a tile row's eight floats. */
// @ts-ignore: decorator
@inline
function storeRow(at: usize, lo: v128, hi: v128, cols: i32): void {
  if (cols == 8) {
    v128.store(at, lo);
    v128.store(at, hi, 16);
    return;
  }
  const low = min(4, cols);
  if (low == 4) v128.store(at, lo);
  else {
    if (low > 0) store<f32>(at, f32x4.extract_lane(lo, 0));
    if (low > 1) store<f32>(at, f32x4.extract_lane(lo, 1), 4);
    if (low > 2) store<f32>(at, f32x4.extract_lane(lo, 2), 8);
  }
  const high = cols - 4;
  if (high > 0) store<f32>(at, f32x4.extract_lane(hi, 0), 16);
  if (high > 1) store<f32>(at, f32x4.extract_lane(hi, 1), 20);
  if (high > 2) store<f32>(at, f32x4.extract_lane(hi, 2), 24);
}

/** Four rows × eight columns over `kc` terms, added to C's values when `more`. */
// @ts-ignore: decorator
@inline
function tile4(a: usize, aRow: usize, panel: usize, kc: i32, c: usize, cRow: usize, cols: i32, more: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  if (more) {
    c00 = loadRow(c, cols, 0);
    c01 = loadRow(c, cols, 1);
    c10 = loadRow(c + cRow, cols, 0);
    c11 = loadRow(c + cRow, cols, 1);
    c20 = loadRow(c + 2 * cRow, cols, 0);
    c21 = loadRow(c + 2 * cRow, cols, 1);
    c30 = loadRow(c + 3 * cRow, cols, 0);
    c31 = loadRow(c + 3 * cRow, cols, 1);
  }
  let pa = a,
    pb = panel;
  const end = panel + (<usize>kc << 5);
  while (pb < end) {
    const b0 = v128.load(pb),
      b1 = v128.load(pb, 16);
    const a0 = v128.load32_splat(pa);
    c00 = madd(a0, b0, c00);
    c01 = madd(a0, b1, c01);
    const a1 = v128.load32_splat(pa + aRow);
    c10 = madd(a1, b0, c10);
    c11 = madd(a1, b1, c11);
    const a2 = v128.load32_splat(pa + 2 * aRow);
    c20 = madd(a2, b0, c20);
    c21 = madd(a2, b1, c21);
    const a3 = v128.load32_splat(pa + 3 * aRow);
    c30 = madd(a3, b0, c30);
    c31 = madd(a3, b1, c31);
    pa += 4;
    pb += 32;
  }
  storeRow(c, c00, c01, cols);
  storeRow(c + cRow, c10, c11, cols);
  storeRow(c + 2 * cRow, c20, c21, cols);
  storeRow(c + 3 * cRow, c30, c31, cols);
}

/** One row × eight columns, summed in the same order as a row of {@link tile4}. */
// @ts-ignore: decorator
@inline
function tile1(a: usize, panel: usize, kc: i32, c: usize, cols: i32, more: bool): void {
  let c0 = f32x4.splat(0),
    c1 = f32x4.splat(0);
  if (more) {
    c0 = loadRow(c, cols, 0);
    c1 = loadRow(c, cols, 1);
  }
  let pa = a,
    pb = panel;
  const end = panel + (<usize>kc << 5);
  while (pb < end) {
    const a0 = v128.load32_splat(pa);
    c0 = madd(a0, v128.load(pb), c0);
    c1 = madd(a0, v128.load(pb, 16), c1);
    pa += 4;
    pb += 32;
  }
  storeRow(c, c0, c1, cols);
}
