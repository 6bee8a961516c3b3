/**
 * LR in time chunks (gradient checkpointing): the estimate must be the one-pass estimate with the
 * same seed — the same noise, so the same spikes, the reverse filter carried from chunk to chunk —
 * summed in another order, for every neuron family, both scores, a recurrent layer, learned
 * coefficients and σ, rate regularisers, both baselines and layer-wise injection. The one-pass
 * estimator is the independent method (its own exact-enumeration tests make it the truth).
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { checkCombinations, defaultConfig } from '../src/cli/config.js';
import { chunkSteps, likelihoodRatio, type LRConfig } from '../src/learning/estimators/lr.js';
import type { Batch } from '../src/learning/estimators/types.js';
import { membraneCrossEntropy, countCrossEntropy, type RowLoss } from '../src/learning/losses.js';
import { withPeakBytes } from '../src/learning/memory.js';
import { rateRegularizer, regularized } from '../src/learning/regularizers.js';
import { escapeNoise } from '../src/neurons/noise.js';
import { alif, equationNeuron, lif, synaptic } from '../src/neurons/params.js';
import { dense, readout, recurrent } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';
import { expectSameEstimate, parameterNames } from './helpers.js';

const adaptive = equationNeuron({
  name: 'quadratic adaptive',
  equations: { u: 'beta * u + I - w + c * u^2', w: 'rho * w + a * u' },
  reset: { u: 'beta * u + I - w - theta', w: 'rho * w + a * u + b' },
  spike: { variable: 'u', threshold: 'theta + 0.5 * w' },
  parameters: { beta: 0.8, rho: 0.6, a: 0.4, b: 0.3, c: 0.05, theta: 0.6 },
});

function batchOf(size: number, steps: number, inputs: number, seed: number, constant: boolean): Batch {
  return tf.tidy(() => ({
    input: constant
      ? tf.tile(tf.randomUniform([size, 1, inputs], 0, 1, 'float32', seed), [1, steps, 1])
      : tf.cast(tf.less(tf.randomUniform([size, steps, inputs], 0, 1, 'float32', seed), 0.4), 'float32'),
    labels: tf.tensor1d(
      Int32Array.from({ length: size }, (_, i) => (i * 5 + seed) % 3),
      'int32',
    ),
    constantInTime: constant,
  }));
}

/**
 * The cross-entropy of the mean membrane without its `timeMean` mark: the readout then runs its T
 * steps (its reverse filter carried from chunk to chunk); with the mark both passes map its
 * time-weighted input once (test/mean-readout.test.ts), the chunks summing it step by step.
 */
const stepwise = (): RowLoss => {
  const loss = membraneCrossEntropy();
  return (output, labels) => loss(output, labels);
};

function expectChunkedIsWhole(net: Network, batch: Batch, config: LRConfig, chunk: number | 'auto', loss: RowLoss = membraneCrossEntropy()): void {
  const whole = likelihoodRatio(config).estimate(net, batch, loss, 17);
  const chunked = likelihoodRatio({ ...config, timeChunk: chunk }).estimate(net, batch, loss, 17);
  try {
    // float32 sums over chunks instead of over all steps: rounding only
    expectSameEstimate(chunked, whole, parameterNames(net), 2e-5);
    // the readout's mean: x̄ summed chunk by chunk continues the one pass's sums, so the same losses to the bit
    if (loss.timeMean) expect(chunked.loss).toBe(whole.loss);
  } finally {
    whole.dispose();
    chunked.dispose();
  }
}

describe('LR in time chunks is the one-pass estimate', () => {
  const deep = () =>
    new Network({
      input: [12],
      layers: [
        dense({ units: 10, neuron: lif({ refractory: 1, reset: 'zero' }), learn: ['beta', 'threshold'] }),
        recurrent({ units: 8, neuron: alif(), learn: ['beta', 'threshold'] }),
        dense({ units: 6, neuron: synaptic(), learn: ['beta'] }),
        readout({ units: 3 }),
      ],
      seed: 1,
    });
  it.each([
    ['chunks of 3 over 7 steps (a short last chunk)', 3],
    ['chunks of one step', 1],
    ["'auto' (3 steps for 7)", 'auto'],
  ] as const)('LIF with refractory and zero reset, recurrent ALIF, synaptic, learned coefficients, readout: %s', (_, chunk) => {
    const net = deep();
    const batch = batchOf(5, 7, 12, 2, false);
    expectChunkedIsWhole(net, batch, { copies: 4, noise: escapeNoise('logistic', 0.5) }, chunk, stepwise());
    expectChunkedIsWhole(net, batch, { copies: 4, noise: escapeNoise('logistic', 0.5) }, chunk);
    tf.dispose([batch.input, batch.labels]);
    net.dispose();
  });

  it('an equation neuron (its reverse filter reads the next step: across the chunk edge), noise score with learned σ, Gaussian noise', () => {
    const net = new Network({
      input: [10],
      layers: [dense({ units: 8, neuron: adaptive as never, learn: ['beta', 'a', 'sigma'] }), dense({ units: 3, neuron: lif({ threshold: 0.5 }) })],
      seed: 4,
    });
    const batch = batchOf(4, 6, 10, 3, false);
    expectChunkedIsWhole(net, batch, { copies: 4, noise: escapeNoise('gaussian', 0.4), score: 'noise' }, 4, countCrossEntropy());
    expectChunkedIsWhole(net, batch, { copies: 4, noise: escapeNoise('logistic', 0.4) }, 2, countCrossEntropy());
    tf.dispose([batch.input, batch.labels]);
    net.dispose();
  });

  it('constant input, a rate regulariser, the noise-free baseline, antithetic and QMC sampling, layer-wise injection', () => {
    const net = new Network({
      input: [12],
      layers: [dense({ units: 10, neuron: lif() }), dense({ units: 7, neuron: lif({ reset: 'zero' }) }), readout({ units: 3 })],
      seed: 5,
    });
    const batch = batchOf(4, 9, 12, 6, true);
    const noise = escapeNoise('logistic', 0.5);
    const loss = regularized(membraneCrossEntropy(), [rateRegularizer({ weight: 0.5, target: 0.2 })]);
    expectChunkedIsWhole(net, batch, { copies: 4, noise }, 4, loss);
    expectChunkedIsWhole(net, batch, { copies: 2, noise, baseline: 'noise-free', sampling: 'antithetic' }, 2);
    expectChunkedIsWhole(net, batch, { copies: 4, noise, sampling: 'qmc', qmcGroup: 2 }, 5);
    expectChunkedIsWhole(net, batch, { copies: 4, noise, layerwise: true }, 3);
    tf.dispose([batch.input, batch.labels]);
    net.dispose();
  });

  it('chunk lengths: auto is the rounded-up square root, and a chunk as long as the run is one pass', () => {
    expect([chunkSteps('auto', 100), chunkSteps('auto', 101), chunkSteps(5, 100), chunkSteps(100, 100), chunkSteps(undefined, 100)]).toEqual([
      10,
      11,
      5,
      undefined,
      undefined,
    ]);
    expect(() => likelihoodRatio({ copies: 2, noise: escapeNoise('logistic', 0.5), timeChunk: 0 })).toThrow(/timeChunk.*must be an integer >= 1, got 0/);
    const lr = { ...defaultConfig('lr'), timeChunk: 4 };
    expect(() => checkCombinations({ ...lr, pipeline: 2 }, 'c')).toThrow(/pipeline: time chunks rerun every stage's chunks in reverse; use one or the other/);
    expect(() => checkCombinations({ ...defaultConfig('bptt'), timeChunk: 4 }, 'c')).toThrow(/timeChunk applies to method 'lr'/);
    expect(() => checkCombinations(lr, 'c')).not.toThrow();
  });

  it('keeps no tensors between steps', () => {
    const net = deep();
    const batch = batchOf(4, 7, 12, 8, false);
    const est = likelihoodRatio({ copies: 4, noise: escapeNoise('logistic', 0.5), timeChunk: 3 });
    const optimizer = tf.train.adam(0.01);
    let live = -1;
    for (let step = 0; step < 4; step++) {
      const e = est.estimate(net, batch, membraneCrossEntropy(), step);
      optimizer.applyGradients([...e.gradients].map(([v, g]) => ({ name: v.name, tensor: g })));
      net.constrain();
      e.dispose();
      if (step === 1) live = tf.memory().numTensors;
      if (step > 1) expect(tf.memory().numTensors).toBe(live);
    }
    optimizer.dispose();
    tf.dispose([batch.input, batch.labels]);
    net.dispose();
  });

  it("memory grows with T only by the chunks' starting states and the output: a closed-form bound, against one pass", () => {
    const B = 8,
      K = 4,
      units = [64, 32, 3];
    const net = new Network({
      input: [20],
      layers: [dense({ units: units[0]!, neuron: lif() }), dense({ units: units[1]!, neuron: lif() }), readout({ units: units[2]! })],
      seed: 1,
    });
    const labels = tf.tensor1d(
      Int32Array.from({ length: B }, (_, i) => i % 3),
      'int32',
    );
    // bytes of tensors live at once inside one estimate, beyond what was live before (the input included)
    const peak = (T: number, chunk?: number) => {
      const input = tf.tidy(() => tf.cast(tf.less(tf.randomUniform([B, T, 20], 0, 1, 'float32', 1), 0.4), 'float32'));
      const before = tf.memory().numBytes;
      const est = likelihoodRatio({ copies: K, noise: escapeNoise('logistic', 0.5), ...(chunk ? { timeChunk: chunk } : {}) });
      const { result, peakBytes } = withPeakBytes(() => est.estimate(net, { input, labels }, membraneCrossEntropy(), 3));
      result.dispose();
      input.dispose();
      return peakBytes - before;
    };
    const rows = K * B,
      f32 = 4;
    // a stored starting state: membrane and spikes of every layer (all K·B rows: the noise starts in the first)
    const checkpoint = units.reduce((sum, n) => sum + 2 * rows * n * f32, 0);
    // per step, tensors of the output's size [rows, 3]: the first pass's output, and while the
    // readout's seed ∂L/∂output is formed, the seed and the two temporaries of its derivative
    const output = 4 * rows * units[2]! * f32;
    for (const chunk of [4, 8]) {
      const growth = peak(256, chunk) - peak(64, chunk);
      expect(growth).toBeLessThanOrEqual((192 / chunk) * checkpoint + 192 * output);
      // the one pass keeps every step's spikes and scores of both hidden layers and the readout's input
      expect(growth).toBeLessThan((peak(256) - peak(64)) / 4);
    }
    labels.dispose();
    net.dispose();
  });
});
