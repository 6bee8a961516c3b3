/**
 * Input decorrelation (Dalm et al. 2024): the rule against its closed forms (the covariance it
 * drives to the identity; the preconditioned gradient of the loss it descends, by tfjs autodiff),
 * the fused forward pass against the two products it replaces (dense, and conv over explicit
 * patches), the layer's VJP and JVP against autodiff of the two-product map, and R in the trainer.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { decorrelationDirection, decorrelationLoss, decorrelationStep, updateDecorrelation, armDecorrelation } from '../src/learning/decorrelation.js';
import { methodOf, METHODS } from '../src/learning/estimators/registry.js';
import { decorrelationInputsOf, defaultConfig } from '../src/cli/config.js';
import { buildNetwork } from '../src/cli/recipe.js';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import { sampleNoise } from '../src/neurons/noise.js';
import { lif } from '../src/neurons/params.js';
import { conv2d, dense, flatten, readout } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';
import type { Dataset } from '../src/data/dataset.js';
import { train } from '../src/learning/trainer.js';

/** Row-major P×P product. */
const matmul = (a: number[][], b: number[][]) => a.map((row) => b[0]!.map((_, j) => row.reduce((s, v, k) => s + v * b[k]![j]!, 0)));
const transpose = (a: number[][]) => a[0]!.map((_, j) => a.map((row) => row[j]!));

/** N samples of x = L g with g ~ N(0, I) (counter stream `key`), and the exact covariance L Lᵀ. */
function correlated(L: number[][], n: number, key: number): { x: tf.Tensor2D; sigma: number[][] } {
  const p = L.length;
  const g = sampleNoise('gaussian', n * p, key);
  const rows = Array.from({ length: n }, (_, i) => L.map((row) => row.reduce((s, v, k) => s + v * g[i * p + k]!, 0)));
  return { x: tf.tensor2d(rows), sigma: matmul(L, transpose(L)) };
}

const L8 = Array.from({ length: 8 }, (_, i) => Array.from({ length: 8 }, (_, j) => (j <= i ? (i === j ? 1 + 0.2 * i : 0.9 - 0.07 * (i - j)) : 0)));

const offEnergy = (c: number[][]) => c.reduce((s, row, i) => s + row.reduce((t, v, j) => t + (i === j ? 0 : v * v), 0), 0);

describe('the decorrelation rule', () => {
  it('drives cov(Rx) of correlated Gaussian inputs to the identity: off-diagonal energy down ≥ 100× and unit variances within 300 updates', () => {
    const R = tf.variable(tf.eye(8), false);
    const start = offEnergy(correlated(L8, 1, 0).sigma);
    for (let step = 0; step < 300; step++) {
      const { x } = correlated(L8, 128, 1000 + step);
      decorrelationStep(R, undefined, x, { kappa: 0.5, learningRate: 0.01, meanRate: 0.1 });
      x.dispose();
    }
    // the covariance of Rx from the exact input covariance: R Σ Rᵀ
    const r = R.arraySync() as number[][];
    const cov = matmul(matmul(r, correlated(L8, 1, 0).sigma), transpose(r));
    expect(start).toBeGreaterThan(50); // strongly correlated to begin with
    expect(offEnergy(cov)).toBeLessThan(start / 100);
    for (let i = 0; i < 8; i++) expect(Math.abs(cov[i]![i]! - 1)).toBeLessThan(0.1);
    R.dispose();
  });

  it.each([64, 3])(
    'is −η times the gradient of ℓ(C) = (1−κ)/4‖offdiag C‖² + κ/4‖diag C − 1‖² (tfjs autodiff) preconditioned by the inverse input covariance (%i vectors of 4)',
    (N) => {
      const kappa = 0.3,
        eta = 0.05;
      const { x } = correlated(
        L8.slice(0, 4).map((r) => r.slice(0, 4)),
        N,
        7,
      );
      const R0 = tf.tidy(() => tf.add(tf.eye(4), tf.mul(tf.randomNormal([4, 4], 0, 1, 'float32', 3), 0.1)));
      const loss = (R: tf.Tensor) => {
        const z = tf.matMul(x, R, false, true);
        const c = tf.div(tf.matMul(z, z, true), N);
        const d = tf.mul(c, tf.eye(4));
        return tf.add(tf.mul(tf.sum(tf.square(tf.sub(c, d))), (1 - kappa) / 4), tf.mul(tf.sum(tf.square(tf.sub(d, tf.eye(4)))), kappa / 4));
      };
      const autodiff = tf.grad(loss)(R0).arraySync() as number[][];
      // the reported loss (from the N×N Gram matrix) is ℓ(C) / P²
      expect(tf.tidy(() => decorrelationLoss(tf.matMul(x, R0, false, true), kappa))).toBeCloseTo(tf.tidy(() => loss(R0).dataSync()[0]!) / 16, 5);
      const R = tf.variable(R0.clone(), false);
      decorrelationStep(R, undefined, x, { kappa, learningRate: eta, meanRate: 0.1 });
      // (R − R′)/η = M R, and ∇_R ℓ = M R Σ̂ with Σ̂ = xᵀx / N, so ((R − R′)/η) Σ̂ must equal ∇_R ℓ
      const step = tf.tidy(() => tf.div(tf.sub(R0, R), eta).arraySync() as number[][]);
      const sigma = tf.tidy(() => tf.div(tf.matMul(x, x, true), N).arraySync() as number[][]);
      const predicted = matmul(step, sigma);
      const scale = Math.max(...autodiff.flat().map(Math.abs));
      expect(scale).toBeGreaterThan(1e-2);
      predicted.flat().forEach((v, i) => expect(Math.abs(v - autodiff.flat()[i]!)).toBeLessThan(1e-4 * scale + 1e-6));
      // the bracket itself against its definition
      const M = tf.tidy(() => decorrelationDirection(tf.matMul(x, R0, false, true), kappa).arraySync() as number[][]);
      const z = tf.tidy(() => tf.matMul(x, R0, false, true).arraySync() as number[][]);
      const C = transpose(z).map((ci) => transpose(z).map((cj) => ci.reduce((s, v, k) => s + v * cj[k]!, 0) / N));
      M.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(i === j ? kappa * (C[i]![i]! - 1) : (1 - kappa) * C[i]![j]!, 5)));
      tf.dispose([x, R0, R]);
    },
  );

  it('centring: μ moves toward the sample mean at its rate, and z is taken about μ', () => {
    const R = tf.variable(tf.eye(2), false),
      mean = tf.variable(tf.tensor1d([1, -1]), false);
    const x = tf.tensor2d([
      [3, 1],
      [5, 3],
    ]); // mean (4, 2)
    decorrelationStep(R, mean, x, { kappa: 1, learningRate: 0.1, meanRate: 0.25 });
    expect(Array.from(mean.dataSync())).toEqual([1.75, -0.25]); // 1 + 0.25·3, −1 + 0.25·3
    // κ = 1: R ← R − η (diag C − I) R with C the mean of (x − μ)²: (1.25² + 3.25²)/2, (1.25² + 3.25²)/2
    const c = (1.25 ** 2 + 3.25 ** 2) / 2;
    expect(R.dataSync()[0]).toBeCloseTo(1 - 0.1 * (c - 1), 5);
    expect(R.dataSync()[1]).toBeCloseTo(0, 6);
    tf.dispose([R, mean, x]);
  });
});

/** Sets a decorrelated layer's R and μ to fixed non-trivial values. */
function perturb(net: Network, name: string, size: number, seed: number) {
  const layer = net.layer(name);
  net.setParameter(
    name,
    'decorrelation',
    tf.tidy(() => tf.add(tf.eye(size), tf.mul(tf.randomNormal([size, size], 0, 1, 'float32', seed), 0.2))),
  );
  if (layer.params['inputMean'])
    net.setParameter(
      name,
      'inputMean',
      tf.tidy(() => tf.randomUniform([size], 0, 0.5, 'float32', seed + 1)),
    );
}

describe('a decorrelated layer', () => {
  it('dense: the fused currents equal (x − μ) Rᵀ W + b, and vjp and jvp equal autodiff of that two-product map', () => {
    const net = new Network({
      input: [5],
      layers: [dense({ name: 'h', units: 3, neuron: lif(), decorrelate: true }), readout({ name: 'o', units: 2 })],
      seed: 2,
    });
    perturb(net, 'h', 5, 11);
    expect(net.parameterCount).toBe(5 * 3 + 3 + 3 * 2 + 2); // R and μ are buffers, not trained parameters
    const layer = net.layer('h');
    const x = tf.randomUniform([6, 5], 0, 1, 'float32', 4);
    const [W, b, R, mu] = ['weight', 'bias', 'decorrelation', 'inputMean'].map((n) => layer.params[n]!);
    const twoProducts = (w: tf.Tensor, bias: tf.Tensor) => tf.add(tf.matMul(tf.matMul(tf.sub(x, mu!), R!, false, true), w), bias);
    const fused = layer.currents(x);
    const explicit = twoProducts(W!, b!);
    expect(Math.max(...tf.tidy(() => Array.from(tf.abs(tf.sub(fused, explicit)).dataSync())))).toBeLessThan(1e-5);
    const g = tf.randomNormal([6, 3], 0, 1, 'float32', 5);
    const grads = layer.vjp(x, g);
    const [gW, gb] = tf.grads((w: tf.Tensor, bias: tf.Tensor) => twoProducts(w, bias))([W!, b!], g);
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(grads['weight']!, gW!))).dataSync()[0]!)).toBeLessThan(1e-5);
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(grads['bias']!, gb!))).dataSync()[0]!)).toBeLessThan(1e-5);
    const dW = tf.randomNormal(W!.shape, 0, 1, 'float32', 6),
      dx = tf.randomNormal([6, 5], 0, 1, 'float32', 7);
    const tangent = layer.jvp!(x, dx, { weight: dW });
    // d/dε of the two-product map at (x + ε dx, W + ε dW)
    const expected = tf.tidy(() => tf.add(tf.matMul(tf.matMul(dx, R!, false, true), W!), tf.matMul(tf.matMul(tf.sub(x, mu!), R!, false, true), dW)));
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(tangent, expected))).dataSync()[0]!)).toBeLessThan(1e-5);
    tf.dispose([x, fused, explicit, g, gW!, gb!, ...Object.values(grads), dW, dx, tangent, expected]);
    net.dispose();
  });

  it('conv2d: the fused convolution equals R applied to every explicit patch (padding included), then the kernel', () => {
    const net = new Network({
      input: [4, 4, 2],
      layers: [conv2d({ name: 'c', filters: 3, kernelSize: 3, neuron: lif(), decorrelate: { centre: true } }), flatten(), readout({ name: 'o', units: 2 })],
      seed: 3,
    });
    perturb(net, 'c', 18, 21);
    const layer = net.layer('c');
    const xs = Array.from({ length: 2 * 4 * 4 * 2 }, (_, i) => Math.sin(1.7 * i) * 0.5 + 0.5);
    const x = tf.tensor4d(xs, [2, 4, 4, 2]);
    const got = layer.currents(x).arraySync() as number[][][][];
    const W = layer.params['weight']!.arraySync() as number[][][][];
    const R = layer.params['decorrelation']!.arraySync() as number[][];
    const mu = Array.from(layer.params['inputMean']!.dataSync());
    const b = Array.from(layer.params['bias']!.dataSync());
    const at = (n: number, i: number, j: number, c: number) => (i < 0 || j < 0 || i > 3 || j > 3 ? 0 : xs[((n * 4 + i) * 4 + j) * 2 + c]!);
    for (let n = 0; n < 2; n++)
      for (let i = 0; i < 4; i++)
        for (let j = 0; j < 4; j++) {
          // the patch in (kh, kw, c) order, 'same' padding, then z = R (p − μ)
          const patch: number[] = [];
          for (let di = 0; di < 3; di++) for (let dj = 0; dj < 3; dj++) for (let c = 0; c < 2; c++) patch.push(at(n, i + di - 1, j + dj - 1, c));
          const z = R.map((row) => row.reduce((s, r, k) => s + r * (patch[k]! - mu[k]!), 0));
          for (let f = 0; f < 3; f++) {
            let want = b[f]!;
            z.forEach((v, k) => (want += v * W[Math.floor(k / 6)]![Math.floor(k / 2) % 3]![k % 2]![f]!));
            expect(got[n]![i]![j]![f]!).toBeCloseTo(want, 4);
          }
        }
    x.dispose();
    net.dispose();
  });

  it('in training: R leaves the identity from the inputs the layer saw, the loss never reaches it, and live tensors stay flat', () => {
    const net = new Network({
      input: [6],
      layers: [
        dense({ name: 'h', units: 4, neuron: lif(), decorrelate: { learningRate: 0.05, sample: 0.5 } }),
        readout({ name: 'o', units: 2, decorrelate: true }),
      ],
      seed: 1,
    });
    const x = tf.tidy(() => tf.tile(tf.randomUniform([8, 1, 6], 0, 1, 'float32', 9), [1, 5, 1]));
    const counts: number[] = [];
    for (let step = 0; step < 4; step++) {
      armDecorrelation(net, 8 * 5);
      const y = net.run(x);
      y.dispose();
      const losses = updateDecorrelation(net);
      expect(Object.keys(losses)).toEqual(['h', 'o']);
      counts.push(tf.memory().numTensors);
    }
    expect(new Set(counts.slice(1)).size).toBe(1);
    const moved = tf.tidy(() => tf.max(tf.abs(tf.sub(net.layer('h').params['decorrelation']!, tf.eye(6)))).dataSync()[0]!);
    expect(moved).toBeGreaterThan(1e-3);
    // not armed: nothing kept, nothing learned
    const before = Array.from(net.layer('h').params['decorrelation']!.dataSync());
    net.run(x).dispose();
    expect(updateDecorrelation(net)).toEqual({});
    expect(Array.from(net.layer('h').params['decorrelation']!.dataSync())).toEqual(before);
    x.dispose();
    net.dispose();
  });

  it.each(METHODS)("every learner's pass feeds R: %s (the kept samples survive the estimator's tidy scopes)", (method) => {
    const net = new Network({
      input: [6],
      layers: [
        dense({ name: 'h', units: 4, neuron: lif({ threshold: 0.3 }), decorrelate: { learningRate: 0.05 } }),
        readout({ name: 'o', units: 2, decorrelate: true }),
      ],
      seed: 1,
    });
    const batch = { input: tf.tidy(() => tf.randomUniform([8, 5, 6], 0, 1, 'float32', 9)), labels: tf.tensor1d([0, 1, 0, 1, 1, 0, 0, 1], 'int32') };
    const estimator = methodOf(method).estimator({ ...defaultConfig(method), copies: 2, directions: 2 });
    armDecorrelation(net, 8 * 5);
    const e = estimator.estimate(net, batch, membraneCrossEntropy(), 3);
    const names = new Set(net.layers.flatMap((l) => (l.buffers ?? []).map((b) => l.params[b])));
    expect([...e.gradients.keys()].filter((v) => names.has(v))).toEqual([]); // no gradient for R or μ
    e.dispose();
    const losses = updateDecorrelation(net);
    expect(Object.keys(losses)).toEqual(['h', 'o']);
    for (const v of Object.values(losses)) expect(Number.isFinite(v)).toBe(true);
    tf.dispose([batch.input, batch.labels]);
    net.dispose();
  });

  it("with decorrelationInputs 'deterministic' R learns from a noise-free pass (LR's readout sees clean hidden spikes), by default from LR's noisy copies", async () => {
    const make = () =>
      new Network({
        input: [6],
        seed: 1,
        layers: [
          dense({ name: 'h', units: 5, neuron: lif({ threshold: 0.3 }) }),
          readout({ name: 'o', units: 2, decorrelate: { learningRate: 0.05, sample: 1 } }),
        ],
      });
    const x = tf.tidy(() => tf.randomUniform([8, 5, 6], 0, 1, 'float32', 9));
    const data: Dataset = {
      count: 8,
      labels: Int32Array.from([0, 1, 0, 1, 1, 0, 0, 1]),
      classes: 2,
      inputShape: [6],
      steps: 5,
      batch: (idx) => tf.gather(x, Array.from(idx)),
    };
    const R = (net: Network) => Array.from(net.layer('o').params['decorrelation']!.dataSync());
    const trained = async (inputs?: 'deterministic') => {
      const net = make();
      // one step: R's update uses the inputs captured before the weights move
      await train(net, methodOf('lr').estimator({ ...defaultConfig('lr'), copies: 4 }), membraneCrossEntropy(), data, data, {
        epochs: 1,
        batchSize: 8,
        seed: 2,
        optimizer: { kind: 'sgd', learningRate: 0.01 },
        ...(inputs ? { decorrelationInputs: inputs } : {}),
      });
      const r = R(net);
      net.dispose();
      return r;
    };
    // the second method: one deterministic pass over the batch, then the rule (order does not matter with every row sampled)
    const reference = make();
    armDecorrelation(reference, 8 * 5);
    reference.run(x).dispose();
    updateDecorrelation(reference);
    const expected = R(reference);
    reference.dispose();
    const clean = await trained('deterministic'),
      noisy = await trained();
    clean.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 6));
    expect(Math.max(...noisy.map((v, i) => Math.abs(v - expected[i]!)))).toBeGreaterThan(1e-4);
    x.dispose();
  });
});

describe("the command line's choice of decorrelated layers", () => {
  const decorrelated = (net: Network) => net.layers.filter((l) => l.params['decorrelation'] !== undefined).map((l) => l.name);
  it("'deep' decorrelates the hidden layers after the first: never the data's layer, never the readout", () => {
    const dense3 = buildNetwork({ ...defaultConfig('lr'), hidden: [6, 5, 4], decorrelate: 'deep' }, [8], 3);
    expect(decorrelated(dense3)).toEqual(['hidden2', 'hidden3']);
    dense3.dispose();
    const conv = buildNetwork({ ...defaultConfig('lr'), hidden: [5], conv: '2c3-p2-3c3', decorrelate: 'deep' }, [12, 12, 1], 3);
    expect(decorrelated(conv)).toEqual(['conv2', 'hidden']);
    conv.dispose();
    // 'auto' (the default): the hidden layers where a forward-only learner trains blocks on a dense stack, else none
    const auto = (c: Partial<ReturnType<typeof defaultConfig>>, method: 'lr' | 'fg-activity' | 'bptt' | 'fg' = 'lr') => {
      const net = buildNetwork({ ...defaultConfig(method), ...c }, c.conv ? [12, 12, 1] : [8], 3);
      const names = decorrelated(net);
      net.dispose();
      return names;
    };
    expect(auto({ hidden: [6, 5] })).toEqual(['hidden1', 'hidden2']);
    expect(auto({ hidden: [6, 5] }, 'fg-activity')).toEqual(['hidden1', 'hidden2']);
    expect(auto({ hidden: [6] })).toEqual([]);
    expect(auto({ hidden: [6, 5] }, 'bptt')).toEqual([]);
    expect(auto({ hidden: [6, 5] }, 'fg')).toEqual([]);
    expect(auto({ hidden: [6, 5], recurrent: true })).toEqual(['hidden1', 'hidden2']);
    expect(auto({ hidden: [6], recurrent: true })).toEqual(['hidden']);
    expect(auto({ hidden: [6], recurrent: true }, 'bptt')).toEqual([]);
    // an LR conv stack: its conv and hidden layers, with R and μ from a noise-free pass; forward gradients' conv stacks unmeasured: none
    expect(auto({ hidden: [5], conv: '2c3-p2' })).toEqual(['conv', 'hidden']);
    expect(decorrelationInputsOf({ ...defaultConfig('lr'), hidden: [5], conv: '2c3-p2' })).toBe('deterministic');
    expect(auto({ hidden: [5], conv: '2c3-p2' }, 'fg-activity')).toEqual([]);
    expect(auto({ hidden: [5], conv: '2c3-p2' }, 'bptt')).toEqual([]);
    expect(decorrelationInputsOf({ ...defaultConfig('lr'), hidden: [6, 5] })).toBe('estimate');
    // a choice the user made stands: 'hidden' on a conv stack keeps the estimator's own statistics unless asked
    expect(decorrelationInputsOf({ ...defaultConfig('lr'), hidden: [5], conv: '2c3-p2', decorrelate: 'hidden' })).toBe('estimate');
    expect(decorrelationInputsOf({ ...defaultConfig('lr'), hidden: [5], conv: '2c3-p2', decorrelationInputs: 'estimate' })).toBe('estimate');
    expect(auto({ hidden: [6, 5], localLosses: 'none' })).toEqual([]); // no blocks, as measured: none
    // the other choices, for contrast: 'hidden' takes the first layer too, 'readout' only the readout
    const hidden = buildNetwork({ ...defaultConfig('lr'), hidden: [6, 5], decorrelate: 'hidden' }, [8], 3);
    expect(decorrelated(hidden)).toEqual(['hidden1', 'hidden2']);
    hidden.dispose();
  });
});
