/**
 * Large products on two threads (src/kernels/product-threads.ts): every output row is computed as the
 * one-thread product computes it, so the result must equal the one-thread result bit for bit — for
 * the event-driven and the dense path, with and without a transposed operand, for an odd number of
 * rows — and small products must stay on the calling thread.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lifRecurrentSequence } from '../src/kernels/lif-recurrent-sequence.js';
import { useFusedKernels } from '../src/kernels/noisy-lif-kernel.js';
import { MIN_MACS, setProductThreads, threadStats } from '../src/kernels/product-threads.js';
import { atan } from '../src/neurons/surrogate.js';

afterAll(() => setProductThreads(1));

/** `f` with one thread and with two: both results, and how many products the second split. */
function both(f: () => tf.Tensor): { one: Float32Array; two: Float32Array; split: number } {
  setProductThreads(1);
  const r1 = f();
  const one = r1.dataSync() as Float32Array;
  r1.dispose();
  setProductThreads(2);
  const before = threadStats.split;
  const r2 = f();
  const two = r2.dataSync() as Float32Array;
  r2.dispose();
  return { one, two, split: threadStats.split - before };
}

const bits = (x: Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);

describe('large products on two threads', () => {
  // 1001 × 521 × 300 ≈ 1.2 MIN_MACS: split, with an odd number of output rows
  let spikes: tf.Tensor, dense: tf.Tensor, w: tf.Tensor, delta: tf.Tensor;
  beforeAll(() => {
    spikes = tf.tidy(() => tf.cast(tf.less(tf.randomUniform([1001, 521], 0, 1, 'float32', 1), 0.12), 'float32'));
    dense = tf.randomNormal([1001, 521], 0, 1, 'float32', 2);
    w = tf.randomNormal([521, 300], 0, 1, 'float32', 3);
    delta = tf.randomNormal([1001, 300], 0, 1, 'float32', 4);
  });
  afterAll(() => tf.dispose([spikes, dense, w, delta]));

  it.each([
    ['spikes · W (event-driven)', () => tf.matMul(spikes, w)],
    ['spikesᵀ · δ (event-driven, transposed)', () => tf.matMul(spikes, delta, true, false)],
    ['x · W (dense)', () => tf.matMul(dense, w)],
    ['xᵀ · δ (dense, transposed)', () => tf.matMul(dense, delta, true, false)],
    ['x · Wᵀᵀ (the other operand transposed)', () => tf.tidy(() => tf.matMul(dense, tf.transpose(w), false, true))],
  ] as const)('%s: the one-thread result, bit for bit', (_, f) => {
    expect(1001 * 521 * 300).toBeGreaterThan(MIN_MACS);
    const r = both(f);
    expect(r.split).toBe(1);
    expect(r.two.length).toBe(r.one.length);
    expect(bits(r.two).equals(bits(r.one))).toBe(true);
  });

  it("narrow outputs (a readout's 10 or 20 columns) split too: the one-thread result, bit for bit", () => {
    // 6400 × 2100 × 10 just past MIN_MACS; this thread's block of spikesᵀ is a block of columns, listed in place
    const x = tf.tidy(() => tf.cast(tf.less(tf.randomUniform([6400, 2100], 0, 1, 'float32', 5), 0.12), 'float32'));
    const [d10, d20, w10] = [
      tf.randomNormal([6400, 10], 0, 1, 'float32', 6),
      tf.randomNormal([6400, 20], 0, 1, 'float32', 7),
      tf.randomNormal([2100, 10], 0, 1, 'float32', 8),
    ];
    expect(6400 * 2100 * 10).toBeGreaterThan(MIN_MACS);
    for (const f of [() => tf.matMul(x, d10, true, false), () => tf.matMul(x, d20, true, false), () => tf.matMul(x, w10)]) {
      const r = both(f);
      expect(r.split).toBe(1);
      expect(bits(r.two).equals(bits(r.one))).toBe(true);
    }
    tf.dispose([x, d10, d20, w10]);
  });

  it('a small product stays on the calling thread; the live tensor count stays flat', () => {
    const r = both(() => tf.matMul(dense.slice([0, 0], [100, 521]), w));
    expect(r.split).toBe(0);
    expect(bits(r.two).equals(bits(r.one))).toBe(true);
    setProductThreads(2);
    tf.dispose(tf.matMul(dense, w));
    const live = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) tf.dispose(tf.matMul(spikes, delta, true, false));
    expect(tf.memory().numTensors).toBe(live);
  });

  it('refuses a thread count it cannot run', () => {
    expect(() => setProductThreads(3)).toThrow(/threads must be 1, 2 or 'auto', got 3/);
  });
});

describe('a recurrent LIF loop on two threads (BPTT of a recurrent layer)', () => {
  it.each([
    ['kernels', true],
    ['tensor ops', false],
  ])('the helper runs half the rows through both loops (%s): the one-thread spikes and gradients, bit for bit', (_path, fused) => {
    // T·B·N² = 8 · 5 · 2048² ≈ 1.25 MIN_MACS: split, with an odd number of rows
    const [T, B, N] = [8, 5, 2048];
    expect(T * B * N * N).toBeGreaterThan(MIN_MACS);
    const x = tf.randomUniform([T, B, N], -0.6, 1.4, 'float32', 5);
    const v = tf.randomUniform([N, N], -0.01, 0.01, 'float32', 6);
    const weight = tf.randomNormal([T, B, N], 0, 1, 'float32', 7);
    useFusedKernels(fused);
    const tensors = tf.memory().numTensors;
    for (const reset of ['subtract', 'zero'] as const) {
      const f = (a: tf.Tensor, b: tf.Tensor) => lifRecurrentSequence(a, b, { beta: 0.85, threshold: 0.7, reset, surrogate: atan(), detachReset: false });
      const run = () => {
        const spikes = f(x, v);
        const [gx, gv] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(weight, f(a, b))))([x, v]);
        const out = [spikes, gx!, gv!].map((t) => t.dataSync() as Float32Array);
        tf.dispose([spikes, gx!, gv!]);
        return out;
      };
      setProductThreads(1);
      const one = run();
      setProductThreads(2);
      const before = threadStats.split;
      const two = run();
      expect(threadStats.split - before).toBeGreaterThanOrEqual(2); // the forward loop and the backward loop, at least
      const rate = one[0]!.reduce((a, b) => a + b, 0) / one[0]!.length;
      expect(rate).toBeGreaterThan(0.1); // the recurrence and the resets are exercised
      expect(rate).toBeLessThan(0.9);
      one.forEach((o, i) => expect(bits(two[i]!).equals(bits(o)), `${reset}: output ${i}`).toBe(true));
    }
    useFusedKernels(true);
    expect(tf.memory().numTensors).toBe(tensors);
    tf.dispose([x, v, weight]);
  });
});
