/**
 * The wasm Slice/Unpack kernels and the BatchMatMul gradient spikelr installs, against the stock
 * implementations on the cpu backend (independent code): identical values on random inputs.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend.js';
import { installMatMulGradient } from '../src/sim/matmul.js';

/** `f` on the wasm backend and on cpu, each output as [dtype, …shape, …values]. */
async function onBoth(f: () => tf.Tensor | tf.Tensor[]): Promise<{ wasm: number[][]; cpu: number[][] }> {
  const run = () => {
    const out = f();
    const list = Array.isArray(out) ? out : [out];
    const values = list.map((t) => [t.dtype, ...t.shape, ...t.dataSync()] as number[]);
    tf.dispose(list);
    return values;
  };
  await tf.setBackend('wasm');
  const wasm = run();
  await tf.setBackend('cpu');
  const cpu = run();
  await tf.setBackend('wasm');
  return { wasm, cpu };
}

const values = (shape: number[], seed: number) => Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(seed * 1000 + i * 0.37));

describe('wasm slice and unpack kernels', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm', log: null });
  });

  const shape = [5, 4, 3, 2];
  const cases: [string, number[], number[]][] = [
    ['one step (contiguous)', [2, 0, 0, 0], [1, -1, -1, -1]],
    ['a run of steps (contiguous)', [1, 0, 0, 0], [3, -1, -1, -1]],
    ['inner rows (contiguous)', [3, 1, 0, 0], [1, 2, -1, -1]],
    ['a single element', [4, 3, 2, 1], [1, 1, 1, 1]],
    ['a column (strided)', [0, 0, 1, 0], [-1, -1, 1, -1]],
    ['a block (strided)', [1, 1, 0, 1], [2, 2, 3, 1]],
  ];
  it.each(cases)('slice: %s equals the cpu kernel', async (_name, begin, size) => {
    const r = await onBoth(() => tf.slice(tf.tensor(values(shape, 1), shape), begin, size));
    expect(r.wasm).toEqual(r.cpu);
  });

  it.each([0, 1, 3, -1])('unpack along axis %i equals the cpu kernel', async (axis) => {
    const r = await onBoth(() => tf.unstack(tf.tensor(values(shape, 2), shape), axis));
    expect(r.wasm.length).toBe(shape.at(axis)!);
    expect(r.wasm).toEqual(r.cpu);
  });

  it('int32 tensors slice exactly', async () => {
    const r = await onBoth(() => tf.slice(tf.tensor(Int32Array.from({ length: 24 }, (_, i) => i * 7 - 50), [6, 4], 'int32'), [2, 0], [3, 4]));
    expect(r.wasm).toEqual(r.cpu);
  });
});

/** Entry (i, j) of matrix `m` of a batch stored `[batch, rows, cols]`, read transposed when `t`. */
const at = (x: Float32Array, dims: number[], batch: number, i: number, j: number, t: boolean) =>
  t ? x[(batch * dims[1]! + j) * dims[2]! + i]! : x[(batch * dims[1]! + i) * dims[2]! + j]!;

describe('matMul gradient without transposed products', () => {
  it.each([
    [false, false],
    [false, true],
    [true, false],
    [true, true],
  ])('transposeA=%s transposeB=%s: both input gradients equal the closed form', async (ta, tb) => {
    await initBackend({ backend: 'wasm', log: null });
    installMatMulGradient();
    // C = op(A)·op(B) with op(A) [2, 3, 4], op(B) [2, 4, 5]; L = Σ C ⊙ G, so ∂L/∂op(A) = G·op(B)ᵀ, ∂L/∂op(B) = op(A)ᵀ·G
    const [n, m, k, p] = [2, 3, 4, 5];
    const aDims = ta ? [n, k, m] : [n, m, k], bDims = tb ? [n, p, k] : [n, k, p];
    const av = values(aDims, 3), bv = values(bDims, 4), gv = values([n, m, p], 5);
    const a = tf.tensor(av, aDims), b = tf.tensor(bv, bDims), g = tf.tensor(gv, [n, m, p]);
    const [da, db] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, ta, tb), g)))([a, b]).map((t) => t.dataSync());
    const gAt = (z: number, i: number, j: number) => gv[(z * m + i) * p + j]!;
    for (let z = 0; z < n; z++) {
      for (let i = 0; i < m; i++)
        for (let l = 0; l < k; l++) {
          let want = 0;
          for (let j = 0; j < p; j++) want += gAt(z, i, j) * at(bv, bDims, z, l, j, tb);
          expect(da![ta ? (z * k + l) * m + i : (z * m + i) * k + l]).toBeCloseTo(want, 5);
        }
      for (let l = 0; l < k; l++)
        for (let j = 0; j < p; j++) {
          let want = 0;
          for (let i = 0; i < m; i++) want += at(av, aDims, z, i, l, ta) * gAt(z, i, j);
          expect(db![tb ? (z * p + j) * k + l : (z * k + l) * p + j]).toBeCloseTo(want, 5);
        }
    }
    tf.dispose([a, b, g]);
  });
});
