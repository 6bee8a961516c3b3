/**
 * The wasm kernels spikelr installs (Slice/Unpack, the event-driven BatchMatMul), against the stock
 * implementations on the cpu backend (independent code) on random inputs, and matMul's gradients
 * through them against the closed form.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/kernels/backend.js';
import { copyPlan, copyUniforms, copyUniformsTensor } from '../src/learning/sampling.js';
import { streamKey } from '../src/core/random.js';
import { SPARSE_DENSITY, sparseStats } from '../src/kernels/spike-matmul.js';
import { heapOffset, kernelsFrom, type WasmBackend } from '../src/kernels/wasm-module.js';
import { readFileSync } from 'node:fs';
import { streamUniforms } from '../src/kernels/uniform-kernel.js';
import { packSpikes, unpackSpikes } from '../src/kernels/spike-bits.js';

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

/** `product` run once to warm up, then five times: the live tensor count and tfjs' byte count stay where they were. */
function expectFlat(product: () => unknown): void {
  product();
  const tensors = tf.memory().numTensors,
    bytes = tf.memory().numBytes;
  for (let i = 0; i < 5; i++) product();
  expect(tf.memory().numTensors).toBe(tensors);
  expect(tf.memory().numBytes).toBe(bytes);
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
    ['one step of every sample (strided rows)', [0, 2, 0, 0], [-1, 1, -1, -1]],
    ['an inner window of every row (strided)', [0, 0, 1, 0], [-1, -1, 2, -1]],
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

  it('int32 and bool tensors slice exactly when strided', async () => {
    const ints = await onBoth(() =>
      tf.slice(
        tf.tensor(
          Int32Array.from({ length: 24 }, (_, i) => i * 7 - 50),
          [4, 6],
          'int32',
        ),
        [1, 2],
        [3, 3],
      ),
    );
    expect(ints.wasm).toEqual(ints.cpu);
    const bools = await onBoth(() =>
      tf.slice(
        tf.tensor(
          Array.from({ length: 24 }, (_, i) => i % 3 === 0),
          [2, 3, 4],
          'bool',
        ),
        [0, 1, 1],
        [2, 2, 2],
      ),
    );
    expect(bools.wasm).toEqual(bools.cpu);
  });

  it('int32 tensors slice exactly', async () => {
    const r = await onBoth(() =>
      tf.slice(
        tf.tensor(
          Int32Array.from({ length: 24 }, (_, i) => i * 7 - 50),
          [6, 4],
          'int32',
        ),
        [2, 0],
        [3, 4],
      ),
    );
    expect(r.wasm).toEqual(r.cpu);
  });
});

/** Entry (i, j) of matrix `m` of a batch stored `[batch, rows, cols]`, read transposed when `t`. */
const at = (x: Float32Array, dims: number[], batch: number, i: number, j: number, t: boolean) =>
  t ? x[(batch * dims[1]! + j) * dims[2]! + i]! : x[(batch * dims[1]! + i) * dims[2]! + j]!;

describe('wasm Tile kernel', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm', log: null });
  });

  it.each<[string, number[], number[]]>([
    ['a batch over steps (direct encoding)', [4, 1, 6], [1, 5, 1]],
    ['every axis', [2, 3, 4], [3, 2, 2]],
    ['the innermost axis', [3, 5], [1, 4]],
    ['the outermost axis (copies)', [6], [3]],
    ['nothing (all ones)', [2, 3], [1, 1]],
    ['an empty axis', [2, 0, 3], [2, 3, 1]],
    ['rank 5 with strided repeats', [2, 1, 3, 1, 2], [2, 3, 1, 2, 3]],
  ])('tile: %s equals the cpu kernel', async (_name, shape, reps) => {
    const r = await onBoth(() => tf.tile(tf.tensor(values(shape, 3), shape), reps));
    expect(r.wasm).toEqual(r.cpu);
  });

  it('int32 and bool tensors tile exactly, and broadcastTo (which runs Tile) too', async () => {
    const ints = await onBoth(() =>
      tf.tile(
        tf.tensor(
          Int32Array.from({ length: 6 }, (_, i) => i * 13 - 20),
          [2, 3],
          'int32',
        ),
        [2, 2],
      ),
    );
    expect(ints.wasm).toEqual(ints.cpu);
    const bools = await onBoth(() => tf.tile(tf.tensor([true, false, true], [3, 1], 'bool'), [2, 3]));
    expect(bools.wasm).toEqual(bools.cpu);
    const broadcast = await onBoth(() => tf.broadcastTo(tf.tensor(values([3, 1, 4], 4), [3, 1, 4]), [2, 3, 5, 4]));
    expect(broadcast.wasm).toEqual(broadcast.cpu);
  });
});

describe('wasm Fill of zeros (a memset in the heap)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm', log: null });
  });
  it('zeros of every numeric dtype over a heap that held other values, and other fills, equal the cpu kernel', async () => {
    // a freed tensor leaves nonzero bytes in the heap for the next allocation to reuse
    tf.dispose(tf.fill([1000], 7));
    for (const dtype of ['float32', 'int32', 'bool'] as const) {
      const r = await onBoth(() => [tf.fill([7, 13], 0, dtype), tf.fill([3], dtype === 'bool' ? 1 : 5, dtype)]);
      expect(r.wasm, dtype).toEqual(r.cpu);
    }
  });
});

describe('wasm Identity and same-type Cast share their input (as the cpu kernels do)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm', log: null });
  });
  it('a clone or a same-type cast allocates nothing and outlives its source; other casts convert as on cpu', async () => {
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const x = tf.tensor(values([4, 6], 3), [4, 6]);
    const ints = tf.tensor([1, -2, 3], [3], 'int32');
    const before = backend.numDataIds();
    const y = x.clone(),
      z = tf.cast(x, 'float32'),
      w = tf.cast(ints, 'int32');
    expect(backend.numDataIds()).toBe(before); // no new buffers
    const expected = Array.from(x.dataSync());
    x.dispose();
    ints.dispose();
    expect(Array.from(y.dataSync())).toEqual(expected);
    expect(Array.from(z.dataSync())).toEqual(expected);
    expect(Array.from(w.dataSync())).toEqual([1, -2, 3]);
    tf.dispose([y, z, w]);
    expect(backend.numDataIds()).toBe(before - 2);
    // a gradient through clone and cast, and casts that change the type, as the cpu backend gives them
    const r = await onBoth(() => {
      const a = tf.tensor(values([5], 4), [5]);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.cast(t.clone(), 'float32'), t)))(a);
      return [g, tf.cast(tf.mul(a, 3), 'int32'), tf.cast(tf.tensor([0, 2, 0], [3], 'int32'), 'bool'), tf.cast(tf.tensor([1, 0], [2], 'bool'), 'float32')];
    });
    expect(r.wasm).toEqual(r.cpu);
  });
});

describe('wasm binary kernels on broadcast operands', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm', log: null });
  });
  const ops = ['less', 'lessEqual', 'greater', 'greaterEqual', 'equal', 'notEqual', 'maximum', 'minimum', 'pow', 'floorDiv', 'mod', 'atan2'] as const;
  const shapes: [number[], number[]][] = [
    [
      [3, 4, 5],
      [3, 1, 5],
    ],
    [
      [2, 1, 4],
      [3, 1],
    ],
    [[4], [2, 3, 4]],
    [[2, 3], []],
  ];
  it.each(ops)('%s equals the cpu kernel for operands that broadcast either way', async (op) => {
    for (const [sa, sb] of shapes) {
      // a few exact ties for the comparisons (values on a coarse grid); positive bases for pow, and
      // no zeros where they divide (floorDiv, mod) or meet 0/0 (atan2)
      const shift = op === 'pow' ? 1.5 : ['floorDiv', 'mod', 'atan2'].includes(op) ? 0.125 : 0;
      const grid = (shape: number[], seed: number) => values(shape, seed).map((v) => Math.round(v * 4) / 4 + shift);
      for (const [x, y, seed] of [
        [sa, sb, 5],
        [sb, sa, 7],
      ] as const) {
        // biome-ignore lint/performance/noDynamicNamespaceImportAccess: the ops under test, by name
        const r = await onBoth(() => (tf[op] as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor)(tf.tensor(grid(x, seed), x), tf.tensor(grid(y, seed + 1), y)));
        // the stock kernels differ where the backends do on any shapes: cpu's floorDiv of floats is
        // int32 (wasm's float32), and the two atan2s round differently
        const [w, c] = op === 'floorDiv' ? [r.wasm[0]!.slice(1), r.cpu[0]!.slice(1)] : [r.wasm[0]!, r.cpu[0]!];
        if (op === 'atan2') w.slice(1).forEach((v, i) => expect(Math.abs(v - c[i + 1]!), `${op} [${x}] with [${y}]`).toBeLessThan(1e-6));
        else expect(w, `${op} [${x}] with [${y}]`).toEqual(c);
      }
    }
  });

  it('logical ops on bool and integer ops on int32 operands broadcast exactly', async () => {
    const bools = (n: number, k: number) => Array.from({ length: n }, (_, i) => (i * k) % 3 === 0);
    for (const op of ['logicalAnd', 'logicalOr'] as const) {
      // biome-ignore lint/performance/noDynamicNamespaceImportAccess: the ops under test, by name
      const r = await onBoth(() => tf[op](tf.tensor(bools(24, 1), [2, 3, 4], 'bool'), tf.tensor(bools(4, 2), [1, 1, 4], 'bool')));
      expect(r.wasm).toEqual(r.cpu);
    }
    const ints = await onBoth(() =>
      tf.floorDiv(
        tf.tensor(
          Int32Array.from({ length: 12 }, (_, i) => i * 5 - 20),
          [3, 4],
          'int32',
        ),
        tf.tensor(Int32Array.from([3, -2, 7, 5]), [4], 'int32'),
      ),
    );
    expect(ints.wasm).toEqual(ints.cpu);
  });
});

describe('event-driven BatchMatMul on wasm', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm', log: null });
  });

  /** A [rows, cols] matrix with about `density` of its entries nonzero: 1 when `binary`, else ±(0.5..1.5). */
  function sparse(rows: number, cols: number, density: number, binary: boolean, seed: number): tf.Tensor2D {
    let state = seed >>> 0;
    const next = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    return tf.tensor2d(
      Float32Array.from({ length: rows * cols }, () => (next() < density ? (binary ? 1 : (next() < 0.5 ? -1 : 1) * (0.5 + next())) : 0)),
      [rows, cols],
    );
  }

  const shapes: [string, number, number, number][] = [
    ['columns a multiple of 32', 300, 100, 64],
    ['columns not a multiple of 4 (scalar tail)', 257, 70, 37],
    ['wide output (blocks of 32 and a tail of 8)', 130, 64, 1000],
    ["a readout's 10 columns (rows scanned directly, no lists; tails past 16)", 300, 100, 10],
    ['16 columns, 70 and 257 in the scanned rows (tails)', 257, 70, 16],
    ['24 columns (padded to 32)', 130, 64, 24],
  ];
  const cases = shapes.flatMap(([name, m, k, n]) =>
    [0.02, 0.15].flatMap((density) =>
      [true, false].flatMap((binary) =>
        [false, true].flatMap((ta) =>
          [false, true].map(
            (tb) => [`${name}, density ${density}, ${binary ? 'binary' : 'real'}, tA=${ta} tB=${tb}`, m, k, n, density, binary, ta, tb] as const,
          ),
        ),
      ),
    ),
  );
  it.each(cases)('%s: equals the cpu kernel', async (_name, m, k, n, density, binary, ta, tb) => {
    const before = sparseStats.sparse;
    const r = await onBoth(() => {
      const a = ta ? tf.transpose(sparse(m, k, density, binary, m + n)) : sparse(m, k, density, binary, m + n);
      const b = tf.tensor2d(values([k * n], n), tb ? [n, k] : [k, n]);
      return tf.matMul(a, b, ta, tb);
    });
    expect(sparseStats.sparse).toBe(before + 1);
    expect(r.wasm[0]!.slice(0, 3)).toEqual(['float32', m, n]);
    // sums of at most k products of magnitude ≤ 1.5: float32 rounding stays below k · 1.5 · 2⁻²³ each
    const tolerance = k * 1.5 * 2 ** -23 * 4;
    r.cpu[0]!.slice(3).forEach((want, i) => expect(Math.abs((r.wasm[0]![i + 3] as number) - want)).toBeLessThan(tolerance));
  });

  it('an operand with no nonzeros, and rows without any, give exact zeros', async () => {
    const r = await onBoth(() => {
      const a = tf.concat([tf.zeros([40, 200]), sparse(40, 200, 0.1, true, 9)]);
      return [tf.matMul(tf.zeros([80, 200]), tf.ones([200, 33])), tf.matMul(a, tf.ones([200, 33]))];
    });
    expect(r.wasm[0]!.slice(3).every((v) => v === 0)).toBe(true);
    expect(r.wasm[1]!.slice(3, 3 + 40 * 33).every((v) => v === 0)).toBe(true);
    expect(r.wasm).toEqual(r.cpu); // sums of ones are exact either way
  });

  it(`an operand above ${SPARSE_DENSITY} density takes the dense kernel, transposes included`, async () => {
    const before = { ...sparseStats };
    const r = await onBoth(() => tf.matMul(tf.tensor2d(values([90 * 80], 6), [90, 80]), tf.tensor2d(values([90 * 70], 7), [70, 90]), true, true));
    expect(sparseStats.sparse).toBe(before.sparse);
    expect(sparseStats.dense).toBe(before.dense + 1);
    r.cpu[0]!.slice(3).forEach((want, i) => expect(r.wasm[0]![i + 3]).toBeCloseTo(want, 4));
  });

  it('the live tensor count and the heap stay flat over repeated sparse products', async () => {
    const a = sparse(400, 300, 0.1, true, 3),
      b = tf.tensor2d(values([300 * 128], 8), [300, 128]);
    expectFlat(() => tf.tidy(() => tf.add(tf.sum(tf.matMul(a, b)), tf.sum(tf.matMul(a, tf.transpose(b), true, true))).dataSync()));
    tf.dispose([a, b]);
  });
});

describe('dense BatchMatMul on wasm (assembly/dense.ts: panels of eight columns, tiles of four rows)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm', log: null });
  });

  // tails of every kind: rows not a multiple of 4 or of the 64-row block, columns not of 8, terms past one 256-term block
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [3, 5, 7],
    [4, 8, 8],
    [5, 300, 9],
    [67, 600, 33],
    [130, 257, 100],
  ];
  it.each(shapes.flatMap(([m, k, n]) => [false, true].map((tb) => [m, k, n, tb] as const)))(
    '[%i, %i] · [%i] (tB=%s) is within float32 summation error of the float64 product',
    (m, k, n, tb) => {
      const a = values([m * k], m + 1),
        b = values([k * n], n + 2);
      const before = sparseStats.dense;
      const got = tf.tidy(() => tf.matMul(tf.tensor2d(a, [m, k]), tb ? tf.transpose(tf.tensor2d(b, [k, n])) : tf.tensor2d(b, [k, n]), false, tb).dataSync());
      expect(sparseStats.dense).toBe(before + 1);
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          let exact = 0,
            magnitude = 0;
          for (let t = 0; t < k; t++) {
            exact += a[i * k + t]! * b[t * n + j]!;
            magnitude += Math.abs(a[i * k + t]! * b[t * n + j]!);
          }
          // k roundings of a running sum (each ≤ 2⁻²⁴ of it) and one of each product: |error| ≤ (k + 1) 2⁻²⁴ Σ|a b|
          expect(Math.abs(got[i * n + j]! - exact)).toBeLessThanOrEqual((k + 1) * 2 ** -24 * magnitude + 1e-30);
        }
    },
  );

  it("without relaxed SIMD the kernels give the stock XNNPACK product's bits (k ascending, one multiply and one add a term)", async () => {
    const backend = tf.backend() as unknown as WasmBackend;
    const plain = kernelsFrom(readFileSync(new URL('../src/kernels/assembly/kernels.wasm', import.meta.url)), backend.wasm.asm.memory);
    for (const [m, k, n] of [
      [67, 600, 33],
      [130, 257, 100],
    ] as const) {
      const a = tf.tensor2d(values([m * k], m), [m, k]),
        b = tf.tensor2d(values([k * n], n), [k, n]);
      // a rank-3 product runs the stock kernel (spike-matmul.ts takes rank 2 only)
      const stock = tf.tidy(() => tf.matMul(a.reshape([1, m, k]), b.reshape([1, k, n])).dataSync());
      const out = tf.zeros([m, n]);
      const packed = backend.wasm._malloc(4 * plain.panelFloats(k, n));
      plain.packPanels(heapOffset(backend, b), k, n, 0, packed);
      plain.panelProduct(heapOffset(backend, a), k, m, k, packed, n, heapOffset(backend, out), n);
      backend.wasm._free(packed);
      expect(Array.from(out.dataSync())).toEqual(Array.from(stock));
      tf.dispose([a, b, out]);
    }
  });

  it('the live tensor count and the heap stay flat over repeated dense products', () => {
    const a = tf.tensor2d(values([70 * 300], 4), [70, 300]),
      b = tf.tensor2d(values([300 * 90], 5), [300, 90]);
    expectFlat(() => tf.tidy(() => tf.sum(tf.matMul(a, b)).dataSync()));
    tf.dispose([a, b]);
  });
});

describe('matMul gradients through the wasm kernel', () => {
  it.each([
    [false, false],
    [false, true],
    [true, false],
    [true, true],
  ])('transposeA=%s transposeB=%s: both input gradients equal the closed form', async (ta, tb) => {
    await initBackend({ backend: 'wasm', log: null });
    // C = op(A)·op(B) with op(A) [2, 3, 4], op(B) [2, 4, 5]; L = Σ C ⊙ G, so ∂L/∂op(A) = G·op(B)ᵀ, ∂L/∂op(B) = op(A)ᵀ·G
    const [n, m, k, p] = [2, 3, 4, 5];
    const aDims = ta ? [n, k, m] : [n, m, k],
      bDims = tb ? [n, p, k] : [n, k, p];
    const av = values(aDims, 3),
      bv = values(bDims, 4),
      gv = values([n, m, p], 5);
    const a = tf.tensor(av, aDims),
      b = tf.tensor(bv, bDims),
      g = tf.tensor(gv, [n, m, p]);
    const [da, db] = tf
      .grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, ta, tb), g)))([a, b])
      .map((t) => t.dataSync());
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

describe('wasm uniforms kernel', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm', log: null });
  });

  it.each([
    ['mc', 4, 3, 50, 0],
    ['mc', 8, 5, 37, 499], // rows of 5·37 floats: not a multiple of four (the scalar tail)
    ['antithetic', 6, 4, 33, 7],
  ] as const)('%s, K %i, B %i, N %i, step %i: bit for bit the JavaScript generator', (sampling, copies, batch, n, step) => {
    const plan = copyPlan(copies, sampling);
    const probe = streamUniforms([1, 8], [1], 0, 8, false); // the kernel serves wasm (else this test would compare JS with itself)
    expect(probe).toBeDefined();
    probe!.dispose();
    for (const key of [streamKey(1, 2), 0xfffffff3, 0]) {
      const tensor = copyUniformsTensor(plan, key, step, batch, n, [copies * batch, n]);
      const got = tensor.dataSync();
      const want = copyUniforms(plan, key, step, batch, n);
      expect(Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(Buffer.from(want.buffer))).toBe(true);
      tensor.dispose();
    }
  });
});

describe('wasm Sum over leading axes', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm', log: null });
  });

  const shape = [6, 5, 1100]; // rows of 5500 and 1100 floats: more than one column block, and a tail
  it.each([
    ['axis 0', 0, false, [5, 1100]],
    ['axes 0 and 1', [0, 1], false, [1100]],
    ['axes 1 and 0, keepDims', [1, 0], true, [1, 1, 1100]],
    ['axis −3', -3, false, [5, 1100]],
    ['the last axis (stock kernel)', 2, false, [6, 5]],
    ['axes 0 and 2 (stock kernel)', [0, 2], false, [5]],
    ['all axes (stock kernel)', [0, 1, 2], true, [1, 1, 1]],
  ] as const)('%s equals the cpu kernel', async (_name, axis, keepDims, outShape) => {
    const r = await onBoth(() => tf.sum(tf.tensor(values(shape, 11), shape), axis as number | number[], keepDims));
    const head = ['float32', ...outShape];
    expect(r.wasm[0]!.slice(0, head.length)).toEqual(head);
    expect(r.cpu[0]!.slice(0, head.length)).toEqual(head);
    // sums of at most 6600 terms of magnitude ≤ 1
    r.cpu[0]!.slice(head.length).forEach((want, i) => expect(Math.abs((r.wasm[0]![head.length + i] as number) - want)).toBeLessThan(1e-3));
  });
});

describe("spikes as bits (the layer pipeline's activations)", () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm', log: null });
  });

  /** Bit i of the packing is element i (word i >> 5, bit i & 31), written out by hand. */
  const expectedWords = (v: Float32Array) => {
    const w = new Array<number>(Math.ceil(v.length / 32)).fill(0);
    v.forEach((x, i) => {
      if (x === 1) w[Math.floor(i / 32)] = (w[Math.floor(i / 32)]! + 2 ** (i % 32)) | 0;
    });
    return w;
  };

  it.each([1, 31, 32, 33, 100, 4099])('%i spikes pack to their bits and unpack unchanged, on wasm and cpu alike', async (n) => {
    const spikes = Float32Array.from({ length: n }, (_, i) => ((Math.sin(i * 12.9898 + n) * 43758.5453) % 1 > 0.3 ? 1 : 0) as number);
    for (const backend of ['wasm', 'cpu']) {
      await tf.setBackend(backend);
      const x = tf.tensor(spikes, [n]);
      const words = packSpikes(x)!;
      expect(words, backend).toBeDefined();
      expect([...words], backend).toEqual(expectedWords(spikes));
      const back = unpackSpikes(words, [1, n]);
      expect(back.shape).toEqual([1, n]);
      expect([...back.dataSync()], backend).toEqual([...spikes]);
      tf.dispose([x, back]);
    }
    await tf.setBackend('wasm');
  });

  it.each([
    [33, 32],
    [40, 3],
    [7, 6],
    [64, 0],
  ])('a value neither 0 nor 1 (of %i, at %i) is found, on wasm and cpu alike', async (n, at) => {
    const v = Float32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 1 : 0));
    v[at] = at % 2 ? 0.5 : -1;
    for (const backend of ['wasm', 'cpu']) {
      await tf.setBackend(backend);
      const x = tf.tensor(v);
      expect(packSpikes(x), backend).toBeUndefined();
      x.dispose();
    }
    await tf.setBackend('wasm');
  });

  it('refuses words that cannot hold the shape', () => {
    expect(() => unpackSpikes(new Int32Array(2), [3, 32])).toThrow(/2 words cannot hold the 96 elements of \[3, 32\]/);
  });
});
