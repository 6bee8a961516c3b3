/**
 * Neurons written as equations: the same dynamics as the built-in models, checked by mathjs's own
 * float64 evaluation, trained by LR and BPTT with no learner code, unbiased by exact enumeration,
 * and every mistake in the equations named.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { imageSequences, type Dataset } from '../src/data/dataset.js';
import { loadMnist } from '../src/data/mnist.js';
import { bptt } from '../src/learning/estimators/bptt.js';
import { likelihoodRatio } from '../src/learning/estimators/lr.js';
import type { Estimator } from '../src/learning/estimators/types.js';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import { train } from '../src/learning/trainer.js';
import { escapeNoise } from '../src/neurons/noise.js';
import { equationNeuron, lif, neuronFromRecord, type EquationOptions, type NeuronParams } from '../src/neurons/params.js';
import { dense, readout } from '../src/sim/layer.js';
import { deserializeNetwork, serializeNetwork } from '../src/io/network-file.js';
import { Network } from '../src/sim/network.js';
import { refNeurons } from './reference.js';
import { build, exactGradient, snapshot, unbiasedness, type Case } from './tiny-snn.js';

const equationLif = (reset: 'subtract' | 'zero', form: 'reset' | 'spike term' = 'reset') =>
  equationNeuron({
    name: `lif-${reset}`,
    equations: { u: form === 'spike term' && reset === 'subtract' ? 'beta * u + I - theta * s' : 'beta * u + I' },
    ...(form === 'reset' ? { reset: { u: reset === 'subtract' ? 'beta * u + I - theta' : 'I' } } : {}),
    spike: { variable: 'u', threshold: 'theta' },
    parameters: { beta: 0.9, theta: 1 },
  });

const netWith = (neuron: NeuronParams) =>
  new Network({ input: [20], layers: [dense({ name: 'hidden', units: 16, neuron: neuron as never }), readout({ name: 'out', units: 4, beta: 0.8 })], seed: 3 });

describe('an equation LIF is the built-in LIF', () => {
  const cases = [
    ['subtract reset, written as a reset', equationLif('subtract'), lif({ beta: 0.9, threshold: 1, reset: 'subtract' })],
    ['subtract reset, written with the spike in the update', equationLif('subtract', 'spike term'), lif({ beta: 0.9, threshold: 1, reset: 'subtract' })],
    ['zero reset', equationLif('zero'), lif({ beta: 0.9, threshold: 1, reset: 'zero' })],
  ] as const;
  it.each(cases)('%s: the same spikes and membranes, deterministic and with escape noise', (_name, equation, builtIn) => {
    const input = tf.tidy(() => tf.mul(tf.randomUniform([6, 30, 20], 0, 1, 'float32', 11), 0.4));
    for (const noise of [undefined, escapeNoise('logistic', 0.3)]) {
      const [a, b] = [netWith(equation), netWith(builtIn)];
      const options = { record: ['hidden'], seed: 5, ...(noise ? { noise } : {}) };
      const [ra, rb] = [a.run(input, options), b.run(input, options)];
      const spikes = ra.records['hidden']!.spikes!.dataSync();
      expect(Array.from(spikes).reduce((x, y) => x + y, 0)).toBeGreaterThan(100); // it fires
      expect(Array.from(spikes)).toEqual(Array.from(rb.records['hidden']!.spikes!.dataSync()));
      const [ma, mb] = [ra.records['hidden']!.membrane!.dataSync(), rb.records['hidden']!.membrane!.dataSync()];
      ma.forEach((v, i) => expect(Math.abs(v - mb[i]!)).toBeLessThan(1e-5));
      for (const t of [ra, rb, a, b]) t.dispose();
    }
    input.dispose();
  });
  it('an adaptive neuron with a nonlinear membrane runs as mathjs evaluates its equations, its threshold recorded', () => {
    const neuron = equationNeuron({
      equations: { v: 'v + 0.1 * (v^2 - v) + I - w', w: 'rho * w + a * v' },
      reset: { v: '0', w: 'rho * w + a * v + b' },
      spike: { variable: 'v', threshold: 'theta + w' },
      parameters: { rho: 0.8, a: 0.1, b: 0.3, theta: 1 },
      initial: { w: 0.05 },
    });
    const currents = Array.from({ length: 25 }, (_, t) => [0.45, 0.2 + 0.02 * t, 0.7]);
    const net = new Network({ input: [3], layers: [dense({ name: 'h', units: 3, neuron, bias: false })], seed: 1 });
    net.setParameter('h', 'weight', [1, 0, 0, 0, 1, 0, 0, 0, 1], { layout: 'spikelr' });
    const x = tf.tensor3d([currents]);
    const r = net.run(x, { record: { h: ['spikes', 'membrane', 'w', 'threshold'] } });
    const ref = refNeurons(neuron, currents);
    const rows = (t: tf.Tensor) => Array.from({ length: 25 }, (_, i) => Array.from(t.dataSync().slice(i * 3, i * 3 + 3)));
    expect(rows(r.records['h']!.spikes!)).toEqual(ref.spikes);
    expect(ref.spikes.flat().filter((v) => v === 1).length).toBeGreaterThan(3);
    rows(r.records['h']!.membrane!).forEach((row, t) => row.forEach((v, k) => expect(v).toBeCloseTo(ref.membrane[t]![k]!, 4)));
    rows(r.records['h']!['threshold']!).forEach((row, t) => row.forEach((v, k) => expect(v).toBeCloseTo(ref.threshold[t]![k]!, 4)));
    r.dispose();
    x.dispose();
    net.dispose();
  });
  it('survives a model file: the equations are written and read back', async () => {
    const net = netWith(equationLif('zero'));
    const copy = deserializeNetwork(await serializeNetwork(net));
    expect(copy.layers[0]!.neuron).toEqual(net.layers[0]!.neuron);
    net.dispose();
    copy.dispose();
  });
});

describe('LR through equation neurons is unbiased: exact enumeration of a 3-2-2 SNN over 3 steps', () => {
  const adaptive = equationNeuron({
    name: 'quadratic adaptive',
    equations: { u: 'beta * u + I - w + c * u^2', w: 'rho * w + a * u' },
    reset: { u: 'beta * u + I - w - theta', w: 'rho * w + a * u + b' },
    spike: { variable: 'u', threshold: 'theta + 0.5 * w' },
    parameters: { beta: 0.8, rho: 0.6, a: 0.4, b: 0.3, c: 0.2, theta: 0.6 },
  });
  const cases: Case[] = [
    {
      name: 'two-variable nonlinear adaptive neuron (hidden), spike score, logistic noise, learned β, θ and a',
      hidden: adaptive,
      output: lif({ beta: 0.7, threshold: 0.5 }),
      recurrentHidden: true,
      learn: ['beta', 'theta', 'a'],
      outputLearn: ['threshold'],
      noise: escapeNoise('logistic', 0.4),
      config: { score: 'spike' },
    },
    {
      name: 'two-variable nonlinear adaptive neuron, noise score, Gaussian noise, learned c and b',
      hidden: adaptive,
      output: lif({ beta: 0.7, threshold: 0.5, reset: 'zero' }),
      recurrentHidden: false,
      learn: ['c', 'b'],
      outputLearn: ['beta'],
      noise: escapeNoise('gaussian', 0.4),
      config: { score: 'noise' },
    },
    {
      name: 'equation LIF with zero reset before a readout',
      hidden: equationLif('zero'),
      output: 'readout',
      recurrentHidden: true,
      learn: ['beta', 'theta'],
      noise: escapeNoise('logistic', 0.4),
      config: { score: 'spike' },
    },
  ];
  it.each(cases)('$name', (c) => {
    const net = build(c);
    const exact = exactGradient(c, snapshot(net));
    const r = unbiasedness(c, net, exact, 1000, 60);
    expect(r.maxZ).toBeLessThan(5); // t with 59 degrees of freedom: P(|t| > 5) ≈ 6e-6 per entry
    expect(r.chi2).toBeLessThan(r.threshold);
    expect(r.informative).toBeGreaterThan(r.entries / 3); // the test has power
    net.dispose();
  });
});

describe('an equation LIF trains like the built-in LIF', () => {
  const small = async (): Promise<{ trainSet: Dataset; test: Dataset }> => {
    const [a, b] = [await loadMnist('train', { limit: 512 }), await loadMnist('test', { limit: 200 })];
    const o = { steps: 6, encoding: 'direct' as const };
    return { trainSet: imageSequences(a, o), test: imageSequences(b, o) };
  };
  const methods: [string, () => Estimator][] = [
    ['LR', () => likelihoodRatio({ copies: 4, noise: escapeNoise('logistic', 0.5) })],
    ['BPTT', () => bptt()],
  ];
  it.each(methods)('%s: the same test accuracy within noise', async (_name, estimator) => {
    const { trainSet, test } = await small();
    const accuracy = async (neuron: NeuronParams) => {
      const net = new Network({
        input: [784],
        layers: [dense({ name: 'hidden', units: 32, neuron: neuron as never }), readout({ name: 'out', units: 10, beta: 0.9 })],
        seed: 2,
      });
      const r = await train(net, estimator(), membraneCrossEntropy(), trainSet, test, {
        epochs: 2,
        batchSize: 32,
        seed: 4,
        optimizer: { kind: 'adam', learningRate: 3e-3 },
      });
      net.dispose();
      return r.testAccuracy!;
    };
    const [eq, builtIn] = [await accuracy(equationLif('subtract')), await accuracy(lif({ beta: 0.9, threshold: 1 }))];
    expect(builtIn).toBeGreaterThan(0.5); // it learns (chance is 0.1)
    // two runs of 200 test digits: one binomial standard error is about 3.5 points
    expect(Math.abs(eq - builtIn)).toBeLessThan(0.07);
  });
});

describe('bad equations get errors that name what is wrong', () => {
  const base: EquationOptions = { equations: { u: 'beta * u + I' }, spike: { variable: 'u', threshold: 'theta' }, parameters: { beta: 0.9, theta: 1 } };
  const bad: [string, EquationOptions, RegExp][] = [
    ['an unknown symbol', { ...base, equations: { u: 'beta * u + I - w' } }, /unknown variable 'w'.*variables are u, I, s, beta, theta/],
    ['a parameter without a value', { ...base, parameters: { beta: 0.9 } }, /spike threshold.*unknown variable 'theta'/],
    ['a variable with no update', { ...base, spike: { variable: 'v', threshold: 'theta' } }, /spike\.variable must name a state variable \(u\), got 'v'/],
    ['a reset for an unknown variable', { ...base, reset: { w: '0' } }, /reset given for 'w', which has no equation/],
    ['the input current in the threshold', { ...base, spike: { variable: 'u', threshold: 'theta + I' } }, /spike threshold.*unknown variable 'I'/],
    ['a syntax error', { ...base, equations: { u: 'beta * (u + I' } }, /equation of 'u'.*not a formula/],
    ['a reserved name', { ...base, equations: { u: 'beta * u + I', spikes: 'u' } }, /'spikes' is reserved/],
    ['a non-numeric parameter', { ...base, parameters: { beta: '0.9' as never, theta: 1 } }, /parameter 'beta' must be a finite number/],
    ['a name used twice', { ...base, parameters: { beta: 0.9, theta: 1, u: 2 } }, /'u' is both a state variable and a parameter/],
    ['no equations', { ...base, equations: {} }, /at least one state variable/],
    ['an unknown option', { ...base, rest: 1 } as never, /unknown option 'rest'/],
  ];
  it.each(bad)('%s', (_name, options, message) => {
    expect(() => equationNeuron(options)).toThrow(message);
  });
  it('a record from a file is checked the same way, with where it came from', () => {
    expect(() => neuronFromRecord({ kind: 'equation', ...base, equations: { u: 'beta * u + I + q' } }, 'model.json: layer 0.neuron')).toThrow(
      /model\.json: layer 0\.neuron: .*unknown variable 'q'/,
    );
  });
  it('a function with no derivative is refused when a learner needs the derivative, naming it', () => {
    const neuron = equationNeuron({ ...base, equations: { u: 'max(beta * u, 0) + I' } });
    const net = new Network({ input: [3], layers: [dense({ name: 'h', units: 2, neuron }), readout({ name: 'o', units: 2 })], seed: 1 });
    const batch = { input: tf.ones([2, 4, 3]), labels: tf.tensor1d([0, 1], 'int32') };
    const r = net.run(batch.input); // it simulates
    r.dispose();
    expect(() => likelihoodRatio({ copies: 2, noise: escapeNoise('logistic', 0.5) }).estimate(net, batch, membraneCrossEntropy(), 1)).toThrow(
      /cannot differentiate the update of 'u' 'max\(beta \* u, 0\) \+ I' by/,
    );
    tf.dispose([batch.input, batch.labels]);
    net.dispose();
  });
});
