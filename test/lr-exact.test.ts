/**
 * Unbiasedness of the LR estimator against exact truth (see tiny-snn.ts). The LR estimate,
 * averaged over M = 40 independent seeded draws, must match the exact gradient within 5 standard
 * errors of that mean, entry by entry.
 */
import { describe, expect, it } from 'vitest';
import { escapeNoise } from '../src/neurons/noise.js';
import { alif, lif, synaptic } from '../src/neurons/params.js';
import { build, exactGradient, expectUnbiased, lrDraws, snapshot, type Case } from './tiny-snn.js';

const cases: Case[] = [
  {
    name: 'LIF, subtract reset, spike score, logistic noise, recurrent hidden, learned decay and threshold',
    hidden: lif({ beta: 0.8, threshold: 0.6, reset: 'subtract' }),
    output: lif({ beta: 0.7, threshold: 0.5 }),
    recurrentHidden: true,
    learn: ['beta', 'threshold'],
    noise: escapeNoise('logistic', 0.4),
    config: { score: 'spike' },
  },
  {
    name: 'LIF, zero reset, noise score, Gaussian noise, recurrent hidden, learned decay and threshold',
    hidden: lif({ beta: 0.8, threshold: 0.6, reset: 'zero' }),
    output: lif({ beta: 0.7, threshold: 0.5, reset: 'zero' }),
    recurrentHidden: true,
    learn: ['beta', 'threshold'],
    noise: escapeNoise('gaussian', 0.4),
    config: { score: 'noise' },
  },
  {
    name: 'LIF, zero reset, spike score, Gaussian noise, refractory period',
    hidden: lif({ beta: 0.9, threshold: 0.5, reset: 'zero', refractory: 1 }),
    output: lif({ beta: 0.7, threshold: 0.5, refractory: 1 }),
    recurrentHidden: false,
    learn: ['threshold'],
    noise: escapeNoise('gaussian', 0.5),
    config: { score: 'spike' },
  },
  {
    name: 'current-based LIF, subtract reset, spike score, Laplace noise',
    hidden: synaptic({ alpha: 0.6, beta: 0.8, threshold: 0.7 }),
    output: synaptic({ alpha: 0.5, beta: 0.7, threshold: 0.6, reset: 'zero' }),
    recurrentHidden: true,
    learn: ['beta', 'threshold'],
    noise: escapeNoise('laplace', 0.4),
    config: { score: 'spike' },
  },
  {
    name: 'ALIF, subtract reset, noise score, logistic noise, learned threshold',
    hidden: alif({ beta: 0.85, threshold: 0.5, rho: 0.6, adaptation: 0.4 }),
    output: alif({ beta: 0.7, threshold: 0.5, rho: 0.5, adaptation: 0.3, reset: 'zero' }),
    recurrentHidden: true,
    learn: ['beta', 'threshold'],
    noise: escapeNoise('logistic', 0.4),
    config: { score: 'noise' },
  },
  {
    name: 'LIF, learned per-neuron noise scale, spike score, logistic noise',
    hidden: lif({ beta: 0.8, threshold: 0.6 }),
    output: lif({ beta: 0.7, threshold: 0.5, reset: 'zero' }),
    recurrentHidden: true,
    learn: ['beta', 'threshold', 'sigma'],
    noise: escapeNoise('logistic', 0.4),
    config: { score: 'spike' },
  },
  {
    name: 'ALIF, learned per-neuron noise scale, noise score, Gaussian noise, refractory output',
    hidden: alif({ beta: 0.85, threshold: 0.5, rho: 0.6, adaptation: 0.4 }),
    output: lif({ beta: 0.7, threshold: 0.5, refractory: 1 }),
    recurrentHidden: false,
    learn: ['threshold', 'sigma'],
    noise: escapeNoise('gaussian', 0.4),
    config: { score: 'noise' },
  },
  {
    name: 'LIF, spike score, logistic noise, a firing-rate regulariser on the hidden layer',
    hidden: lif({ beta: 0.8, threshold: 0.6 }),
    output: lif({ beta: 0.7, threshold: 0.5, reset: 'zero' }),
    recurrentHidden: true,
    learn: ['beta', 'threshold'],
    noise: escapeNoise('logistic', 0.4),
    config: { score: 'spike' },
    regularize: { weight: 2, target: 0.1 },
  },
  {
    name: 'the 0-1 loss itself (no derivative): LR estimates the gradient of the expected error rate',
    hidden: lif({ beta: 0.8, threshold: 0.6 }),
    output: lif({ beta: 0.7, threshold: 0.5 }),
    recurrentHidden: true,
    learn: ['beta', 'threshold'],
    noise: escapeNoise('logistic', 0.4),
    config: { score: 'spike' },
    zeroOne: true,
  },
  {
    name: 'both layers decorrelated and centred (R, μ held fixed): LR learns W in the decorrelated basis, unbiased',
    hidden: lif({ beta: 0.8, threshold: 0.6 }),
    output: lif({ beta: 0.7, threshold: 0.5, reset: 'zero' }),
    recurrentHidden: true,
    learn: ['beta', 'threshold'],
    noise: escapeNoise('logistic', 0.4),
    config: { score: 'spike' },
    decorrelate: true,
  },
  {
    name: 'device mismatch of decay and threshold (a fixed per-neuron pattern, deployed neurons), learned decay and threshold: the pattern reaches the filter and the chain rule',
    hidden: lif({ beta: 0.8, threshold: 0.6 }),
    output: lif({ beta: 0.7, threshold: 0.5, reset: 'zero' }),
    recurrentHidden: true,
    learn: ['beta', 'threshold'],
    noise: escapeNoise('logistic', 0.4),
    config: { score: 'spike' },
    mismatch: { threshold: 0.2, beta: 0.1 },
  },
  {
    name: 'LIF hidden with a deterministic readout trained by its exact local gradient',
    hidden: lif({ beta: 0.8, threshold: 0.6 }),
    output: 'readout',
    recurrentHidden: true,
    learn: ['beta', 'threshold'],
    noise: escapeNoise('logistic', 0.4),
    config: { score: 'spike' },
  },
];

describe('LR gradients are unbiased: exact enumeration of a 3-2-2 SNN over 3 steps', () => {
  it.each(cases)('$name', (c) => {
    const net = build(c);
    const exact = exactGradient(c, snapshot(net));
    const { mean, se } = lrDraws(c, net, 2000, 40);
    expect(Object.keys(mean).sort()).toEqual(Object.keys(exact).sort());
    const chi2 = expectUnbiased(mean, se, exact, expect);
    const informative = Object.keys(exact).flatMap((k) => exact[k]!.filter((g, i) => Math.abs(g) > 5 * se[k]![i]!)).length;
    expect(informative).toBeGreaterThan(Object.values(exact).flat().length / 3); // the test has power
    expect(chi2).toBeLessThan(3);
    net.dispose();
  });
});
