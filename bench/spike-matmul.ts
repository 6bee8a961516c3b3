/**
 * The event-driven BatchMatMul of src/kernels/spike-matmul.ts against the stock dense kernel, at the
 * first layer's shapes and a recurrent layer's, for Bernoulli spike matrices of several densities:
 * `x · W` (forward) and `xᵀ · g` (weight gradient). The dense figures come from the same matrix
 * with 1e-30 added to every entry (no zeros left, so the stock kernel runs; the values are equal
 * to float precision, and the largest difference is printed).
 *
 *     npm run build && node dist/bench/spike-matmul.js
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/kernels/backend.js';
import { sparseStats, SPARSE_DENSITY } from '../src/kernels/spike-matmul.js';
await initBackend({ backend: 'wasm' });
function time(f: () => tf.Tensor, runs = 5) {
  const ts: number[] = [];
  for (let i = 0; i < runs + 1; i++) {
    const t0 = performance.now();
    const r = f();
    r.dataSync();
    ts.push(performance.now() - t0);
    r.dispose();
  }
  return ts.slice(1).sort((a, b) => a - b)[Math.floor(runs / 2)]!;
}
for (const [M, K, N] of [
  [3200, 784, 512],
  [3200, 784, 1000],
  [128, 512, 512],
] as const) {
  for (const rho of [0.05, 0.13, 0.25, 0.5]) {
    const x = tf.tidy(() => tf.cast(tf.less(tf.randomUniform([M, K], 0, 1, 'float32', 1), rho), 'float32'));
    const w = tf.randomNormal([K, N], 0, 0.1, 'float32', 2);
    const g = tf.randomNormal([M, N], 0, 0.1, 'float32', 3);
    const s0 = sparseStats.sparse;
    const tS = time(() => tf.matMul(x, w));
    const tSA = time(() => tf.matMul(x, g, true, false));
    const used = sparseStats.sparse > s0;
    const xd = tf.add(x, 1e-30 as unknown as tf.Tensor);
    const tD = time(() => tf.matMul(xd, w));
    const tDA = time(() => tf.matMul(xd, g, true, false));
    const e1 = tf.tidy(() => tf.max(tf.abs(tf.sub(tf.matMul(x, w), tf.matMul(xd, w)))).dataSync()[0]);
    const e2 = tf.tidy(() => tf.max(tf.abs(tf.sub(tf.matMul(x, g, true, false), tf.matMul(xd, g, true, false)))).dataSync()[0]);
    console.log(
      `${M}x${K}x${N} rho=${rho} sparse=${used} x·W ${tS.toFixed(1)} vs dense ${tD.toFixed(1)} | xᵀ·g ${tSA.toFixed(1)} vs ${tDA.toFixed(1)} err ${e1} ${e2}`,
    );
    tf.dispose([x, w, g, xd]);
  }
}
console.log(`density limit ${SPARSE_DENSITY}; products: ${JSON.stringify(sparseStats)}; live tensors ${tf.memory().numTensors}`);
