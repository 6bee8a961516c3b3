/**
 * BPTT's fused recurrent LIF loop (src/kernels/lif-recurrent-sequence.ts): its spikes and its
 * gradients (for the currents and for V) against autodiff of the unrolled separate ops with the
 * recurrent input s_{t−1} V added each step, for every reset, with the reset detached or not; and
 * the BPTT estimator on a recurrent network with it against the same estimator unrolled.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { lifRecurrentSequence } from '../src/kernels/lif-recurrent-sequence.js';
import { bptt } from '../src/learning/estimators/bptt.js';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import { lifStep, type ResetMode } from '../src/neurons/lif.js';
import { lif } from '../src/neurons/params.js';
import { atan, surrogateSpike } from '../src/neurons/surrogate.js';
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
function unrolled(x: tf.Tensor, v: tf.Tensor, reset: ResetMode, detachReset: boolean): tf.Tensor {
  const p = lif({ beta: BETA, threshold: THRESHOLD, reset });
  const fire = (u: tf.Tensor, threshold: tf.Tensor | number) => surrogateSpike(atan())(tf.sub(u, threshold));
  let state = { membrane: tf.zeros([R, N]), spikes: tf.zeros([R, N]) } as Parameters<typeof lifStep>[1];
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
