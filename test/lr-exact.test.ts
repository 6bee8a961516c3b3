/**
 * Unbiasedness of the LR estimator against exact truth: for a tiny stochastic SNN the expected
 * loss is a finite sum over every spike pattern, computed here in float64 with the scalar
 * reference dynamics; its gradient comes from central differences of that sum. The LR estimate,
 * averaged over M independent seeded draws, must match within 5 standard errors of that mean.
 */
import * as tf from '@tensorflow/tfjs';
import { erf } from 'mathjs';
import { describe, expect, it } from 'vitest';
import { likelihoodRatio, type LRConfig } from '../src/learning/lr.js';
import { membraneCrossEntropy, rateSquaredError } from '../src/learning/losses.js';
import { escapeNoise, type EscapeNoise, type NoiseKind } from '../src/neurons/noise.js';
import { alif, lif, synaptic, type SpikingParams } from '../src/neurons/params.js';
import { dense, readout, recurrent, type Learnable } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';
import { refAffine, refNeurons } from './reference.js';

const cdf: Record<NoiseKind, (z: number) => number> = {
  gaussian: (z) => 0.5 * (1 + erf(z / Math.SQRT2)),
  logistic: (z) => 1 / (1 + Math.exp(-z)),
  laplace: (z) => (z < 0 ? 0.5 * Math.exp(z) : 1 - 0.5 * Math.exp(-z)),
};

const T = 3;
const INPUTS = [
  [[0.9, 0.2, 0.5], [0.1, 0.8, 0.4], [0.6, 0.6, 0.0]],
  [[0.2, 0.7, 0.9], [0.8, 0.1, 0.3], [0.4, 0.5, 0.7]],
];
const LABELS = [0, 1];

interface Case {
  readonly name: string;
  readonly hidden: SpikingParams;
  readonly output: SpikingParams | 'readout';
  readonly recurrentHidden: boolean;
  readonly learn: readonly Learnable[];
  readonly noise: EscapeNoise;
  readonly config?: Partial<LRConfig>;
}

type Params = Record<string, number[]>;

function build(c: Case): Network {
  const net = new Network({
    input: [3],
    layers: [
      (c.recurrentHidden ? recurrent : dense)({ name: 'h', units: 2, neuron: c.hidden, learn: c.learn }),
      c.output === 'readout' ? readout({ name: 'o', units: 2, beta: 0.7 }) : dense({ name: 'o', units: 2, neuron: c.output, learn: c.learn }),
    ],
    seed: 1,
  });
  const values: Record<string, number[]> = {
    'h.weight': [0.9, -0.4, 0.3, 0.8, -0.2, 0.6],
    'h.bias': [0.1, -0.05],
    'h.recurrent': [-0.3, 0.4, 0.25, -0.2],
    'o.weight': [0.7, -0.3, -0.2, 0.9],
    'o.bias': [0.15, 0.05],
  };
  for (const l of net.layers) for (const name of Object.keys(l.params)) if (values[`${l.name}.${name}`]) net.setParameter(l.name, name, values[`${l.name}.${name}`]!);
  return net;
}

function snapshot(net: Network): Params {
  const out: Params = {};
  for (const l of net.layers) for (const [n, v] of Object.entries(l.params)) out[`${l.name}.${n}`] = Array.from(v.dataSync());
  return out;
}

/** Runs one population on fixed currents with the spikes of `pattern`; returns its log-probability (−∞ if impossible). */
function patternTrace(p: SpikingParams, currents: number[][], pattern: number, noise: EscapeNoise, rec: number[] | undefined, coef: { beta?: number[]; threshold?: number[] }) {
  let logP = 0;
  const called = new Set<number>();
  const bit = (t: number, n: number) => (pattern >> (t * 2 + n)) & 1;
  const trace = refNeurons(
    p,
    currents,
    (u, thr, t, n) => {
      called.add(t * 2 + n);
      const f = cdf[noise.kind]((u - thr) / noise.sigma);
      logP += Math.log(bit(t, n) ? f : 1 - f);
      return bit(t, n);
    },
    rec ? (prev) => refAffine(prev, [[rec[0]!, rec[1]!], [rec[2]!, rec[3]!]]) : undefined,
    coef,
  );
  for (let t = 0; t < T; t++) for (let n = 0; n < 2; n++) if (bit(t, n) && !called.has(t * 2 + n)) logP = -Infinity; // refractory
  return { logP, trace };
}

const w32 = (w: number[]) => [[w[0]!, w[1]!], [w[2]!, w[3]!], [w[4]!, w[5]!]];
const w22 = (w: number[]) => [[w[0]!, w[1]!], [w[2]!, w[3]!]];

/** E[loss] averaged over the two samples, by enumerating every hidden (and output) spike pattern. */
function expectedLoss(c: Case, P: Params): number {
  let total = 0;
  INPUTS.forEach((x, b) => {
    const hc = x.map((row) => refAffine(row, w32(P['h.weight']!), P['h.bias']));
    for (let h = 0; h < 1 << (2 * T); h++) {
      const hid = patternTrace(c.hidden, hc, h, c.noise, c.recurrentHidden ? P['h.recurrent'] : undefined, { beta: P['h.beta'], threshold: P['h.threshold'] });
      if (hid.logP === -Infinity) continue;
      const oc = hid.trace.spikes.map((row) => refAffine(row, w22(P['o.weight']!), P['o.bias']));
      if (c.output === 'readout') {
        const mem = refNeurons({ kind: 'readout', beta: 0.7 }, oc).membrane;
        const logits = [0, 1].map((k) => mem.reduce((s, r) => s + r[k]!, 0) / T);
        const lse = Math.log(Math.exp(logits[0]!) + Math.exp(logits[1]!));
        total += Math.exp(hid.logP) * (lse - logits[LABELS[b]!]!);
        continue;
      }
      for (let o = 0; o < 1 << (2 * T); o++) {
        const out = patternTrace(c.output, oc, o, c.noise, undefined, { beta: P['o.beta'], threshold: P['o.threshold'] });
        if (out.logP === -Infinity) continue;
        const loss = [0, 1].reduce((s, k) => {
          const rate = out.trace.spikes.reduce((a, r) => a + r[k]!, 0) / T;
          return s + (rate - (k === LABELS[b] ? 0.8 : 0.2)) ** 2;
        }, 0);
        total += Math.exp(hid.logP + out.logP) * loss;
      }
    }
  });
  return total / INPUTS.length;
}

function exactGradient(c: Case, P: Params): Params {
  const g: Params = {};
  const h = 1e-5;
  for (const [key, values] of Object.entries(P)) {
    g[key] = values.map((_, i) => {
      const plus = { ...P, [key]: values.map((v, j) => (j === i ? v + h : v)) };
      const minus = { ...P, [key]: values.map((v, j) => (j === i ? v - h : v)) };
      return (expectedLoss(c, plus) - expectedLoss(c, minus)) / (2 * h);
    });
  }
  return g;
}

function lrDraws(c: Case, net: Network, copies: number, draws: number): { mean: Params; se: Params } {
  const est = likelihoodRatio({ copies, noise: c.noise, ...c.config });
  const loss = c.output === 'readout' ? membraneCrossEntropy('mean') : rateSquaredError(0.8, 0.2);
  const input = tf.tensor(INPUTS.flat(2), [2, T, 3]);
  const labels = tf.tensor1d(LABELS, 'int32');
  const names = new Map<tf.Variable, string>();
  for (const l of net.layers) for (const [n, v] of Object.entries(l.params)) names.set(v, `${l.name}.${n}`);
  const samples: Record<string, number[][]> = {};
  for (let d = 0; d < draws; d++) {
    const e = est.estimate(net, { input, labels }, loss, 1000 + d);
    for (const [v, g] of e.gradients) (samples[names.get(v)!] ??= []).push(Array.from(g.dataSync()));
    e.dispose();
  }
  input.dispose();
  labels.dispose();
  const mean: Params = {}, se: Params = {};
  for (const [key, rows] of Object.entries(samples)) {
    mean[key] = rows[0]!.map((_, i) => rows.reduce((s, r) => s + r[i]!, 0) / draws);
    se[key] = rows[0]!.map((_, i) => Math.sqrt(rows.reduce((s, r) => s + (r[i]! - mean[key]![i]!) ** 2, 0) / (draws - 1) / draws));
  }
  return { mean, se };
}

const cases: Case[] = [
  { name: 'LIF, subtract reset, spike score, logistic noise, recurrent hidden, learned decay and threshold',
    hidden: lif({ beta: 0.8, threshold: 0.6, reset: 'subtract' }), output: lif({ beta: 0.7, threshold: 0.5 }), recurrentHidden: true,
    learn: ['beta', 'threshold'], noise: escapeNoise('logistic', 0.4), config: { score: 'spike' } },
  { name: 'LIF, zero reset, noise score, Gaussian noise, recurrent hidden, learned decay and threshold',
    hidden: lif({ beta: 0.8, threshold: 0.6, reset: 'zero' }), output: lif({ beta: 0.7, threshold: 0.5, reset: 'zero' }), recurrentHidden: true,
    learn: ['beta', 'threshold'], noise: escapeNoise('gaussian', 0.4), config: { score: 'noise' } },
  { name: 'LIF, zero reset, spike score, Gaussian noise, refractory period',
    hidden: lif({ beta: 0.9, threshold: 0.5, reset: 'zero', refractory: 1 }), output: lif({ beta: 0.7, threshold: 0.5, refractory: 1 }), recurrentHidden: false,
    learn: ['threshold'], noise: escapeNoise('gaussian', 0.5), config: { score: 'spike' } },
  { name: 'current-based LIF, subtract reset, spike score, Laplace noise',
    hidden: synaptic({ alpha: 0.6, beta: 0.8, threshold: 0.7 }), output: synaptic({ alpha: 0.5, beta: 0.7, threshold: 0.6, reset: 'zero' }), recurrentHidden: true,
    learn: ['beta', 'threshold'], noise: escapeNoise('laplace', 0.4), config: { score: 'spike' } },
  { name: 'ALIF, subtract reset, noise score, logistic noise, learned threshold',
    hidden: alif({ beta: 0.85, threshold: 0.5, rho: 0.6, adaptation: 0.4 }), output: alif({ beta: 0.7, threshold: 0.5, rho: 0.5, adaptation: 0.3, reset: 'zero' }), recurrentHidden: true,
    learn: ['beta', 'threshold'], noise: escapeNoise('logistic', 0.4), config: { score: 'noise' } },
  { name: 'LIF hidden with a deterministic readout trained by its exact local gradient',
    hidden: lif({ beta: 0.8, threshold: 0.6 }), output: 'readout', recurrentHidden: true,
    learn: ['beta', 'threshold'], noise: escapeNoise('logistic', 0.4), config: { score: 'spike' } },
];

describe('LR gradients are unbiased: exact enumeration of a 3-2-2 SNN over 3 steps', () => {
  it.each(cases)('$name', (c) => {
    const net = build(c);
    const exact = exactGradient(c, snapshot(net));
    const { mean, se } = lrDraws(c, net, 2000, 40);
    expect(Object.keys(mean).sort()).toEqual(Object.keys(exact).sort());
    let informative = 0;
    let err2 = 0, norm2 = 0;
    for (const key of Object.keys(exact)) {
      exact[key]!.forEach((g, i) => {
        const m = mean[key]![i]!, s = se[key]![i]!;
        // t-distribution with 39 degrees of freedom: |t| > 5 has probability ~1.3e-5 per entry
        expect(Math.abs(m - g), `${key}[${i}]: LR ${m} vs exact ${g} (se ${s})`).toBeLessThan(5 * s + 1e-7);
        if (Math.abs(g) > 5 * s) informative++;
        err2 += (m - g) ** 2;
        norm2 += g * g;
      });
    }
    expect(informative).toBeGreaterThan(Object.values(exact).flat().length / 3); // the test has power
    expect(Math.sqrt(err2 / norm2)).toBeLessThan(0.15);
    net.dispose();
  });
});
