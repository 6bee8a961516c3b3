/**
 * The helper thread of product-threads.ts: its own wasm backend; it sleeps on the shared control
 * word until the calling thread posts half a product (its operands in the shared buffer), computes
 * it by the path the calling thread chose, writes the rows back and wakes the caller.
 */
import * as tf from '@tensorflow/tfjs';
import { workerData } from 'node:worker_threads';
import { initBackend } from './backend.js';
import { STATES } from './product-threads.js';
import { productBy } from './spike-matmul.js';
import type { WasmBackend } from './wasm-module.js';

const { shared, capacity } = workerData as { shared: SharedArrayBuffer; capacity: number };
const control = new Int32Array(shared, 0, 16);
const data = new Float32Array(shared, 64, capacity / 4);

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
