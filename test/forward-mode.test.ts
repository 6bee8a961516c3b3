/**
 * Forward mode through whole networks (every layer's JVP, every neuron's tangent step) against a
 * second method: tfjs autodiff of the same surrogate network (the BPTT estimator). For random
 * directions v on every parameter, the directional derivative carried forward equals ∇L · v.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { bptt } from '../src/learning/estimators/bptt.js';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import { directionalDerivative } from '../src/learning/tangent.js';
import { directionalDerivatives } from '../src/learning/tangent-steps.js';
import { alif, analog, equationNeuron, lif, synaptic } from '../src/neurons/params.js';
import { atan } from '../src/neurons/surrogate.js';
import { conv2d, dense, flatten, gru, maxPool2d, readout, recurrent, type LayerSpec } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';

const surrogate = atan({ alpha: 2 });

function directions(net: Network, seed: number): Map<tf.Variable, tf.Tensor> {
  return new Map(
    net.layers.flatMap((l) =>
      Object.entries(l.params)
        .filter(([n]) => n !== 'noiseScale')
        .map(([, v], i) => [v, tf.randomNormal(v.shape, 0, 1, 'float32', seed + 17 * i + l.name.length)] as const),
    ),
  );
}

const adaptive = equationNeuron({
  equations: { u: 'beta * u + I - w + 0.1 * u^2', w: 'rho * w + 0.2 * u' },
  reset: { u: 'I - w', w: 'rho * w + 0.2 * u + 0.3' },
  spike: { variable: 'u', threshold: 'theta + 0.5 * w' },
  parameters: { beta: 0.85, rho: 0.7, theta: 0.5 },
});

const cases: [string, readonly number[], LayerSpec[], ((net: Network) => void)?][] = [
  [
    'dense LIF (learned β, ϑ) → recurrent ALIF (with a recurrent bias) → readout',
    [12],
    [
      dense({ name: 'h1', units: 10, neuron: lif({ beta: 0.85, threshold: 0.4 }), learn: ['beta', 'threshold'] }),
      recurrent({ name: 'h2', units: 8, neuron: alif({ beta: 0.9, threshold: 0.3, rho: 0.8, adaptation: 0.3 }), recurrentBias: true }),
      readout({ name: 'o', units: 3, beta: 0.8 }),
    ],
  ],
  [
    'conv2d LIF (zero reset) → flatten → dense current-based LIF → readout',
    [6, 6, 1],
    [
      conv2d({ name: 'c', filters: 3, kernelSize: 3, neuron: lif({ beta: 0.8, threshold: 0.3, reset: 'zero' }) }),
      flatten(),
      dense({ name: 'h', units: 8, neuron: synaptic({ alpha: 0.6, beta: 0.85, threshold: 0.3 }) }),
      readout({ name: 'o', units: 3 }),
    ],
  ],
  [
    'conv2d LIF → 2×2 max pooling of its spikes (ties everywhere) → flatten → readout',
    [6, 6, 1],
    [
      conv2d({ name: 'c', filters: 3, kernelSize: 3, neuron: lif({ beta: 0.8, threshold: 0.2 }) }),
      maxPool2d({ poolSize: 2 }),
      flatten(),
      readout({ name: 'o', units: 3 }),
    ],
  ],
  [
    'conv2d analog relu → 3×3 max pooling with stride 2 (overlapping windows) → flatten → readout',
    [7, 7, 1],
    [
      conv2d({ name: 'c', filters: 2, kernelSize: 2, neuron: analog({ activation: 'relu' }) }),
      maxPool2d({ poolSize: 3, stride: 2 }),
      flatten(),
      readout({ name: 'o', units: 3 }),
    ],
  ],
  [
    'GRU → analog tanh → readout',
    [12],
    [gru({ name: 'g', units: 6 }), dense({ name: 'a', units: 5, neuron: analog({ activation: 'tanh' }) }), readout({ name: 'o', units: 3 })],
  ],
  [
    'equation neuron (two variables, learned θ) → readout',
    [12],
    [dense({ name: 'e', units: 10, neuron: adaptive, learn: ['theta'] }), readout({ name: 'o', units: 3 })],
  ],
  [
    'decorrelated conv2d (centred) → flatten → decorrelated recurrent LIF → decorrelated readout, R and μ away from identity and zero',
    [5, 5, 1],
    [
      conv2d({ name: 'c', filters: 2, kernelSize: 3, neuron: lif({ beta: 0.8, threshold: 0.3 }), decorrelate: true }),
      flatten(),
      recurrent({ name: 'h', units: 6, neuron: lif({ beta: 0.85, threshold: 0.3 }), decorrelate: { centre: false } }),
      readout({ name: 'o', units: 3, decorrelate: true }),
    ],
    (net) => {
      for (const l of net.layers) {
        const R = l.params['decorrelation'],
          mu = l.params['inputMean'];
        if (R)
          net.setParameter(
            l.name,
            'decorrelation',
            tf.tidy(() => tf.add(tf.eye(R.shape[0]!), tf.mul(tf.randomNormal(R.shape, 0, 1, 'float32', 31), 0.1))),
          );
        if (mu)
          net.setParameter(
            l.name,
            'inputMean',
            tf.tidy(() => tf.randomUniform(mu.shape, 0, 0.3, 'float32', 32)),
          );
      }
    },
  ],
];

describe('the directional derivative in forward mode equals autodiff of the surrogate network', () => {
  it.each(cases)('%s', (_name, shape, layers, setup) => {
    const net = new Network({ input: [...shape], layers, seed: 4 });
    setup?.(net);
    const batch = { input: tf.tidy(() => tf.mul(tf.randomUniform([4, 7, ...shape], 0, 1, 'float32', 3), 0.8)), labels: tf.tensor1d([0, 1, 2, 1], 'int32') };
    const loss = membraneCrossEntropy('mean');
    const v = directions(net, 9);
    const reverse = bptt({ surrogate }).estimate(net, batch, loss);
    const expected = tf.tidy(() => [...reverse.gradients].reduce((s, [variable, g]) => s + tf.sum(tf.mul(g, v.get(variable)!)).dataSync()[0]!, 0));
    const before = tf.memory().numTensors;
    const forward = directionalDerivative(net, batch, loss, v, surrogate);
    expect(tf.memory().numTensors).toBe(before); // every temporary freed
    expect(forward.loss).toBeCloseTo(reverse.loss, 5);
    expect(Math.abs(expected)).toBeGreaterThan(1e-3);
    expect(Math.abs(forward.derivative - expected)).toBeLessThan(2e-4 * Math.max(1, Math.abs(expected)));
    reverse.dispose();
    tf.dispose([batch.input, batch.labels, ...v.values()]);
    net.dispose();
  });

  it.each(cases)('step by step with several directions at once: the same derivatives as layer by layer (%s)', (_name, shape, layers, setup) => {
    const net = new Network({ input: [...shape], layers, seed: 4 });
    setup?.(net);
    const batch = { input: tf.tidy(() => tf.mul(tf.randomUniform([4, 7, ...shape], 0, 1, 'float32', 3), 0.8)), labels: tf.tensor1d([0, 1, 2, 1], 'int32') };
    const loss = membraneCrossEntropy('mean');
    const vs = [directions(net, 9), directions(net, 31), directions(net, 57)];
    const one = vs.map((v) => directionalDerivative(net, batch, loss, v, surrogate));
    const before = tf.memory().numTensors;
    const all = directionalDerivatives(net, batch, loss, vs, surrogate);
    expect(tf.memory().numTensors).toBe(before);
    expect(all.loss).toBeCloseTo(one[0]!.loss, 5);
    one.forEach((r, k) => {
      expect(Math.abs(all.derivatives[k]! - r.derivative)).toBeLessThan(1e-4 * Math.max(1, Math.abs(r.derivative)));
      r.rows.forEach((v, b) => expect(all.rows[k]![b]!).toBeCloseTo(v, 4));
    });
    tf.dispose([batch.input, batch.labels, ...vs.flatMap((v) => [...v.values()])]);
    net.dispose();
  });

  it('a layer with no tangent (a plug-in kind that gives none) is an error that points to the alternatives', () => {
    const net = new Network({
      input: [4, 4, 1],
      layers: [conv2d({ filters: 2, kernelSize: 3 }), maxPool2d({ poolSize: 2 }), flatten(), readout({ units: 2 })],
      seed: 1,
    });
    Object.defineProperty(net.layers[1]!, 'jvp', { value: undefined });
    const batch = { input: tf.ones([2, 3, 4, 4, 1]), labels: tf.tensor1d([0, 1], 'int32') };
    expect(() => directionalDerivative(net, batch, membraneCrossEntropy(), new Map(), surrogate)).toThrow(
      /layer 'maxPool2d1' \(maxPool2d\) has no tangent; use a finite-difference estimate or LR/,
    );
    tf.dispose([batch.input, batch.labels]);
    net.dispose();
  });
});
