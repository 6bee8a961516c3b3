/**
 * BPTT's fused recurrent LIF loop (src/kernels/lif-recurrent-sequence.ts): its spikes and its
 * gradients (for the currents and for V) against autodiff of the unrolled separate ops with the
 * recurrent input s_{t−1} V added each step, for every reset, with the reset detached or not; and
 * the BPTT estimator on a recurrent network with it against the same estimator unrolled.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { lifRecurrentSequence } from '../src/kernels/lif-recurrent-sequence.js';
import { useFusedKernels } from '../src/kernels/noisy-lif-kernel.js';
import { sparseStats } from '../src/kernels/spike-matmul.js';
import { recurrentKernelsActive } from '../src/kernels/recurrent-loops.js';
import { bptt } from '../src/learning/estimators/bptt.js';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import { lifStep, type ResetMode } from '../src/neurons/lif.js';
import { lif } from '../src/neurons/params.js';
import { atan, surrogateSpike, triangular, type Surrogate } from '../src/neurons/surrogate.js';
import { dense, readout, recurrent } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';

const spread = (n: number, seed: number, lo: number, hi: number) =>
  Float32Array.from({ length: n }, (_, i) => lo + (hi - lo) * (0.5 + 0.5 * Math.sin(seed * 7919 + i * 12.9898)));

const [T, R, N] = [8, 3, 29];
const [BETA, THRESHOLD] = [0.85, 0.7];

/** x forward, zero gradient backward. */
const constant = tf.customGrad(((x: tf.Tensor) => ({ value: tf.mul(x, 1), gradFunc: (dy: tf.Tensor) => tf.mul(dy, 0) })) as unknown as Parameters<
  typeof tf.customGrad
>[0]) as unknown as (x: tf.Tensor) => tf.Tensor;

/** The unrolled separate ops: step t's current is `x[t] + s_{t−1} V`; `detachReset`: the neuron's own update takes s_{t−1} as a constant. */
function unrolled(x: tf.Tensor, v: tf.Tensor, reset: ResetMode, detachReset: boolean, surrogate: Surrogate = atan()): tf.Tensor {
  const p = lif({ beta: BETA, threshold: THRESHOLD, reset });
  const fire = (u: tf.Tensor, threshold: tf.Tensor | number) => surrogateSpike(surrogate)(tf.sub(u, threshold));
  const shape = x.shape.slice(1);
  let state = { membrane: tf.zeros(shape), spikes: tf.zeros(shape) } as Parameters<typeof lifStep>[1];
  const out: tf.Tensor[] = [];
  for (const drive of tf.unstack(x)) {
    const input = tf.add(drive, tf.matMul(state.spikes, v));
    state = lifStep(input, detachReset ? { ...state, spikes: constant(state.spikes) } : state, p, fire, 0);
    out.push(state.spikes);
  }
  return tf.stack(out);
}

describe('the fused recurrent LIF loop', () => {
  const cases = (['subtract', 'zero', 'none'] as const).flatMap((reset) => [false, true].map((detach) => [reset, detach] as const));
  it.each(cases)('reset %s (detached: %s): the unrolled loop’s spikes to the bit, and its gradients for the currents and V', (reset, detachReset) => {
    const x = tf.tensor(spread(T * R * N, 1, -0.6, 1.4), [T, R, N]);
    const v = tf.tensor(spread(N * N, 2, -0.25, 0.25), [N, N]);
    const weight = tf.tensor(spread(T * R * N, 3, -1, 1), [T, R, N]); // a loss Σ w ⊙ s that reads every spike
    const loss = (f: (x: tf.Tensor, v: tf.Tensor) => tf.Tensor) => (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(weight, f(a, b)));
    const fused = (a: tf.Tensor, b: tf.Tensor) => lifRecurrentSequence(a, b, { beta: BETA, threshold: THRESHOLD, reset, surrogate: atan(), detachReset });
    const plain = (a: tf.Tensor, b: tf.Tensor) => unrolled(a, b, reset, detachReset);
    const spikes = fused(x, v);
    expect(Array.from(spikes.dataSync())).toEqual(Array.from(plain(x, v).dataSync()));
    const fires = spikes.sum().dataSync()[0]!;
    expect(fires).toBeGreaterThan(0.2 * T * R * N); // the recurrence and the resets are exercised
    expect(fires).toBeLessThan(0.8 * T * R * N);
    const [gx, gv] = tf.grads(loss(fused))([x, v]);
    const [ex, ev] = tf.grads(loss(plain))([x, v]);
    // the same sums in another order: float32 rounding apart
    const close = (a: tf.Tensor, b: tf.Tensor) => {
      const scale = Math.max(...Array.from(tf.abs(b).dataSync()));
      expect(Math.max(...Array.from(tf.abs(tf.sub(a, b)).dataSync()))).toBeLessThan(1e-5 * scale);
    };
    close(gx!, ex!);
    close(gv!, ev!);
  });

  /** Spikes and both gradients of Σ w ⊙ s through the fused op with `surrogate`, as arrays. */
  const outputs = (surrogate: Surrogate, reset: ResetMode = 'subtract', [t, r, n] = [T, R, N], sparse?: { count: number }) => {
    const x = tf.tensor(spread(t * r * n, 1, -0.6, 1.4), [t, r, n]);
    const v = tf.tensor(
      spread(n * n, 2, -0.25, 0.25).map((w) => (w * 29) / n),
      [n, n],
    );
    const weight = tf.tensor(spread(t * r * n, 3, -1, 1), [t, r, n]);
    const f = (a: tf.Tensor, b: tf.Tensor) => lifRecurrentSequence(a, b, { beta: BETA, threshold: THRESHOLD, reset, surrogate });
    const spikes = f(x, v);
    const before = sparseStats.sparse;
    const [gx, gv] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(weight, f(a, b))))([x, v]);
    if (sparse) sparse.count = sparseStats.sparse - before;
    const [ex, ev] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(weight, unrolled(a, b, reset, false, surrogate))))([x, v]);
    const out = [spikes, gx!, gv!, ex!, ev!].map((t) => Float32Array.from(t.dataSync()));
    tf.dispose([x, v, weight, spikes, gx!, gv!, ex!, ev!]);
    return out;
  };
  const bitsOf = (a: Float32Array) => Buffer.from(a.buffer).toString('hex');

  it('runs as wasm kernels here; a surrogate of no known form (its slope an operand) gives the known form’s gradients bit for bit', () => {
    expect(recurrentKernelsActive()).toBe(true);
    const known = outputs(atan());
    const given = outputs({ ...atan(), form: undefined } as Surrogate);
    for (const i of [0, 1, 2]) expect(bitsOf(given[i]!)).toBe(bitsOf(known[i]!));
  });

  it('the separate-ops loop (fused kernels off) agrees with the kernels, and a surrogate whose slope is mostly zero takes the sparse product', () => {
    const kernels = outputs(atan());
    useFusedKernels(false);
    try {
      expect(recurrentKernelsActive()).toBe(false);
      const ops = outputs(atan());
      expect(Array.from(ops[0]!)).toEqual(Array.from(kernels[0]!));
      for (const i of [1, 2]) {
        const scale = Math.max(...ops[i]!.map(Math.abs));
        expect(Math.max(...ops[i]!.map((x, j) => Math.abs(x - kernels[i]![j]!)))).toBeLessThan(1e-5 * scale);
      }
    } finally {
      useFusedKernels(true);
    }
    // triangular of width 0.05: the slope is zero away from the threshold, so most of a_{t+1} is; 8 · 600 ≥ the sparse path's least size
    const sparse = { count: 0 };
    const [spikes, gx, gv, ex, ev] = outputs(triangular({ width: 0.05 }), 'zero', [6, 8, 600], sparse);
    expect(spikes!.some((x) => x === 1)).toBe(true);
    expect(gx!.filter((x) => x !== 0).length).toBeLessThan(0.3 * gx!.length);
    expect(gx!.some((x) => x !== 0)).toBe(true);
    expect(sparse.count).toBeGreaterThanOrEqual(5); // a_{t+1} Vᵀ at each of the steps after the last
    for (const [got, want] of [
      [gx!, ex!],
      [gv!, ev!],
    ] as const) {
      const scale = want.reduce((m, x) => Math.max(m, Math.abs(x)), 1e-6);
      expect(got.reduce((m, x, j) => Math.max(m, Math.abs(x - want[j]!)), 0)).toBeLessThan(1e-5 * scale);
    }
  });

  it('gives the BPTT estimator of a recurrent network the unrolled estimator’s gradients, with the live tensor count flat', () => {
    const net = new Network({
      input: [20],
      layers: [
        dense({ name: 'in', units: 24, neuron: lif({ beta: 0.9 }) }),
        recurrent({ name: 'rec', units: 24, neuron: lif({ beta: 0.9 }) }),
        readout({ name: 'out', units: 5, beta: 0.9 }),
      ],
      seed: 3,
    });
    const input = tf
      .tensor(spread(6 * 10 * 20, 4, 0, 1), [6, 10, 20])
      .greater(0.6)
      .cast('float32');
    const batch = { input, labels: tf.tensor1d([0, 1, 2, 3, 4, 0], 'int32') };
    const loss = membraneCrossEntropy('mean');
    const fused = bptt({ surrogate: atan() }).estimate(net, batch, loss, 0);
    // truncation longer than the run unrolls the loop and detaches nothing: plain autodiff
    const plain = bptt({ surrogate: atan(), truncate: 1000 }).estimate(net, batch, loss, 0);
    expect(fused.loss).toBeCloseTo(plain.loss, 6);
    for (const [v, g] of plain.gradients) {
      const got = fused.gradients.get(v)!;
      const scale = Math.max(1e-6, ...Array.from(tf.abs(g).dataSync()));
      expect(Math.max(...Array.from(tf.abs(tf.sub(got, g)).dataSync()))).toBeLessThan(1e-4 * scale);
    }
    fused.dispose();
    plain.dispose();
    const before = tf.memory().numTensors;
    bptt({ surrogate: atan() }).estimate(net, batch, loss, 0).dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
