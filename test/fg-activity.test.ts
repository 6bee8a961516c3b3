/**
 * Activity perturbation in one step-major pass plus a primal rerun (memory flat in T): the estimate
 * must be the one the definition gives, computed here the other way — for each trained layer and
 * direction, a layer-major forward-mode run (tangentRun) with the whole direction u `[T, B, …]`
 * from the same stream added to that layer's current tangent, the per-sample derivatives
 * (∇ℓ_b · u_b), and the layer's local VJP of mean_k (∇ℓ_b · u_kb) u_kb over all T steps at once.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { forwardGradient } from '../src/learning/estimators/fg.js';
import type { Batch } from '../src/learning/estimators/types.js';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import { withPeakBytes } from '../src/learning/memory.js';
import { directionalDerivative } from '../src/learning/tangent.js';
import { sampleNoise } from '../src/neurons/noise.js';
import { lif } from '../src/neurons/params.js';
import { atan } from '../src/neurons/surrogate.js';
import { currentShapeOf } from '../src/sim/layer.js';
import { conv2d, dense, flatten, readout, recurrent, type LayerSpec } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';
import { streamKey } from '../src/core/random.js';

const loss = membraneCrossEntropy('mean');
const surrogate = atan();

/**
 * The exact gradient of the mean loss for one variable, element by element: the directional
 * derivative along each unit vector, by the layer-major forward mode that steps every layer T times.
 */
function exactGradient(net: Network, batch: Batch, v: tf.Variable): Float32Array {
  const g = new Float32Array(v.size);
  for (let i = 0; i < v.size; i++) {
    const e = tf.tidy(() => tf.reshape(tf.oneHot(tf.tensor1d([i], 'int32'), v.size), v.shape));
    g[i] = directionalDerivative(net, batch, loss, new Map([[v, e]]), surrogate).derivative;
    e.dispose();
  }
  return g;
}

/**
 * The definition, layer by layer and direction by direction; the readout, read by its time mean,
 * by its exact gradient (it is trained so, as LR trains it, not perturbed).
 */
function reference(net: Network, batch: Batch, K: number, seed: number): Map<tf.Variable, Float32Array> {
  const [B, T] = batch.input.shape as [number, number];
  const out = new Map<tf.Variable, Float32Array>();
  net.layers.forEach((layer, index) => {
    if (!layer.neuron || layer.mapParams.length === 0) return;
    if (index === net.layers.length - 1) {
      for (const name of layer.mapParams) out.set(layer.params[name]!, exactGradient(net, batch, layer.params[name]!));
      return;
    }
    const shape = [T, B, ...currentShapeOf(layer)];
    let input: tf.Tensor | undefined, output: tf.Tensor | undefined;
    const terms: tf.Tensor[] = [];
    for (let k = 0; k < K; k++) {
      const u = tf.tensor(
        sampleNoise(
          'gaussian',
          shape.reduce((a, b) => a * b, 1),
          streamKey(seed, index, k),
        ),
        shape,
      );
      const r = directionalDerivative(net, batch, loss, new Map(), surrogate, {
        currentTangents: new Map([[index, u]]),
        observeLayer: (i, x, o) => {
          if (i !== index || input) return;
          input = x.clone();
          output = o.clone();
        },
      });
      terms.push(tf.tidy(() => tf.mul(u, tf.reshape(tf.tensor1d(r.rows), [1, B, ...currentShapeOf(layer).map(() => 1)]))));
      u.dispose();
    }
    tf.tidy(() => {
      const g = tf.div(tf.addN(terms), K);
      const rows = tf.reshape(g, [T * B, ...currentShapeOf(layer)]);
      // a constant input's first layer saw one step of rows: its VJP is of Σ_t ĝ_t
      const grads = input!.shape[0] === T * B ? layer.vjp(input!, rows) : layer.vjp(input!, tf.sum(g, 0));
      for (const [name, grad] of Object.entries(grads)) out.set(layer.params[name]!, grad.dataSync() as Float32Array);
      if (layer.recurrentVjp && layer.params['recurrent']) {
        const steps = tf.unstack(g),
          outs = tf.unstack(tf.reshape(output!, [T, B, -1]));
        out.set(layer.params['recurrent'], tf.addN(steps.slice(1).map((gt, t) => layer.recurrentVjp!(outs[t]!, gt)['recurrent']!)).dataSync() as Float32Array);
      }
    });
    tf.dispose([...terms, input!, output!]);
    input = output = undefined;
  });
  return out;
}

function expectDefinition(layers: LayerSpec[], inputShape: number[], batch: Batch, K: number): void {
  const net = new Network({ input: inputShape, layers, seed: 6 });
  const want = reference(net, batch, K, 21);
  const e = forwardGradient({ directions: K, perturb: 'activities', surrogate }).estimate(net, batch, loss, 21);
  const names = new Map(net.layers.flatMap((l) => Object.entries(l.params).map(([p, v]) => [v, `${l.name}.${p}`] as const)));
  expect([...e.gradients.keys()].map((v) => names.get(v)).sort()).toEqual([...want.keys()].map((v) => names.get(v)).sort());
  for (const [v, w] of want) {
    const got = e.gradients.get(v)!.dataSync();
    const scale = Math.max(...w.map(Math.abs));
    expect(scale, `${names.get(v)}: a zero gradient would make the comparison vacuous`).toBeGreaterThan(1e-6);
    got.forEach((x, i) => expect(Math.abs(x - w[i]!), `${names.get(v)}[${i}]`).toBeLessThanOrEqual(1e-4 * scale));
  }
  e.dispose();
  net.dispose();
}

const spikes = (shape: number[], seed: number) => tf.tidy(() => tf.cast(tf.less(tf.randomUniform(shape, 0, 1, 'float32', seed), 0.5), 'float32'));

describe('activity perturbation, step by step, is its definition', () => {
  it('a recurrent hidden layer, a dense one and a readout, two directions', () => {
    const batch = { input: tf.tidy(() => tf.randomUniform([3, 6, 5], 0, 2, 'float32', 8)), labels: tf.tensor1d([0, 1, 1], 'int32') };
    expectDefinition(
      [
        recurrent({ units: 4, neuron: lif({ beta: 0.8, threshold: 0.3 }) }),
        dense({ units: 5, neuron: lif({ threshold: 0.3 }) }),
        readout({ units: 2, beta: 0.8 }),
      ],
      [5],
      batch,
      2,
    );
    tf.dispose([batch.input, batch.labels]);
  });

  it('a conv layer on a time-constant input', () => {
    const frame = tf.tidy(() => tf.randomUniform([2, 1, 6, 6, 1], 0, 2, 'float32', 3));
    const batch = { input: tf.tidy(() => tf.tile(frame, [1, 5, 1, 1, 1])), labels: tf.tensor1d([1, 0], 'int32'), constantInTime: true };
    expectDefinition([conv2d({ filters: 2, kernelSize: 3, neuron: lif({ threshold: 0.3 }) }), flatten(), readout({ units: 2 })], [6, 6, 1], batch, 1);
    tf.dispose([frame, batch.input, batch.labels]);
  });

  it('memory grows with T by the input and the output only', () => {
    const net = new Network({ input: [20], layers: [dense({ units: 64, neuron: lif() }), readout({ units: 3 })], seed: 1 });
    const labels = tf.tensor1d([0, 1, 2, 0], 'int32');
    const peak = (T: number) => {
      const input = spikes([4, T, 20], 2);
      const before = tf.memory().numBytes;
      const { result, peakBytes } = withPeakBytes(() => forwardGradient({ directions: 1, perturb: 'activities' }).estimate(net, { input, labels }, loss, 3));
      result.dispose();
      input.dispose();
      return peakBytes - before;
    };
    const growth = peak(256) - peak(64);
    // per step: the time-major copy of the input [4, 20], the output and its tangents [2 directions + 1, 4, 3]
    // (and their stacked copies), and the ⌈√T⌉-step buffers of the layer inputs and adjoints (16 steps at T = 256)
    const perStep = 4 * 20 * 4 + 2 * 3 * 4 * 3 * 4;
    const buffers = (16 - 8) * 4 * (20 + 64 + 64 + 3) * 4;
    expect(growth).toBeLessThanOrEqual(192 * perStep + buffers);
    labels.dispose();
    net.dispose();
  });
});
