/**
 * Attacks and corruption: the input gradient of a smooth network against central finite
 * differences, FGSM against its formula, PGD's constraints, Gaussian corruption's statistics.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import { fgsm, gaussianCorruption, inputGradient, pgd } from '../src/learning/robustness.js';
import { analog } from '../src/neurons/params.js';
import { dense, readout } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';

// a smooth network (tanh units, leaky readout): its surrogate input gradient is its exact gradient
const smooth = () =>
  new Network({ input: [6], layers: [dense({ units: 5, neuron: analog({ activation: 'tanh' }) }), readout({ units: 3, beta: 0.8 })], seed: 4 });
const o = { steps: 4, loss: membraneCrossEntropy('mean') };
const x0 = [0.2, 0.9, 0.5, 0.1, 0.7, 0.4, 0.6, 0.3, 0.8, 0.05, 0.5, 0.95];
const labels = () => tf.tensor1d([2, 0], 'int32');

/** The loss summed over the images, `net` run on the input `[B, T, …]` that `input` makes. */
const summedLoss = (net: Network, input: () => tf.Tensor) =>
  tf.tidy(() => {
    const r = net.run(input());
    const value = tf.sum(o.loss(tf.transpose(r.output, [1, 0, 2]), labels())).dataSync()[0]!;
    r.dispose();
    return value;
  });

/** The input gradient `g` at x0 against central finite differences of `lossAt`, pixel by pixel. */
function expectFiniteDifferences(g: readonly number[], lossAt: (values: number[]) => number): void {
  const h = 1e-2;
  x0.forEach((_, i) => {
    const up = [...x0],
      down = [...x0];
    up[i]! += h;
    down[i]! -= h;
    // float32 forward passes: the difference quotient carries ~1e-7 · L / h of rounding
    expect(g[i]).toBeCloseTo((lossAt(up) - lossAt(down)) / (2 * h), 3);
  });
}

describe('input gradient', () => {
  it('equals central finite differences of the summed loss on a smooth network', () => {
    const net = smooth();
    // each image a constant input over the 4 steps
    const lossAt = (values: number[]) => summedLoss(net, () => tf.mul(tf.expandDims(tf.tensor2d(values, [2, 6]), 1), tf.ones([1, 4, 1])));
    const g = tf.tidy(() => Array.from(inputGradient(net, tf.tensor2d(x0, [2, 6]), labels(), o).dataSync()));
    expectFiniteDifferences(g, lossAt);
    net.dispose();
  });
  it('reads one row a step with `rows` (the rows encoding): central finite differences again, and a size that does not fit refused', () => {
    const net = new Network({
      input: [3],
      layers: [dense({ units: 5, neuron: analog({ activation: 'tanh' }) }), readout({ units: 3, beta: 0.8 })],
      seed: 4,
    });
    // two images of 2 rows × 3 pixels: step t reads row t
    const rows = { ...o, steps: 2, rows: true };
    const lossAt = (values: number[]) => summedLoss(net, () => tf.tensor3d(values, [2, 2, 3]));
    const g = tf.tidy(() => Array.from(inputGradient(net, tf.tensor2d(x0, [2, 6]), labels(), rows).dataSync()));
    expectFiniteDifferences(g, lossAt);
    // each row is its own step's input, with its own gradient
    expect(g.slice(3, 6)).not.toEqual(g.slice(0, 3));
    expect(() => inputGradient(net, tf.tensor2d(x0.slice(0, 10), [2, 5]), labels(), rows)).toThrow(
      /images of 5 values do not make 2 rows of the network's 3 values/,
    );
    net.dispose();
  });
});

describe('attacks', () => {
  it('FGSM moves every pixel by ε along the gradient sign, clipped to [0, 1]', () => {
    const net = smooth();
    tf.tidy(() => {
      const x = tf.tensor2d(x0, [2, 6]);
      const g = inputGradient(net, x, labels(), o).dataSync();
      const adv = fgsm(net, x, labels(), 0.1, o).dataSync();
      x0.forEach((v, i) => expect(adv[i]).toBeCloseTo(Math.min(1, Math.max(0, v + 0.1 * Math.sign(g[i]!))), 6));
    });
    net.dispose();
  });

  it("PGD stays within ε of the image and within [0, 1], and raises the loss above FGSM's first step", () => {
    const net = smooth();
    tf.tidy(() => {
      const x = tf.tensor2d(x0, [2, 6]);
      const adv = pgd(net, x, labels(), 0.05, { ...o, iterations: 5 });
      const a = adv.dataSync();
      x0.forEach((v, i) => {
        expect(Math.abs(a[i]! - v)).toBeLessThanOrEqual(0.05 + 1e-6);
        expect(a[i]).toBeGreaterThanOrEqual(0);
        expect(a[i]).toBeLessThanOrEqual(1);
      });
      const loss = (images: tf.Tensor2D) => {
        const r = net.run(tf.mul(tf.expandDims(images, 1), tf.ones([1, 4, 1])));
        const v = tf.sum(o.loss(tf.transpose(r.output, [1, 0, 2]), labels())).dataSync()[0]!;
        r.dispose();
        return v;
      };
      expect(loss(adv)).toBeGreaterThan(loss(x));
    });
    net.dispose();
  });
});

describe('Gaussian corruption', () => {
  it('adds zero-mean noise of standard deviation σ (clipping aside), reproducibly from the seed', () => {
    const images = new Float32Array(40_000).fill(0.5);
    const noisy = gaussianCorruption(images, 0.1, 7);
    const d = Array.from(noisy, (v) => v - 0.5);
    const mean = d.reduce((a, b) => a + b, 0) / d.length;
    const sd = Math.sqrt(d.reduce((a, b) => a + (b - mean) ** 2, 0) / d.length);
    // standard errors: σ/√n = 5e-4 for the mean, σ/√(2n) = 3.5e-4 for the sd; 5 SE
    expect(Math.abs(mean)).toBeLessThan(5 * 5e-4);
    expect(Math.abs(sd - 0.1)).toBeLessThan(5 * 3.5e-4);
    expect(gaussianCorruption(images, 0.1, 7)).toEqual(noisy);
    expect(gaussianCorruption(Float32Array.of(0.99, 0.01), 5, 1).every((v) => v >= 0 && v <= 1)).toBe(true);
  });
});
