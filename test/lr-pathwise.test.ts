/**
 * For smooth layers with Gaussian noise on their pre-activations, the gradient of the smoothed loss
 * E_ε[L] has a second, independent estimator: the pathwise (reparameterised) gradient, tfjs
 * autodiff through the whole network with the noise held fixed. LR and pathwise means over M
 * seeded draws must agree within 5 combined standard errors, entry by entry.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/kernels/backend.js';
import { conv2dFilterGradient, conv2dOp } from '../src/sim/conv.js';
import { activate } from '../src/neurons/firing.js';
import { likelihoodRatio } from '../src/learning/estimators/lr.js';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import { escapeNoise } from '../src/neurons/noise.js';
import { analog } from '../src/neurons/params.js';
import { conv2d, dense, flatten, graphConv, gru, readout, recurrent, sumPool2d, type LayerSpec } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';

const SIGMA = 0.5;
const noise = escapeNoise('gaussian', SIGMA);
const loss = membraneCrossEntropy('mean');

/** Mean loss over K noisy copies with autodiff-able noise, for variableGrads. */
function pathwiseLoss(net: Network, input: tf.Tensor, labels: tf.Tensor, copies: number, seed: number): tf.Scalar {
  const [batch, steps] = input.shape as [number, number];
  let x = tf.reshape(tf.transpose(input, [1, 0, ...input.shape.slice(2).map((_, i) => i + 2)]), [steps * batch, ...net.inputShape]);
  // copies as extra rows from the start: [T, K·B, …] (copy-major, as the estimator lays them out)
  x = tf.reshape(tf.tile(tf.reshape(x, [steps, 1, batch, ...net.inputShape]), [1, copies, 1, ...net.inputShape.map(() => 1)]), [
    steps * copies * batch,
    ...net.inputShape,
  ]);
  const rows = copies * batch;
  let out!: tf.Tensor;
  net.layers.forEach((layer, li) => {
    const params = layer.mapParams.map((n) => layer.params[n]!);
    const a = layer.map(x, params);
    if (!layer.neuron) {
      x = a;
      return;
    }
    const seq = tf.reshape(a, [steps, rows, ...(layer.currentShape ?? layer.outputShape)]);
    if (layer.neuron.kind === 'readout') {
      const beta = layer.neuron.beta;
      const us: tf.Tensor[] = [];
      let u = tf.zeros([rows, ...layer.outputShape]);
      for (let t = 0; t < steps; t++) us.push((u = tf.add(tf.mul(beta, u), tf.squeeze(tf.slice(seq, t, 1), [0]))));
      out = tf.stack(us);
      return;
    }
    const eps = tf.randomNormal(seq.shape, 0, 1, 'float32', seed + li);
    if (layer.neuron.kind === 'gru') {
      // r = σ(a_r), z = σ(a_z), n = tanh(x W_n + b_n + r ⊙ (h U_n + c_n) + σε_n), h = (1 − z) n + z h
      const units = layer.outputShape[0]!;
      let h = tf.zeros([rows, units]);
      const hs: tf.Tensor[] = [];
      for (let t = 0; t < steps; t++) {
        const gx = tf.squeeze(tf.slice(seq, t, 1), [0]);
        const gh = tf.add(tf.matMul(h, layer.params['recurrent']!), layer.params['recurrentBias']!);
        const e = tf.mul(SIGMA, tf.squeeze(tf.slice(eps, t, 1), [0]));
        const part = (m: tf.Tensor, g: number) => tf.slice(m, [0, g * units], [-1, units]);
        const r = tf.sigmoid(tf.add(tf.add(part(gx, 0), part(gh, 0)), part(e, 0)));
        const z = tf.sigmoid(tf.add(tf.add(part(gx, 1), part(gh, 1)), part(e, 1)));
        const n = tf.tanh(tf.add(tf.add(part(gx, 2), tf.mul(r, part(gh, 2))), part(e, 2)));
        hs.push((h = tf.add(tf.mul(tf.sub(1, z), n), tf.mul(z, h))));
      }
      x = tf.reshape(tf.stack(hs), [steps * rows, units]);
      return;
    }
    const act = (layer.neuron as { activation: 'relu' | 'tanh' }).activation;
    let h = tf.zeros([rows, ...layer.outputShape]);
    const hs: tf.Tensor[] = [];
    for (let t = 0; t < steps; t++) {
      let pre = tf.squeeze(tf.slice(seq, t, 1), [0]);
      if (layer.params['recurrent']) pre = tf.add(pre, tf.matMul(h, layer.params['recurrent']));
      hs.push((h = activate(act, tf.add(pre, tf.mul(SIGMA, tf.squeeze(tf.slice(eps, t, 1), [0]))))));
    }
    x = tf.reshape(tf.stack(hs), [steps * rows, ...layer.outputShape]);
  });
  return tf.mean(loss(out, tf.tile(labels, [copies]))) as tf.Scalar;
}

interface Model {
  readonly name: string;
  readonly input: number[];
  readonly layers: LayerSpec[];
  readonly batch: number;
  readonly steps: number;
  readonly classes: number;
  /** Autodiff through conv2d needs a backend with Conv2DBackpropFilter (wasm has none). */
  readonly backend?: 'cpu';
}

const graphEdges: [number, number][] = [
  [0, 1],
  [1, 2],
  [2, 0],
  [2, 3],
  [3, 4],
  [4, 5],
  [5, 3],
];
const models: Model[] = [
  {
    name: 'dense (tanh)',
    input: [4],
    layers: [dense({ name: 'h', units: 5, neuron: analog({ activation: 'tanh' }) }), readout({ units: 3, beta: 0.8 })],
    batch: 3,
    steps: 2,
    classes: 3,
  },
  {
    name: 'conv2d (relu)',
    input: [5, 5, 1],
    layers: [conv2d({ name: 'c', filters: 2, kernelSize: 3, neuron: analog({ activation: 'relu' }) }), flatten(), readout({ units: 3 })],
    batch: 2,
    steps: 1,
    classes: 3,
    backend: 'cpu',
  },
  {
    name: 'vanilla RNN (tanh)',
    input: [3],
    layers: [recurrent({ name: 'r', units: 4, neuron: analog({ activation: 'tanh' }) }), readout({ units: 2, beta: 0.9 })],
    batch: 2,
    steps: 4,
    classes: 2,
  },
  { name: 'GRU', input: [3], layers: [gru({ name: 'g', units: 3 }), readout({ units: 2, beta: 0.9 })], batch: 2, steps: 4, classes: 2 },
  {
    name: 'two-layer GCN (relu)',
    input: [6],
    layers: [
      graphConv({ name: 'g1', units: 4, nodes: 6, edges: graphEdges }),
      graphConv({ name: 'g2', units: 3, nodes: 6, edges: graphEdges, neuron: analog({ activation: 'tanh' }) }),
      readout({ units: 2 }),
    ],
    batch: 6,
    steps: 1,
    classes: 2,
  },
];

function stats(draws: number[][]) {
  const m = draws.length;
  const mean = draws[0]!.map((_, i) => draws.reduce((s, r) => s + r[i]!, 0) / m);
  const se = mean.map((mu, i) => Math.sqrt(draws.reduce((s, r) => s + (r[i]! - mu) ** 2, 0) / (m - 1) / m));
  return { mean, se };
}

describe('LR matches the pathwise gradient of the same smoothed loss', () => {
  afterAll(() => initBackend({ backend: 'wasm', log: null }));

  it.each(models)('$name', async (model) => {
    await initBackend({ backend: model.backend ?? 'wasm', log: null });
    const net = new Network({ input: model.input, layers: model.layers, seed: 3 });
    const size = model.input.reduce((a, b) => a * b, 1);
    const input = tf.tidy(() => tf.reshape(tf.sin(tf.range(0, model.batch * model.steps * size)), [model.batch, model.steps, ...model.input]));
    const labels = tf.tensor1d(
      Array.from({ length: model.batch }, (_, i) => i % model.classes),
      'int32',
    );
    const vars = net.layers.flatMap((l) => Object.values(l.params));
    const K = 32,
      M = 400;
    const est = likelihoodRatio({ copies: K, noise, score: 'noise', baseline: 'loo' });
    const lr: number[][] = [],
      pw: number[][] = [];
    for (let d = 0; d < M; d++) {
      const e = est.estimate(net, { input, labels }, loss, 500 + d);
      lr.push(vars.flatMap((v) => Array.from(e.gradients.get(v)!.dataSync())));
      e.dispose();
      const { grads } = tf.variableGrads(() => pathwiseLoss(net, input, labels, K, 9000 + 7 * d), vars);
      pw.push(vars.flatMap((v) => Array.from(grads[v.name]!.dataSync())));
      tf.dispose(Object.values(grads));
    }
    const a = stats(lr),
      b = stats(pw);
    let informative = 0;
    a.mean.forEach((m, i) => {
      const se = Math.sqrt(a.se[i]! ** 2 + b.se[i]! ** 2);
      expect(Math.abs(m - b.mean[i]!), `entry ${i}: LR ${m} vs pathwise ${b.mean[i]} (se ${se})`).toBeLessThan(5 * se + 1e-7);
      if (Math.abs(b.mean[i]!) > 5 * se) informative++;
    });
    expect(informative).toBeGreaterThan(a.mean.length / 4); // the comparison has power
    tf.dispose([input, labels]);
    net.dispose();
  });
});

describe('conv2d filter gradient without Conv2DBackpropFilter', () => {
  afterAll(() => initBackend({ backend: 'wasm', log: null }));

  it.each([
    [1, 'same' as const, 3, [2, 6, 6, 2]],
    [2, 'same' as const, 3, [2, 7, 7, 3]],
    [2, 'valid' as const, 3, [1, 7, 6, 2]],
    [3, 'valid' as const, 2, [2, 8, 8, 1]],
    [1, 'valid' as const, 5, [1, 9, 9, 2]],
  ])('stride %i, padding %s, kernel %i: equals tfjs autodiff on the cpu backend', async (stride, padding, k, shape) => {
    await initBackend({ backend: 'cpu', log: null });
    const x = tf.tidy(() =>
      tf
        .sin(
          tf.range(
            0,
            shape.reduce((a, b) => a * b, 1),
          ),
        )
        .reshape(shape),
    ) as tf.Tensor4D;
    const kernel = tf.tidy(() => tf.cos(tf.range(0, k * k * shape[3]! * 4)).reshape([k, k, shape[3]!, 4])) as tf.Tensor4D;
    const y = tf.conv2d(x, kernel, stride, padding);
    const dy = tf.tidy(() => tf.sin(tf.mul(tf.range(0, y.size), 0.7)).reshape(y.shape)) as tf.Tensor4D;
    const [reference] = tf.grads((kk: tf.Tensor) => tf.conv2d(x, kk as tf.Tensor4D, stride, padding))([kernel], dy);
    const ours = conv2dFilterGradient(x, dy, k, stride, padding);
    expect(ours.shape).toEqual(reference!.shape);
    const a = ours.dataSync(),
      b = reference!.dataSync();
    a.forEach((v, i) => expect(v).toBeCloseTo(b[i]!, 3));
    tf.dispose([x, kernel, y, dy, reference!, ours]);
  });
});

describe('explicit conv padding and sum pooling: gradients on every backend', () => {
  afterAll(() => initBackend({ backend: 'wasm', log: null }));

  it.each([
    [1, 1, 3, [2, 6, 6, 2]],
    [2, 1, 5, [1, 9, 9, 2]],
    [2, 2, 3, [2, 7, 8, 1]],
  ])('conv stride %i, padding %i, kernel %i: input and kernel gradients equal cpu autodiff of tfjs explicit padding', async (stride, p, k, shape) => {
    const x0 = Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i));
    const k0 = Array.from({ length: k * k * shape[3]! * 3 }, (_, i) => Math.cos(i));
    const grads = async (backend: 'cpu' | 'wasm', ours: boolean) => {
      await initBackend({ backend, log: null });
      const x = tf.tensor4d(x0, shape as [number, number, number, number]),
        kernel = tf.tensor4d(k0, [k, k, shape[3]!, 3]);
      const f = ours
        ? conv2dOp(stride, p)
        : (a: tf.Tensor4D, b: tf.Tensor4D) =>
            tf.conv2d(a, b, stride, [
              [0, 0],
              [p, p],
              [p, p],
              [0, 0],
            ]);
      const y = f(x, kernel);
      const dy = tf.tidy(() => tf.sin(tf.mul(tf.range(0, y.size), 0.7)).reshape(y.shape));
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => f(a as tf.Tensor4D, b as tf.Tensor4D))([x, kernel], dy);
      const out = { y: Array.from(y.dataSync()), gx: Array.from(g[0]!.dataSync()), gk: Array.from(g[1]!.dataSync()) };
      tf.dispose([x, kernel, y, dy, ...g]);
      return out;
    };
    const reference = await grads('cpu', false),
      mine = await grads('wasm', true);
    for (const key of ['y', 'gx', 'gk'] as const) mine[key].forEach((v, i) => expect(v, key).toBeCloseTo(reference[key][i]!, 3));
  });

  it('sum pooling: exact window sums, and its gradient equals cpu autodiff of a depthwise convolution by ones', async () => {
    const shape = [2, 7, 7, 3] as [number, number, number, number];
    const x0 = Array.from({ length: 2 * 7 * 7 * 3 }, (_, i) => (i * 7919) % 3); // small integers: sums are exact
    const run = async (backend: 'cpu' | 'wasm', ours: boolean) => {
      await initBackend({ backend, log: null });
      const net = ours ? new Network({ input: [7, 7, 3], layers: [sumPool2d({ poolSize: 3, stride: 2, padding: 1 })], seed: 1 }) : undefined;
      const f = (x: tf.Tensor) =>
        net
          ? net.layers[0]!.map(x, [])
          : tf.depthwiseConv2d(
              tf.pad(x as tf.Tensor4D, [
                [0, 0],
                [1, 1],
                [1, 1],
                [0, 0],
              ]),
              tf.ones([3, 3, 3, 1]) as tf.Tensor4D,
              2,
              'valid',
            );
      const x = tf.tensor4d(x0, shape);
      const y = f(x);
      const dy = tf.tidy(() => tf.cos(tf.range(0, y.size)).reshape(y.shape));
      const g = tf.grad(f)(x, dy);
      const out = { y: Array.from(y.dataSync()), g: Array.from(g.dataSync()) };
      tf.dispose([x, y, dy, g]);
      net?.dispose();
      return out;
    };
    const reference = await run('cpu', false),
      mine = await run('wasm', true);
    expect(mine.y).toEqual(reference.y);
    mine.g.forEach((v, i) => expect(v).toBeCloseTo(reference.g[i]!, 4));
  });
});
