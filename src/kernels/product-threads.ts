/**
 * Both cores for the large matrix products (issue 17, item 5): the wasm backend runs on one
 * thread, and its heap cannot be shared with another, so a helper thread with its own wasm backend
 * takes half of every large product — the bottom half of the output rows — through one
 * SharedArrayBuffer: the calling thread copies in that half's operands, wakes the helper, computes
 * the top half itself, waits, and copies the helper's rows into the output. Each output row is
 * computed as a one-thread product computes it (the same kernels, the same summation order), so
 * results are bit-identical whatever the thread count. Products below {@link MIN_MACS}
 * multiply–adds stay on the calling thread, where the copies would cost more than the half saved:
 * in practice BPTT's input layer (a `[T·B, 784] × [784, H]` product and its weight gradient) and
 * the other large dense layers. Node only; the helper starts on the first large product.
 */
import type * as tf from '@tensorflow/tfjs';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compiledModule } from '../core/compiled-module.js';
import { productBlock, productBy, type SplitProduct } from './spike-matmul.js';
import type { WasmBackend } from './wasm-module.js';
import { threadTimeoutSeconds, waitWhile } from '../core/bounded-wait.js';
import { TASKS, type RowSplitter } from './recurrent-loops.js';

/** Products with fewer multiply–adds than this stay on one thread. */
export const MIN_MACS = 2 ** 27;
/** Bytes of the buffer shared with the helper (operands and result of its half). */
const CAPACITY = 64 * 2 ** 20;

// control words: [0] state, [TASK_AT] the task (TASKS); a product's [1] rows, [2] inner, [3] cols, [4] transposeA, [5] sparse
const IDLE = 0,
  WORK = 1,
  DONE = 2,
  FAILED = 3,
  READY = 4;

interface Helper {
  readonly worker: Worker;
  readonly control: Int32Array;
  readonly data: Float32Array;
}

let wanted = 1;
let helper: Helper | undefined;
let unavailable: string | undefined;
/** Products split so far (tests and benches read it). */
export const threadStats = { split: 0 };

/** Threads for large products: 1 (off), 2 (a helper thread), or 'auto' (2 where the machine has two cores or more). */
export function setProductThreads(threads: number | 'auto'): void {
  const n = threads === 'auto' ? Math.min(2, os.availableParallelism?.() ?? os.cpus().length) : threads;
  if (!Number.isInteger(n) || n < 1 || n > 2) throw new Error(`threads must be 1, 2 or 'auto', got ${threads}`);
  wanted = n;
  if (n === 1) stopProductThreads();
}

/** The threads large products run on now (1 or 2). */
export function productThreads(): number {
  return wanted;
}

/** Stops the helper thread (large products run on the calling thread until threads are set again). */
export function stopProductThreads(): void {
  if (helper) void helper.worker.terminate();
  helper = undefined;
}

/** The helper, started (synchronously: the calling thread waits for its backend) on first use. */
function startHelper(): Helper | undefined {
  if (helper || unavailable) return helper;
  const here = fileURLToPath(import.meta.url);
  const file = compiledModule(path.join(path.dirname(here), `product-thread${path.extname(here)}`));
  const shared = new SharedArrayBuffer(CAPACITY + 64);
  const control = new Int32Array(shared, 0, 16);
  const worker = new Worker(file, { workerData: { shared, capacity: CAPACITY } });
  worker.unref();
  // the helper's backend starts on its own thread while this one waits (at most 30 s)
  Atomics.wait(control, 0, IDLE, 30_000);
  if (Atomics.load(control, 0) !== READY) {
    void worker.terminate();
    unavailable = 'the helper thread did not start';
    process.stderr.write(`spikelr: large products stay on one thread (${unavailable})\n`);
    return undefined;
  }
  Atomics.store(control, 0, IDLE);
  helper = { worker, control, data: new Float32Array(shared, 64, CAPACITY / 4) };
  return helper;
}

const heapView = (backend: WasmBackend, t: tf.TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;

/**
 * `op(a) · b` (`a` [r, c], `b` already untransposed) on two threads, each half of the output rows
 * by the path chosen for the whole product (`sparse`; `nnz`, a's nonzeros, for that path); undefined
 * when it stays on one thread. This thread's half is read from a in place and written into the
 * output's rows (spike-matmul.ts' productBlock), except for a dense aᵀ, whose block is copied and
 * transposed; the helper's half goes through the shared buffer. A helper that fails hands its half
 * back to this thread, which then works alone.
 */
export const splitProduct: SplitProduct = (backend, a, b, transposeA, sparse, nnz) => {
  if (wanted < 2 || a.dtype !== 'float32' || b.dtype !== 'float32') return undefined;
  const [r, c] = a.shape as [number, number];
  const [k, n] = b.shape as [number, number];
  const m = transposeA ? c : r;
  if (m < 2 || m * k * n < MIN_MACS) return undefined;
  // the helper's half: rows [h, m) of the output; it needs those rows of op(a) and all of b
  const h = Math.floor(m / 2),
    lower = m - h;
  if ((lower * k + k * n + lower * n) * 4 > CAPACITY) return undefined;
  const worker = startHelper();
  if (!worker) return undefined;
  const { control, data } = worker;
  const bound = nnz ?? r * c;
  const direct = sparse || !transposeA;
  // a block of op(a)'s rows as a stored operand: [rows, k], or for aᵀ the column block of a, [r, rows]
  const operandShape = (rows: number) => (transposeA ? [r, rows] : [rows, k]);
  // allocations first: views of the heap are taken after the last one (a growing heap detaches them)
  const out = backend.makeOutput([m, n], 'float32');
  const top = direct ? undefined : backend.makeOutput(operandShape(h), 'float32');
  const av = heapView(backend, a);
  const block = (rows: number, from: number, into: Float32Array) => {
    if (!transposeA) into.set(av.subarray(from * k, (from + rows) * k));
    else for (let i = 0; i < r; i++) into.set(av.subarray(i * c + from, i * c + from + rows), i * rows);
  };
  block(lower, h, data.subarray(0, lower * k));
  data.set(heapView(backend, b), lower * k);
  if (top) block(h, 0, heapView(backend, top));
  // the parameters first, the state last: a helper that sees WORK sees its whole task
  control.set([lower, k, n, transposeA ? 1 : 0, sparse ? 1 : 0], 1);
  control[TASK_AT] = TASKS.product;
  Atomics.store(control, 0, WORK);
  Atomics.notify(control, 0);
  // this thread's half meanwhile; whatever happens, the helper is waited for before the buffer is reused
  let mine: tf.TensorInfo | undefined;
  try {
    if (top) mine = productBy(backend, top, b, transposeA, sparse);
    else productBlock(backend, a, b, transposeA, sparse, bound, 0, h, out);
  } finally {
    if (top) backend.disposeData(top.dataId);
    // a helper that does not answer in time is taken for dead: its half is computed here below
    waitWhile(control, 0, WORK);
  }
  // the helper's answer, read before the word goes back to IDLE
  const state = Atomics.load(control, 0);
  Atomics.store(control, 0, IDLE);
  if (state === DONE) {
    threadStats.split++;
    heapView(backend, out).set(data.subarray(lower * k + k * n, lower * k + k * n + lower * n), h * n);
  } else {
    // the helper failed (its heap, most likely) or never answered: its half here, and this thread alone from now on
    helperLost(state, 'large products');
    if (direct) productBlock(backend, a, b, transposeA, sparse, bound, h, lower, out);
    else {
      const bottom = backend.makeOutput(operandShape(lower), 'float32');
      heapView(backend, bottom).set(data.subarray(0, lower * k));
      const rest = productBy(backend, bottom, b, transposeA, sparse);
      backend.disposeData(bottom.dataId);
      heapView(backend, out).set(heapView(backend, rest), h * n);
      backend.disposeData(rest.dataId);
    }
  }
  if (mine) {
    heapView(backend, out).set(heapView(backend, mine));
    backend.disposeData(mine.dataId);
  }
  return out;
};

/** The loop tasks' parameters: [1] steps T, [2] the helper's rows, [3] units N, [4 …] the integers of recurrent-loops.ts' encodeParams; its floats from FLOATS_AT. */
export const TASK_AT = 9,
  FLOATS_AT = 10;

/**
 * A recurrent loop on two threads: the batch axis (axis 1) of every `[T, B, N]` tensor in `rows`
 * split in two, the helper running `task` on the bottom half while this thread's `local` computes
 * the top half's rows of the whole-size outputs in place (no slices of the operands, no joining
 * concat), with `v` `[N, N]` shared and `params` (recurrent-loops.ts' encodeParams: the neuron's
 * constants, the reset, the kernels-or-ops choice and the surrogate's form) as its parameters; the
 * helper's rows of the `outputs` `[T, B, N]` are copied into them. Undefined where it stays on one
 * thread (one thread asked for, fewer than MIN_MACS multiply–adds of `T·B·N²`, too large for the
 * buffer, or no helper). Rows never meet in these loops, so the result is the one-thread loop's.
 */
export const splitRows: RowSplitter = (task, rows, v, outputs, params, local, tfl) => {
  if (wanted < 2) return undefined;
  const [T, B, N] = rows[0]!.shape as [number, number, number];
  if (B < 2 || T * B * N * N < MIN_MACS || [...rows, v].some((x) => x.dtype !== 'float32')) return undefined;
  const h = Math.floor(B / 2),
    lower = B - h;
  const half = T * lower * N;
  if (((rows.length + outputs) * half + N * N) * 4 > CAPACITY) return undefined;
  const worker = startHelper();
  if (!worker) return undefined;
  const { control, data } = worker;
  const floats = new Float32Array(control.buffer, FLOATS_AT * 4, 16 - FLOATS_AT);
  // the helper's operands straight from the heap: each tensor's bottom rows, step by step, then V
  const backend = tfl.backend() as unknown as WasmBackend;
  const info = (x: tf.Tensor): tf.TensorInfo => ({ dataId: x.dataId, shape: x.shape, dtype: 'float32' });
  rows.forEach((x, i) => {
    const view = heapView(backend, info(x));
    for (let t = 0; t < T; t++) data.set(view.subarray((t * B + h) * N, (t + 1) * B * N), i * half + t * lower * N);
  });
  data.set(heapView(backend, info(v)), rows.length * half);
  floats.set(params.floats);
  control.set([T, lower, N, ...params.ints], 1);
  control[TASK_AT] = task;
  Atomics.store(control, 0, WORK);
  Atomics.notify(control, 0);
  let mine: tf.Tensor[] | undefined;
  try {
    mine = local(h);
  } finally {
    waitWhile(control, 0, WORK);
  }
  const state = Atomics.load(control, 0);
  Atomics.store(control, 0, IDLE);
  if (state !== DONE) {
    tfl.dispose(mine);
    helperLost(state, 'recurrent loops');
    return undefined;
  }
  threadStats.split++;
  // the helper's rows into the rows local(h) left, step by step (the outputs are this call's own, fresh from their kernels)
  const from = rows.length * half + N * N;
  mine.forEach((out, j) => {
    const view = heapView(backend, info(out));
    for (let t = 0; t < T; t++) view.set(data.subarray(from + j * half + t * lower * N, from + j * half + (t + 1) * lower * N), (t * B + h) * N);
  });
  return mine;
};

/** The helper failed or never answered (`state`, its last word): it is stopped, and `what` runs on this thread alone from now on. */
function helperLost(state: number, what: string): void {
  stopProductThreads();
  unavailable = state === WORK ? `the helper thread did not answer within ${threadTimeoutSeconds()} s` : 'the helper thread failed';
  process.stderr.write(`spikelr: ${what} back on one thread (${unavailable})\n`);
}

/** The control words' states, for the helper thread (product-thread.ts). */
export const STATES = { IDLE, WORK, DONE, FAILED, READY } as const;
