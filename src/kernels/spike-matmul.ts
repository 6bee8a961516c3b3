/**
 * Event-driven matrix products on the wasm backend (issue 6).
 *
 * Spikes are binary and sparse: with 5–25% of inputs firing, a product `spikes · W` is the sum of
 * the few rows of W the spikes select, a fraction of the dense product's work. spikelr replaces the
 * wasm backend's BatchMatMul kernel with one that looks at its left operand: when it is mostly zeros
 * (at most {@link SPARSE_DENSITY} nonzero), the product runs in `assembly/sparse.ts` (wasm SIMD,
 * sharing the backend's heap), else in `assembly/dense.ts` (fused multiply–adds where the engine
 * runs relaxed SIMD; batched products of rank > 2 in the stock XNNPACK kernel). The same holds for `aᵀ · b`, the
 * weight gradient of a layer fed by spikes (`xᵀ · δ` in BPTT, `xᵀ · g` in LR), whose nonzeros are
 * listed column by column without transposing anything.
 *
 * It also takes over transposed operands for dense products: the stock kernel runs `transposeA` /
 * `transposeB` about 13× slower than an explicit transpose followed by a plain product
 * (`[3200, 784]ᵀ × [3200, 1000]`: 2185 vs 175 ms), and tfjs autodiff of matMul uses exactly those.
 *
 * Results equal the dense product's up to float summation order (the sparse sum adds in increasing
 * k). One difference in kind: a zero entry of the sparse operand skips its row of the other, so
 * 0 · ∞ contributes 0 here where the dense product gives NaN.
 */
import * as tf from '@tensorflow/tfjs';
import { heapOffset as offsetOf, kernelsFor, overrideKernel, type WasmBackend, type WasmKernel } from './wasm-module.js';

/** Largest fraction of nonzeros of the left operand for which the event-driven product is used. */
export const SPARSE_DENSITY = 0.3;
/** Below this many left-operand entries the dense kernel is used (nothing to gain). */
const MIN_SPARSE_SIZE = 4096;

let installed = false;
/** Products run by each path since the process started (tests and benches read it). */
export const sparseStats = { sparse: 0, dense: 0 };

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * `op(a) · b` by the event-driven kernel: a [r, c] (op(a) = a, or aᵀ when `transposeA`), b with
 * op(a)'s column count of rows, both float32 rank 2 in the heap.
 */
function sparseProduct(backend: WasmBackend, a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, nnz: number): tf.TensorInfo {
  const m = transposeA ? a.shape[1]! : a.shape[0]!;
  const out = backend.makeOutput([m, b.shape[1]!], 'float32');
  sparseBlock(backend, a, transposeA, 0, m, b, nnz, out);
  return out;
}

/**
 * Rows [first, first + count) of `op(a) · b` by the event-driven kernel, into those rows of `out`
 * [m, n]: read from a in place — a block of a's rows, or for aᵀ a block of its columns. `nnz`: a's
 * nonzeros, or any bound on the block's. Scratch lists come from the backend's allocator and are
 * freed here.
 */
function sparseBlock(
  backend: WasmBackend,
  a: tf.TensorInfo,
  transposeA: boolean,
  first: number,
  count: number,
  b: tf.TensorInfo,
  nnz: number,
  out: tf.TensorInfo,
): void {
  const [r, c] = a.shape as [number, number];
  const [k, n] = b.shape as [number, number];
  // the block of a that holds these rows of op(a): [rows, cols] with rows c floats apart
  const [rows, cols, at] = transposeA ? [r, count, offsetOf(backend, a) + 4 * first] : [count, c, offsetOf(backend, a) + 4 * first * c];
  const outAt = offsetOf(backend, out) + 4 * first * n;
  const wasm = backend.wasm,
    kernels = kernelsFor(backend);
  const scratch: number[] = [];
  const alloc = (floats: number) => {
    const p = wasm._malloc(4 * Math.max(floats, 1)) >>> 0;
    scratch.push(p);
    return p;
  };
  try {
    if (n <= 16 && cols === c) {
      // a readout's narrow products: straight from a's rows, no lists (assembly/sparse.ts scan16)
      const padded = alloc(k * 16),
        result = alloc(count * 16);
      kernels.padRows(offsetOf(backend, b), k, n, padded, 16);
      kernels.scan16(at, rows, cols, padded, result, transposeA ? 1 : 0);
      kernels.unpadRows(result, count, 16, outAt, n);
      return;
    }
    // lists of the block's nonzeros
    const starts = alloc(rows + 1),
      index = alloc(nnz),
      values = alloc(nnz);
    const ones = kernels.compress(at, rows, cols, c, starts, index, values);
    let lists = [starts, index, values] as const;
    if (transposeA) {
      lists = [alloc(cols + 1), alloc(nnz), alloc(nnz)] as const;
      kernels.transposeRows(rows, cols, starts, index, values, ...lists);
    }
    if (n >= 32) {
      // b's stripes of 16 columns as blocks (assembly/sparse.ts stripeColumns), when its rows are used more than once on average
      let stripes = 0;
      if (nnz >= k) kernels.stripeColumns(offsetOf(backend, b), k, n, (stripes = alloc(Math.floor(n / 16) * 16 * k)));
      kernels.accumulate(...lists, count, offsetOf(backend, b), k, n, outAt, ones, stripes);
    } else {
      // outputs of 17–31 columns (or narrower, from a block of columns): rows padded to 32 floats, one pass over the entries
      const padded = alloc(k * 32),
        result = alloc(count * 32);
      kernels.padRows(offsetOf(backend, b), k, n, padded, 32);
      kernels.accumulate(...lists, count, padded, k, 32, result, ones, 0);
      kernels.unpadRows(result, count, 32, outAt, n);
    }
  } finally {
    for (const p of scratch) wasm._free(p);
  }
}

let stockMatMul: WasmKernel | undefined;
let stockTranspose: WasmKernel | undefined;

/** The last two axes of `x` swapped, by the stock kernel. */
export function transposeLast(backend: WasmBackend, x: tf.TensorInfo): tf.TensorInfo {
  const perm = [...Array(x.shape.length).keys()];
  [perm[perm.length - 2], perm[perm.length - 1]] = [perm[perm.length - 1]!, perm[perm.length - 2]!];
  return stockTranspose!({ inputs: { x }, backend, attrs: { perm } }) as tf.TensorInfo;
}

/**
 * `op(a) · b` (rank 2, float32, b untransposed) by the path chosen for the whole product — the
 * event-driven kernel (`sparse`) or the dense one (assembly/dense.ts) — so that any block of its rows, on either
 * thread (product-threads.ts), is computed as the whole product computes it. `nnz`: a's nonzeros,
 * when the caller has counted them already.
 */
export function productBy(backend: WasmBackend, a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, sparse: boolean, nnz?: number): tf.TensorInfo {
  if (sparse) return sparseProduct(backend, a, b, transposeA, nnz ?? kernelsFor(backend).countNonzero(offsetOf(backend, a), size(a.shape)));
  const t = transposeA ? transposeLast(backend, a) : undefined;
  try {
    return denseProduct(backend, t ?? a, b);
  } finally {
    if (t) backend.disposeData(t.dataId);
  }
}

/**
 * B [K, N] (or, `transposed`, Bᵀ of a B stored [N, K]) packed into assembly/dense.ts' panels of
 * eight columns, in scratch the caller frees with `backend.wasm._free`.
 */
export function packPanels(backend: WasmBackend, b: tf.TensorInfo, transposed: boolean): number {
  const [k, n] = (transposed ? [b.shape[1], b.shape[0]] : b.shape) as [number, number];
  const kernels = kernelsFor(backend);
  const packed = backend.wasm._malloc(4 * Math.max(kernels.panelFloats(k, n), 1)) >>> 0;
  kernels.packPanels(offsetOf(backend, b), k, n, transposed ? 1 : 0, packed);
  return packed;
}

/**
 * `a · b` (a [m, k], b [k, n], float32) by assembly/dense.ts: b packed into panels, then summed four
 * rows by eight columns at a time, with fused multiply–adds where the relaxed-SIMD kernels run
 * (1.5–1.8× the stock XNNPACK kernel here; the same bits as it without them).
 */
function denseProduct(backend: WasmBackend, a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo {
  const [m, k] = a.shape as [number, number];
  const n = b.shape[1]!;
  if (m * k * n === 0) return stockMatMul!({ inputs: { a, b }, backend, attrs: { transposeA: false, transposeB: false } }) as tf.TensorInfo;
  const out = backend.makeOutput([m, n], 'float32');
  denseBlock(backend, a, 0, m, b, out);
  return out;
}

/** Rows [first, first + count) of `a · b` (k ≥ 1) by {@link denseProduct}'s kernel, from those rows of a into those of `out`. */
function denseBlock(backend: WasmBackend, a: tf.TensorInfo, first: number, count: number, b: tf.TensorInfo, out: tf.TensorInfo): void {
  const [k, n] = b.shape as [number, number];
  const packed = packPanels(backend, b, false);
  try {
    kernelsFor(backend).panelProduct(offsetOf(backend, a) + 4 * first * k, k, count, k, packed, n, offsetOf(backend, out) + 4 * first * n, n);
  } finally {
    backend.wasm._free(packed);
  }
}

/**
 * Rows [first, first + count) of `op(a) · b` (rank 2, float32, b untransposed, no empty axis) into
 * those rows of `out`, read from a in place, by the path chosen for the whole product — each row
 * as {@link productBy} computes it. Not for a dense aᵀ (its rows are a's columns, which the dense
 * kernel would need transposed first): that is refused. `nnz`: a bound on the block's nonzeros for
 * the event-driven path (a's count).
 */
export function productBlock(
  backend: WasmBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transposeA: boolean,
  sparse: boolean,
  nnz: number,
  first: number,
  count: number,
  out: tf.TensorInfo,
): void {
  if (sparse) sparseBlock(backend, a, transposeA, first, count, b, nnz, out);
  else if (!transposeA && size(a.shape) * b.shape[1]! > 0) denseBlock(backend, a, first, count, b, out);
  else throw new Error('productBlock: a dense aᵀ or an empty product has no block of rows to compute in place; use productBy');
}

/**
 * Whether a product with left operand `a` (rank 2, float32) takes the event-driven path — large
 * enough, with at most {@link SPARSE_DENSITY} of it nonzero — and its nonzeros where they were
 * counted; counted in {@link sparseStats} as the product it decides.
 */
export function sparseChoice(backend: WasmBackend, a: tf.TensorInfo): { sparse: boolean; nnz?: number } {
  const nnz = size(a.shape) >= MIN_SPARSE_SIZE ? kernelsFor(backend).countNonzero(offsetOf(backend, a), size(a.shape)) : undefined;
  const sparse = nnz !== undefined && nnz <= SPARSE_DENSITY * size(a.shape);
  sparseStats[sparse ? 'sparse' : 'dense']++;
  return nnz === undefined ? { sparse } : { sparse, nnz };
}

/** Runs part of a large product on another thread (product-threads.ts), or declines (undefined). */
export type SplitProduct = (
  backend: WasmBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transposeA: boolean,
  sparse: boolean,
  nnz?: number,
) => tf.TensorInfo | undefined;

/**
 * Registers the BatchMatMul kernel above for the wasm backend (idempotent; call once the backend
 * is initialised); `split` may hand half of a large product's rows to a helper thread. Without the
 * compiled module the first product throws, naming the build step.
 */
export function installSpikeMatMul(split?: SplitProduct): void {
  if (installed) return;
  const config = tf.getKernel(tf.Transpose, 'wasm');
  if (!config) return;
  stockTranspose = config.kernelFunc as unknown as WasmKernel;
  stockMatMul = tf.getKernel(tf.BatchMatMul, 'wasm')?.kernelFunc as unknown as WasmKernel | undefined;
  installed = true;
  overrideKernel(tf.BatchMatMul, (args, dense) => {
    const { backend } = args;
    let a = args.inputs['a']!,
      b = args.inputs['b']!;
    const transposeA = args.attrs['transposeA'] === true,
      transposeB = args.attrs['transposeB'] === true;
    const temporaries: tf.TensorInfo[] = [];
    try {
      // the other operand's transpose is cheap next to the product; the stock kernel's is not
      if (transposeB) temporaries.push((b = transposeLast(backend, b)));
      const rank2 = a.dtype === 'float32' && b.dtype === 'float32' && a.shape.length === 2 && b.shape.length === 2;
      if (!rank2) {
        sparseStats.dense++;
        if (transposeA) temporaries.push((a = transposeLast(backend, a)));
        return dense({ ...args, inputs: { a, b }, attrs: { ...args.attrs, transposeA: false, transposeB: false } });
      }
      const { sparse, nnz } = sparseChoice(backend, a);
      // a large product: half of its rows on a helper thread, when one is wanted (the helper counts its own half's nonzeros)
      return split?.(backend, a, b, transposeA, sparse, nnz) ?? productBy(backend, a, b, transposeA, sparse, nnz);
    } finally {
      for (const t of temporaries) backend.disposeData(t.dataId);
    }
  });
}
