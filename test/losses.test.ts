/** Losses and readouts against values computed by hand from their definitions. */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import {
  countCrossEntropy,
  countSquaredError,
  maskedLoss,
  membraneCrossEntropy,
  membraneSquaredError,
  predict,
  predictFirstSpike,
  rateSquaredError,
  zeroOneLoss,
} from '../src/learning/losses.js';
import { rateRegularizer, regularized } from '../src/learning/regularizers.js';

// two rows, three classes, four steps: output [T, R, C]
const membrane = [
  [
    [0.5, 1, 0],
    [2, 0, 1],
  ],
  [
    [1.5, 0, 0],
    [0, 0, 1],
  ],
  [
    [0, 3, 0],
    [1, 1, 1],
  ],
  [
    [2, 0, 5],
    [1, 0, -1],
  ],
];
const labels = () => tf.tensor1d([2, 0], 'int32');
const out = () => tf.tensor3d(membrane);
const rows = (f: (o: tf.Tensor, l: tf.Tensor) => tf.Tensor) => tf.tidy(() => Array.from(f(out(), labels()).dataSync()));

const over = (r: number, c: number) => membrane.map((step) => step[r]![c]!);
const reduce = {
  mean: (x: number[]) => x.reduce((a, b) => a + b) / x.length,
  sum: (x: number[]) => x.reduce((a, b) => a + b),
  max: (x: number[]) => Math.max(...x),
  last: (x: number[]) => x.at(-1)!,
};
const ce = (logits: number[], y: number) => Math.log(logits.reduce((a, z) => a + Math.exp(z), 0)) - logits[y]!;

describe('membrane losses', () => {
  it.each(['mean', 'sum', 'max', 'last'] as const)('cross-entropy and squared error of the %s membrane', (r) => {
    const logits = [0, 1].map((row) => [0, 1, 2].map((c) => reduce[r](over(row, c))));
    rows(membraneCrossEntropy(r)).forEach((v, i) => expect(v).toBeCloseTo(ce(logits[i]!, [2, 0][i]!), 5));
    const se = logits.map((l, i) => l.reduce((a, z, c) => a + (z - (c === [2, 0][i] ? 1 : 0)) ** 2, 0));
    rows(membraneSquaredError(r)).forEach((v, i) => expect(v).toBeCloseTo(se[i]!, 4));
  });
});

describe('spike-count losses', () => {
  const spikes = () =>
    tf.tensor3d([
      [
        [1, 0, 0],
        [0, 1, 1],
      ],
      [
        [1, 1, 0],
        [0, 0, 1],
      ],
      [
        [0, 0, 1],
        [1, 0, 1],
      ],
      [
        [1, 0, 0],
        [0, 0, 1],
      ],
    ]);
  const counts = [
    [3, 1, 1],
    [1, 1, 4],
  ];
  it('cross-entropy of counts, squared error of counts against 0.8T / 0.2T, of rates against 0.8 / 0.2', () => {
    const got = (f: (o: tf.Tensor, l: tf.Tensor) => tf.Tensor) => tf.tidy(() => Array.from(f(spikes(), labels()).dataSync()));
    got(countCrossEntropy()).forEach((v, i) => expect(v).toBeCloseTo(ce(counts[i]!, [2, 0][i]!), 5));
    got(countSquaredError()).forEach((v, i) =>
      expect(v).toBeCloseTo(
        counts[i]!.reduce((a, n, c) => a + (n - (c === [2, 0][i] ? 3.2 : 0.8)) ** 2, 0),
        4,
      ),
    );
    got(rateSquaredError()).forEach((v, i) =>
      expect(v).toBeCloseTo(
        counts[i]!.reduce((a, n, c) => a + (n / 4 - (c === [2, 0][i] ? 0.8 : 0.2)) ** 2, 0),
        5,
      ),
    );
  });
});

describe('the 0-1 loss', () => {
  it('1 where the summed-output class is wrong (row 0 predicts 2 = label, row 1 predicts 0 = label; then labels 1, 1)', () => {
    expect(rows(zeroOneLoss())).toEqual([0, 0]);
    expect(tf.tidy(() => Array.from(zeroOneLoss()(out(), tf.tensor1d([1, 1], 'int32')).dataSync()))).toEqual([1, 1]);
  });
  it('is marked non-differentiable, and so is every loss built on it', () => {
    expect(zeroOneLoss().differentiable).toBe(false);
    expect(regularized(zeroOneLoss(), [rateRegularizer({ weight: 1, target: 0.1 })]).differentiable).toBe(false);
    const mask = tf.tensor1d([1, 0]);
    expect(maskedLoss(zeroOneLoss(), mask).differentiable).toBe(false);
    expect(maskedLoss(membraneCrossEntropy(), mask).differentiable).toBeUndefined();
    mask.dispose();
  });
});

describe('readouts', () => {
  it('rate: the class with the largest summed output (sums 4, 4, 5 and 4, 1, 2)', () => {
    expect(tf.tidy(() => Array.from(predict(out()).dataSync()))).toEqual([2, 0]);
  });

  it('first spike: earliest neuron wins; ties go to the most spikes, then the lowest index; silence to the most spikes', () => {
    // row 0: class 1 first at t=1; row 1: classes 0 and 2 both first at t=0, class 2 spikes more;
    // row 2: nobody spikes → class 0; row 3: classes 1 and 2 tie at t=2 with one spike each → class 1
    const s = tf.tensor3d([
      [
        [0, 0, 0],
        [1, 0, 1],
        [0, 0, 0],
        [0, 0, 0],
      ],
      [
        [0, 1, 0],
        [0, 0, 1],
        [0, 0, 0],
        [0, 0, 0],
      ],
      [
        [1, 0, 1],
        [0, 0, 1],
        [0, 0, 0],
        [0, 1, 1],
      ],
    ]);
    expect(Array.from(predictFirstSpike(s).dataSync())).toEqual([1, 2, 0, 1]);
    s.dispose();
  });
});
