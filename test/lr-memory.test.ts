import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { likelihoodRatio, type Estimator } from '../src/learning/estimators/lr.js';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import { escapeNoise } from '../src/neurons/noise.js';
import { alif, analog, lif, synaptic } from '../src/neurons/params.js';
import { conv2d, dense, flatten, graphConv, readout, recurrent } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';

/** Four optimizer steps with `est`; from the third on, the live tensor count must equal the second's. */
function expectFlatTensorCount(est: Estimator, net: Network, input: tf.Tensor, labels: tf.Tensor, optimizer: tf.Optimizer): void {
  let live = -1;
  for (let step = 0; step < 4; step++) {
    const e = est.estimate(net, { input, labels }, membraneCrossEntropy(), step);
    optimizer.applyGradients([...e.gradients].map(([v, g]) => ({ name: v.name, tensor: g })));
    net.constrain();
    e.dispose();
    if (step === 1) live = tf.memory().numTensors;
    if (step > 1) expect(tf.memory().numTensors).toBe(live);
  }
}

describe('LR training keeps no tensors between steps', () => {
  it.each([
    [
      'spiking (LIF with refractory, recurrent ALIF with learned coefficients, synaptic)',
      () =>
        new Network({
          input: [12],
          layers: [
            dense({ units: 10, neuron: lif({ refractory: 1, reset: 'zero' }), learn: ['beta', 'threshold'] }),
            recurrent({ units: 8, neuron: alif(), learn: ['beta', 'threshold'] }),
            dense({ units: 6, neuron: synaptic() }),
            readout({ units: 3 }),
          ],
          seed: 1,
        }),
      [4, 5, 12],
    ],
    [
      'conv and graph layers',
      () =>
        new Network({
          input: [6, 6, 1],
          layers: [
            conv2d({ filters: 2, kernelSize: 3, neuron: analog({ activation: 'relu' }) }),
            flatten(),
            graphConv({
              units: 5,
              nodes: 4,
              edges: [
                [0, 1],
                [1, 2],
                [2, 3],
              ],
            }),
            readout({ units: 3 }),
          ],
          seed: 2,
        }),
      [4, 2, 6, 6, 1],
    ],
  ] as const)('%s', (_, make, shape) => {
    const net = make();
    const input = tf.tidy(() => tf.cast(tf.greater(tf.randomUniform([...shape], 0, 1, 'float32', 3), 0.5), 'float32'));
    const labels = tf.tensor1d([0, 1, 2, 1], 'int32');
    const optimizer = tf.train.adam(0.01);
    for (const sampling of ['mc', 'antithetic', 'qmc'] as const) {
      const est = likelihoodRatio({ copies: 4, noise: escapeNoise('logistic', 0.5), sampling, baseline: sampling === 'qmc' ? 'noise-free' : 'loo' });
      expectFlatTensorCount(est, net, input, labels, optimizer);
    }
    optimizer.dispose();
    tf.dispose([input, labels]);
    net.dispose();
  });
});

describe('noise schedules', () => {
  it('an estimate with σ scaled by s is the estimate of an estimator built with σ·s (same seed, same bits)', () => {
    const net = new Network({ input: [6], layers: [dense({ units: 5, neuron: lif(), learn: ['sigma'] }), readout({ units: 2 })], seed: 4 });
    const input = tf.tidy(() => tf.cast(tf.greater(tf.randomUniform([3, 4, 6], 0, 1, 'float32', 5), 0.4), 'float32'));
    const labels = tf.tensor1d([0, 1, 1], 'int32');
    const scheduled = likelihoodRatio({ copies: 4, noise: escapeNoise('gaussian', 0.5) }).estimate(net, { input, labels }, membraneCrossEntropy(), 9, {
      sigmaScale: 0.6,
    });
    const direct = likelihoodRatio({ copies: 4, noise: escapeNoise('gaussian', 0.3) }).estimate(net, { input, labels }, membraneCrossEntropy(), 9);
    expect(scheduled.gradients.size).toBe(5);
    for (const [v, g] of direct.gradients) expect(Array.from(scheduled.gradients.get(v)!.dataSync())).toEqual(Array.from(g.dataSync()));
    expect(() =>
      likelihoodRatio({ copies: 4, noise: escapeNoise('gaussian', 0.5) }).estimate(net, { input, labels }, membraneCrossEntropy(), 9, { sigmaScale: 0 }),
    ).toThrow(/lr: sigmaScale must be > 0, got 0/);
    scheduled.dispose();
    direct.dispose();
    tf.dispose([input, labels]);
    net.dispose();
  });
});

describe('BPTT training keeps no tensors between steps', () => {
  it('with and without truncation', async () => {
    const { bptt } = await import('../src/learning/estimators/bptt.js');
    const net = new Network({
      input: [8],
      layers: [recurrent({ units: 6, neuron: lif(), learn: ['beta', 'threshold'] }), dense({ units: 4, neuron: alif() }), readout({ units: 3 })],
      seed: 3,
    });
    const input = tf.tidy(() => tf.cast(tf.greater(tf.randomUniform([4, 6, 8], 0, 1, 'float32', 2), 0.5), 'float32'));
    const labels = tf.tensor1d([0, 1, 2, 1], 'int32');
    const optimizer = tf.train.adam(0.01);
    for (const truncate of [undefined, 2]) expectFlatTensorCount(bptt(truncate ? { truncate } : {}), net, input, labels, optimizer);
    optimizer.dispose();
    tf.dispose([input, labels]);
    net.dispose();
  });
});
