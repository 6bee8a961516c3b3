/**
 * Forward gradients: unbiased for the surrogate network's gradient (tfjs autodiff, the BPTT
 * estimator, is the truth), for weight and activity perturbation; the finite-difference tangent
 * agrees with the exact one on a smooth network; activity perturbation has far less variance;
 * what cannot be estimated is a clear error.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { bptt } from '../src/learning/estimators/bptt.js';
import { forwardGradient, type FGConfig } from '../src/learning/estimators/fg.js';
import { likelihoodRatio } from '../src/learning/estimators/lr.js';
import { membraneCrossEntropy, zeroOneLoss } from '../src/learning/losses.js';
import { fgsm } from '../src/learning/robustness.js';
import { escapeNoise } from '../src/neurons/noise.js';
import { analog, lif } from '../src/neurons/params.js';
import { atan } from '../src/neurons/surrogate.js';
import { conv2d, dense, flatten, maxPool2d, readout, recurrent, type LayerSpec } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';
import { directionalDerivative } from '../src/learning/tangent.js';
import { directionalDerivatives, stepsMeanReadout } from '../src/learning/tangent-steps.js';
import { unbiasedDraws } from './stats.js';
import { totalVariance, varianceRatioUpper } from './tiny-snn.js';

const loss = membraneCrossEntropy('mean');

function setup(layers: LayerSpec[], inputs = 4) {
  const net = new Network({ input: [inputs], layers, seed: 6 });
  const batch = { input: tf.tidy(() => tf.randomUniform([3, 5, inputs], 0, 2, 'float32', 8)), labels: tf.tensor1d([0, 1, 1], 'int32') };
  const vars = net.layers.flatMap((l) =>
    Object.entries(l.params)
      .filter(([n]) => n !== 'noiseScale')
      .map(([, v]) => v),
  );
  return {
    net,
    batch,
    vars,
    dispose: () => {
      tf.dispose([batch.input, batch.labels]);
      net.dispose();
    },
  };
}

/** `draws` estimates, each flattened in the variables' order. */
function draws(config: FGConfig, s: ReturnType<typeof setup>, count: number): number[][] {
  const est = forwardGradient(config);
  return Array.from({ length: count }, (_, d) => {
    const e = est.estimate(s.net, s.batch, loss, 500 + d);
    const row = s.vars.flatMap((v) => Array.from(e.gradients.get(v)?.dataSync() ?? new Float32Array(v.size)));
    e.dispose();
    return row;
  });
}

function exact(s: ReturnType<typeof setup>): number[] {
  const e = bptt({ surrogate: atan() }).estimate(s.net, s.batch, loss);
  const g = s.vars.flatMap((v) => Array.from(e.gradients.get(v)!.dataSync()));
  e.dispose();
  return g;
}

const spiking = (units = 3) => [recurrent({ name: 'h', units, neuron: lif({ beta: 0.8, threshold: 0.1 }) }), readout({ name: 'o', units: 2, beta: 0.8 })];

/** The hidden layer fires now and then (so every parameter has a gradient to find). */
function expectFiring(s: ReturnType<typeof setup>): void {
  const r = s.net.run(s.batch.input, { record: { h: ['spikes'] } });
  const rate = tf.tidy(() => tf.mean(r.records['h']!.spikes!).dataSync()[0]!);
  r.dispose();
  expect(rate).toBeGreaterThan(0.03);
  expect(rate).toBeLessThan(0.9);
}

describe('forward gradients are unbiased for the surrogate gradient', () => {
  it.each([
    ['weight perturbation', { directions: 1, perturb: 'weights' } as FGConfig, 1500],
    ['activity perturbation (recurrent layer included)', { directions: 1, perturb: 'activities' } as FGConfig, 300],
  ])('%s', (_name, config, count) => {
    const s = setup(spiking());
    expectFiring(s);
    const truth = exact(s);
    const samples = draws(config, s, count);
    const r = unbiasedDraws(samples, truth);
    expect(r.maxZ).toBeLessThan(5);
    expect(r.chi2).toBeLessThan(r.threshold);
    // the test has power: an estimator 25% too small (a missing factor) fails it
    const biased = unbiasedDraws(
      samples.map((row) => row.map((x) => 0.75 * x)),
      truth,
    );
    expect(biased.maxZ > 5 || biased.chi2 > biased.threshold).toBe(true);
    s.dispose();
  });

  it('activity perturbation has far less variance than weight perturbation when weights outnumber activities', () => {
    // 40 inputs → 4 recurrent units: 186 weights, 20 activities per sample and layer
    const s = setup(spiking(4), 40);
    expectFiring(s);
    const weights = draws({ directions: 1, perturb: 'weights' }, s, 200);
    const activities = draws({ directions: 1, perturb: 'activities' }, s, 200);
    expect(varianceRatioUpper(activities, weights)).toBeLessThan(0.5);
    expect(totalVariance(activities)).toBeGreaterThan(0);
    s.dispose();
  });

  it('the finite-difference tangent agrees with the exact one on a smooth network (same directions)', () => {
    const s = setup([dense({ name: 'a', units: 5, neuron: analog({ activation: 'tanh' }) }), readout({ name: 'o', units: 2, beta: 0.7 })]);
    const a = forwardGradient({ directions: 3, tangent: 'exact' }).estimate(s.net, s.batch, loss, 77);
    const b = forwardGradient({ directions: 3, tangent: 'finite-difference', epsilon: 1e-2 }).estimate(s.net, s.batch, loss, 77);
    const before = s.vars.map((v) => Array.from(v.dataSync()));
    for (const v of s.vars) {
      const [x, y] = [a.gradients.get(v)!.dataSync(), b.gradients.get(v)!.dataSync()];
      x.forEach((xi, i) => expect(Math.abs(xi - y[i]!)).toBeLessThan(2e-3 * Math.max(1, Math.abs(xi))));
    }
    expect(s.vars.map((v) => Array.from(v.dataSync()))).toEqual(before); // parameters restored bit for bit
    for (const t of [a, b, s]) t.dispose();
  });
});

describe('what forward gradients cannot do is a clear error', () => {
  it('a layer with no tangent (a plug-in kind that gives none), with the exact tangent', () => {
    const net = new Network({
      input: [4, 4, 1],
      layers: [conv2d({ filters: 2, kernelSize: 3 }), maxPool2d({ poolSize: 2 }), flatten(), readout({ units: 2 })],
      seed: 1,
    });
    Object.defineProperty(net.layers[1]!, 'jvp', { value: undefined });
    const batch = { input: tf.ones([2, 3, 4, 4, 1]), labels: tf.tensor1d([0, 1], 'int32') };
    expect(() => forwardGradient({ directions: 1 }).estimate(net, batch, loss, 1)).toThrow(/has no tangent; use a finite-difference estimate or LR/);
    const fd = forwardGradient({ directions: 1, tangent: 'finite-difference' }).estimate(net, batch, loss, 1);
    expect(fd.gradients.size).toBe(4); // the finite-difference mode needs no tangent
    fd.dispose();
    tf.dispose([batch.input, batch.labels]);
    net.dispose();
  });
  it('the 0-1 loss (no derivative): the exact tangent, BPTT, the attacks and a deterministic readout under LR name what to use instead', () => {
    const s = setup([dense({ name: 'h', units: 3, neuron: lif() }), readout({ name: 'o', units: 2 })]);
    const zeroOne = zeroOneLoss();
    expect(() => forwardGradient({ directions: 1 }).estimate(s.net, s.batch, zeroOne, 1)).toThrow(
      /fg: the loss has no derivative.*use the finite-difference tangent \(--tangent finite-difference\).*or LR \(--method lr\)/,
    );
    expect(() => forwardGradient({ directions: 1, perturb: 'activities' }).estimate(s.net, s.batch, zeroOne, 1)).toThrow(
      /fg: the loss has no derivative.*--method fg --tangent finite-difference.*or LR/,
    );
    expect(() => bptt().estimate(s.net, s.batch, zeroOne)).toThrow(/bptt: the loss has no derivative.*train by LR/);
    expect(() => likelihoodRatio({ copies: 2, noise: escapeNoise('logistic', 0.5) }).estimate(s.net, s.batch, zeroOne, 1)).toThrow(
      /lr: the loss has no derivative.*deterministic readout 'o'.*spiking output layer/,
    );
    const images = tf.zeros([3, 4]) as tf.Tensor2D,
      labels = tf.tensor1d([0, 1, 1], 'int32') as tf.Tensor1D;
    expect(() => fgsm(s.net, images, labels, 0.1, { steps: 5, loss: zeroOne })).toThrow(/FGSM, PGD\): the loss has no derivative/);
    tf.dispose([images, labels]);
    const fd = forwardGradient({ directions: 2, tangent: 'finite-difference' }).estimate(s.net, s.batch, zeroOne, 1);
    expect(fd.loss).toBeGreaterThanOrEqual(0); // values of the loss are all the finite-difference mode needs
    fd.dispose();
    s.dispose();
  });
  it('learned neuron coefficients under activity perturbation; activities with finite differences', () => {
    const s = setup([dense({ name: 'h', units: 3, neuron: lif(), learn: ['beta'] }), readout({ name: 'o', units: 2 })]);
    expect(() => forwardGradient({ directions: 1, perturb: 'activities' }).estimate(s.net, s.batch, loss, 1)).toThrow(
      /layer 'h' learns beta, which activity perturbation does not reach.*use fg \(weights\) or lr/,
    );
    expect(() => forwardGradient({ directions: 1, perturb: 'activities', tangent: 'finite-difference' })).toThrow(
      /finite-difference tangents perturb the weights/,
    );
    s.dispose();
  });
});

describe('the step-major pass reads a readout by its time mean', () => {
  it('its directional derivatives equal those of T steps of the readout (layer-major forward mode)', () => {
    const s = setup([dense({ units: 6, neuron: lif({ threshold: 0.3 }) }), readout({ units: 3, beta: 0.8 })]);
    // the readout's mean is one map here, so the step-major pass does not step it
    expect(stepsMeanReadout(s.net, loss, 5)).toBeDefined();
    const directions = [0, 1].map((k) => new Map(s.vars.map((v, i) => [v, tf.randomNormal(v.shape, 0, 1, 'float32', 40 + 10 * k + i)] as const)));
    const stepMajor = directionalDerivatives(s.net, s.batch, loss, directions, atan());
    directions.forEach((d, k) => {
      const layerMajor = directionalDerivative(s.net, s.batch, loss, d, atan());
      expect(Math.abs(layerMajor.derivative)).toBeGreaterThan(1e-3); // the direction moves the loss
      expect(stepMajor.loss).toBeCloseTo(layerMajor.loss, 5);
      stepMajor.rows[k]!.forEach((r, b) => expect(Math.abs(r - layerMajor.rows[b]!)).toBeLessThan(1e-5 * Math.max(1, Math.abs(layerMajor.derivative))));
    });
    // a loss that reads every step (no time mean) keeps the stepped readout
    expect(stepsMeanReadout(s.net, membraneCrossEntropy('max'), 5)).toBeUndefined();
    tf.dispose(directions.flatMap((d) => [...d.values()]));
    s.dispose();
  });
});
