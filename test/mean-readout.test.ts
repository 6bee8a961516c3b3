/**
 * A readout's time mean as one map of its time-weighted input (src/sim/loop.ts `meanReadout`, used
 * by LR and BPTT when the loss reads only the mean): against the readout's T steps and the closed
 * form of its weights, the losses' `timeMean` marks against their own values, and LR's and BPTT's
 * gradients against the same estimators running the T steps.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { bptt } from '../src/learning/estimators/bptt.js';
import { likelihoodRatio } from '../src/learning/estimators/lr.js';
import { maskedLoss, membraneCrossEntropy, membraneSquaredError, rateSquaredError, countCrossEntropy, type RowLoss } from '../src/learning/losses.js';
import { rateRegularizer, regularized } from '../src/learning/regularizers.js';
import { escapeNoise } from '../src/neurons/noise.js';
import { lif, readoutNeuron } from '../src/neurons/params.js';
import { readoutModel } from '../src/neurons/readout.js';
import { dense, readout } from '../src/sim/layer.js';
import { meanReadout, population, runFields } from '../src/sim/loop.js';
import { Network } from '../src/sim/network.js';
import { weightedSteps } from '../src/kernels/weighted-steps.js';

/** Deterministic values in [lo, hi). */
const spread = (n: number, seed: number, lo: number, hi: number) =>
  Float32Array.from({ length: n }, (_, i) => lo + (hi - lo) * (0.5 + 0.5 * Math.sin(seed * 7919 + i * 12.9898)));
const maxAbs = (a: ArrayLike<number>) => Math.max(...Array.from(a, Math.abs));
/** The same loss without its marks: learners then run the readout's T steps. */
const unmarked =
  (loss: RowLoss): RowLoss =>
  (o, l) =>
    loss(o, l);

describe("a readout's time mean", () => {
  it('weights v_τ = (1 − β^(T−τ)) / ((1 − β) T), the closed form of the leaky sum', () => {
    const [beta, T] = [0.9, 7];
    const v = readoutModel.meanWeights(readoutNeuron({ beta }), T);
    v.forEach((x, tau) => expect(x).toBeCloseTo((1 - beta ** (T - tau)) / ((1 - beta) * T), 14));
  });

  it.each([false, true])("constant input %s: one map of the weighted input gives the mean of the T steps' membranes", (constant) => {
    const net = new Network({ input: [6], layers: [readout({ units: 4, beta: 0.8 })], seed: 2 });
    const layer = net.layers[0]!;
    const [T, R] = [9, 5];
    const x = constant
      ? tf.tensor(spread(R * 6, 1, -1, 1), [R, 6])
      : tf.tensor(
          spread(T * R * 6, 1, 0, 1).map((v) => (v < 0.3 ? 1 : 0)),
          [T * R, 6],
        );
    const m = meanReadout(layer, x, T, R, constant)!;
    expect(m.output.shape).toEqual([1, R, 4]);
    const currents = constant ? tf.tile(tf.reshape(layer.currents(x), [1, R, 4]), [T, 1, 1]) : tf.reshape(layer.currents(x), [T, R, 4]);
    const run = runFields(population(layer), currents, readoutModel.initialState(readoutNeuron({ beta: 0.8 }), [R, 4]), () => tf.zeros([R, 4]), ['membrane']);
    const want = tf.mean(run.fields['membrane']!, 0);
    const got = m.output.dataSync(),
      expected = want.dataSync();
    for (let i = 0; i < got.length; i++) expect(Math.abs(got[i]! - expected[i]!)).toBeLessThan(1e-6 * maxAbs(expected));
    expect(maxAbs(expected)).toBeGreaterThan(0.1);
    if (constant) expect(m.input).toBe(x);
    tf.dispose([x, m.output, m.input, currents, want, run.fields['membrane']!, ...Object.values(run.state)]);
    net.dispose();
  });

  it('does not apply to a spiking layer or a decorrelated readout (which samples its input)', () => {
    const net = new Network({ input: [6], layers: [dense({ units: 4, neuron: lif() }), readout({ units: 3, decorrelate: true })], seed: 2 });
    const x = tf.ones([12, 6]),
      h = tf.ones([12, 4]);
    expect(meanReadout(net.layers[0]!, x, 3, 4, false)).toBeUndefined();
    expect(meanReadout(net.layers[1]!, h, 3, 4, false)).toBeUndefined();
    tf.dispose([x, h]);
    net.dispose();
  });

  it('weightedSteps: Σ_t w_t x_t, and its gradient w_t g (the outer product)', () => {
    const x = tf.tensor(spread(5 * 37, 3, -1, 1), [5, 37]);
    const w = [0.1, -0.4, 0.25, 1, 0.7];
    const g = tf.tensor(spread(37, 4, -1, 1));
    const [y, dx] = [weightedSteps(x, w), tf.grad((v: tf.Tensor) => tf.sum(tf.mul(g, weightedSteps(v, w))))(x)];
    const [xs, gs, ys, ds] = [x.dataSync(), g.dataSync(), y.dataSync(), dx.dataSync()];
    for (let c = 0; c < 37; c++) {
      expect(ys[c]).toBeCloseTo(
        w.reduce((s, wt, t) => s + wt * xs[t * 37 + c]!, 0),
        5,
      );
      for (let t = 0; t < 5; t++) expect(ds[t * 37 + c]).toBeCloseTo(w[t]! * gs[c]!, 6);
    }
    tf.dispose([x, g, y, dx]);
  });
});

describe('losses marked as reading only the time mean', () => {
  it.each([
    ['ce-membrane mean', () => membraneCrossEntropy('mean')],
    ['squared error of the mean membrane', () => membraneSquaredError('mean', 1, -1)],
    ['rate squared error', () => rateSquaredError()],
    ['a regularised one', () => regularized(membraneCrossEntropy('mean'), [rateRegularizer({ weight: 1, target: 0.1 })])],
    ['a masked one', () => maskedLoss(membraneCrossEntropy('mean'), tf.tensor1d([1, 0, 1, 1]))],
  ] as const)('%s: marked, and the same on the one-step sequence of the mean', (_, make) => {
    const loss = make();
    expect(loss.timeMean).toBe(true);
    const out = tf.tensor(spread(6 * 4 * 3, 5, -1, 2), [6, 4, 3]);
    const labels = tf.tensor1d([0, 2, 1, 2], 'int32');
    const [full, once] = [loss(out, labels), loss(tf.mean(out, 0, true), labels)];
    const [a, b] = [full.dataSync(), once.dataSync()];
    for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i]!, 5);
    tf.dispose([full, once, out, labels]);
  });

  it.each([
    ['ce-membrane sum', membraneCrossEntropy('sum')],
    ['ce-membrane max', membraneCrossEntropy('max')],
    ['count cross-entropy', countCrossEntropy()],
  ] as const)('%s: not marked', (_, loss) => {
    expect(loss.timeMean).toBeUndefined();
  });
});

describe('learners with the time-mean readout', () => {
  const profileOf = async (f: () => void) => (await tf.profile(f)).kernels;
  /** Whether a kernel made the readout's currents for all T steps ([T·rows, 3], rows B or K·B). */
  const stepwiseReadout = (kernels: Awaited<ReturnType<typeof profileOf>>) =>
    kernels.some((k) => k.outputShapes.some((s) => s.length === 2 && s[1] === 3 && (s[0] === T * B || s[0] === T * 4 * B)));
  const [B, T] = [6, 8];
  const labels = () => tf.tensor1d([0, 1, 2, 1, 0, 2], 'int32');
  const network = () =>
    new Network({ input: [20], layers: [dense({ units: 16, neuron: lif({ beta: 0.9, threshold: 0.5 }) }), readout({ units: 3, beta: 0.85 })], seed: 7 });

  it.each([
    ['LR, constant input', 'lr', true],
    ['LR, rate input and a rate regulariser', 'lr', false],
    ['BPTT, constant input', 'bptt', true],
    ['BPTT, rate input and a rate regulariser', 'bptt', false],
  ] as const)('%s: the gradients of the same estimator running the T steps', async (_, method, constant) => {
    const net = network();
    const values = spread(B * T * 20, 6, 0, 1);
    const input = constant
      ? tf.tile(tf.tensor(values.slice(0, B * 20), [B, 1, 20]), [1, T, 1])
      : tf.tensor(
          values.map((v) => (v < 0.4 ? 1 : 0)),
          [B, T, 20],
        );
    const y = labels();
    const batch = { input, labels: y, constantInTime: constant };
    const base = constant ? membraneCrossEntropy('mean') : regularized(membraneCrossEntropy('mean'), [rateRegularizer({ weight: 0.5, target: 0.2 })]);
    const plain = constant ? unmarked(base) : regularized(unmarked(membraneCrossEntropy('mean')), [rateRegularizer({ weight: 0.5, target: 0.2 })]);
    expect(base.timeMean).toBe(true);
    expect(plain.timeMean).toBeUndefined();
    const estimator = method === 'lr' ? likelihoodRatio({ copies: 4, noise: escapeNoise('logistic', 0.3) }) : bptt();
    const grads = (loss: RowLoss) => {
      const e = estimator.estimate(net, batch, loss, 11);
      const g = [...e.gradients.values()].map((t) => Array.from(t.dataSync()));
      e.dispose();
      return { loss: e.loss, g };
    };
    const before = tf.memory().numTensors;
    const [fastKernels, stepKernels] = [await profileOf(() => grads(base)), await profileOf(() => grads(plain))];
    expect(fastKernels.map((k) => k.name)).toContain('SpikelrWeightedSteps');
    expect(stepKernels.map((k) => k.name)).not.toContain('SpikelrWeightedSteps');
    // the readout maps its weighted input once, never all T steps (the check sees the T-step path's)
    expect(stepwiseReadout(fastKernels)).toBe(false);
    expect(stepwiseReadout(stepKernels)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    const [fast, reference] = [grads(base), grads(plain)];
    expect(fast.loss).toBeCloseTo(reference.loss, 5);
    reference.g.forEach((r, k) => {
      const scale = maxAbs(r);
      expect(scale).toBeGreaterThan(1e-4);
      r.forEach((v, i) => expect(Math.abs(fast.g[k]![i]! - v), `parameter ${k}[${i}]`).toBeLessThanOrEqual(2e-5 * scale));
    });
    tf.dispose([input, y]);
    net.dispose();
  });
});
