/**
 * The helper thread of product-threads.ts: its own wasm backend; it sleeps on the shared control
 * word until the calling thread posts half a product (its operands in the shared buffer), computes
 * it by the path the calling thread chose, writes the rows back and wakes the caller.
 */
import * as tf from '@tensorflow/tfjs';
import { workerData } from 'node:worker_threads';
import { initBackend } from './backend.js';
import { FLOATS_AT, STATES, TASK_AT } from './product-threads.js';
import { backwardOperands, decodeParams, operandCount, recurrentBackward, recurrentForward, TASKS } from './recurrent-loops.js';
import { productBy } from './spike-matmul.js';
import type { WasmBackend } from './wasm-module.js';

const { shared, capacity } = workerData as { shared: SharedArrayBuffer; capacity: number };
const control = new Int32Array(shared, 0, 16);
const data = new Float32Array(shared, 64, capacity / 4);
const floats = new Float32Array(shared, FLOATS_AT * 4, 16 - FLOATS_AT);

/** Half the rows of a recurrent loop: the operands' bottom rows and V in the buffer, the outputs after them. */
function loop(task: number): void {
  const [T, rows, N] = Array.from(control.subarray(1, 4)) as [number, number, number];
  const p = decodeParams(control.subarray(4, TASK_AT), floats);
  const half = T * rows * N;
  const count = operandCount(task, p);
  const operands = Array.from({ length: count }, (_, i) => tf.tensor(data.subarray(i * half, (i + 1) * half), [T, rows, N], 'float32'));
  const v = tf.tensor(data.subarray(count * half, count * half + N * N), [N, N], 'float32');
  const outputs =
    task === TASKS.recurrentForward
      ? ((r) => [r.membrane, r.spikes])(recurrentForward(operands[0]!, v, p))
      : [recurrentBackward(backwardOperands(operands, p), v, p)];
  const from = count * half + N * N;
  const backend = tf.backend() as unknown as WasmBackend;
  outputs.forEach((o, j) => data.set(backend.typedArrayFromHeap({ dataId: o.dataId, shape: o.shape, dtype: 'float32' }) as Float32Array, from + j * half));
  tf.dispose([...operands, v, ...outputs]);
}

function signal(state: number): void {
  Atomics.store(control, 0, state);
  Atomics.notify(control, 0);
}

try {
  await initBackend({ backend: 'wasm', log: null });
  signal(STATES.READY);
} catch {
  signal(STATES.FAILED);
  process.exit(1);
}

for (;;) {
  const state = Atomics.load(control, 0);
  if (state !== STATES.WORK) {
    Atomics.wait(control, 0, state);
    continue;
  }
  try {
    const task = control[TASK_AT]!;
    if (task !== TASKS.product) {
      loop(task);
      signal(STATES.DONE);
      continue;
    }
    const [rows, k, n, transposeA, sparse] = Array.from(control.subarray(1, 6));
    const backend = tf.backend() as unknown as WasmBackend;
    const a = tf.tensor(data.subarray(0, rows! * k!), transposeA ? [k!, rows!] : [rows!, k!]);
    const b = tf.tensor(data.subarray(rows! * k!, rows! * k! + k! * n!), [k!, n!]);
    const out = productBy(
      backend,
      { dataId: a.dataId, shape: a.shape, dtype: 'float32' },
      { dataId: b.dataId, shape: b.shape, dtype: 'float32' },
      transposeA === 1,
      sparse === 1,
    );
    data.set(backend.typedArrayFromHeap(out) as Float32Array, rows! * k! + k! * n!);
    backend.disposeData(out.dataId);
    tf.dispose([a, b]);
    signal(STATES.DONE);
  } catch {
    signal(STATES.FAILED);
  }
}
