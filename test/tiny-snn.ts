/**
 * A tiny stochastic SNN (3 inputs, 2 hidden, 2 outputs, 3 steps, 2 samples) whose expected loss
 * is a finite sum over every spike pattern, computed in float64 with the scalar reference
 * dynamics; its exact gradient comes from central differences of that sum.
 */
import * as tf from '@tensorflow/tfjs';
import { erf } from 'mathjs';
import { likelihoodRatio, type LRConfig } from '../src/learning/estimators/lr.js';
import { membraneCrossEntropy, rateSquaredError, zeroOneLoss, type RowLoss } from '../src/learning/losses.js';
import { rateRegularizer, regularized } from '../src/learning/regularizers.js';
import type { EscapeNoise, NoiseKind } from '../src/neurons/noise.js';
import type { EquationParams, SpikingParams } from '../src/neurons/params.js';
import { deployedNeuron, mismatchPattern } from '../src/neurons/deployed.js';
import { dense, readout, recurrent, type Learnable } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';
import { refAffine, refNeurons } from './reference.js';
import { unbiasedDraws } from './stats.js';

const cdf: Record<NoiseKind, (z: number) => number> = {
  gaussian: (z) => 0.5 * (1 + erf(z / Math.SQRT2)),
  logistic: (z) => 1 / (1 + Math.exp(-z)),
  laplace: (z) => (z < 0 ? 0.5 * Math.exp(z) : 1 - 0.5 * Math.exp(-z)),
};

const T = 3;
const INPUTS = [
  [
    [0.9, 0.2, 0.5],
    [0.1, 0.8, 0.4],
    [0.6, 0.6, 0.0],
  ],
  [
    [0.2, 0.7, 0.9],
    [0.8, 0.1, 0.3],
    [0.4, 0.5, 0.7],
  ],
];
const LABELS = [0, 1];

export interface Case {
  readonly name: string;
  readonly hidden: SpikingParams | EquationParams;
  readonly output: SpikingParams | EquationParams | 'readout';
  readonly recurrentHidden: boolean;
  readonly learn: readonly Learnable[];
  /** What the output layer learns, when it differs from the hidden layer's list. */
  readonly outputLearn?: readonly Learnable[];
  readonly noise: EscapeNoise;
  readonly config?: Partial<LRConfig>;
  /** A rate regulariser on the hidden layer: λ · mean_n (r_n − target)². */
  readonly regularize?: { readonly weight: number; readonly target: number };
  /** The 0-1 loss (class by spike count, ties to the lowest index) instead of the rate error. */
  readonly zeroOne?: boolean;
  /** Both layers decorrelate (centred) their inputs with R and μ held at fixed non-trivial values. */
  readonly decorrelate?: boolean;
  /** Both layers deployed with this device mismatch (relative σ of threshold and decay; each layer its own seed). */
  readonly mismatch?: { readonly threshold: number; readonly beta: number };
}

/** The mismatch seeds of the two layers. */
const MISMATCH_SEEDS = { h: 11, o: 12 } as const;

/** The deployed neuron of layer `prefix`: with the case's mismatch, else the neuron itself. */
function deployedOf<P extends SpikingParams | EquationParams>(c: Case, prefix: 'h' | 'o', p: P): P {
  return (c.mismatch ? deployedNeuron(p, { mismatch: { ...c.mismatch, seed: MISMATCH_SEEDS[prefix] } }) : p) as P;
}

/**
 * The coefficients a layer runs with under the case's mismatch: each neuron's learned value (or the
 * record's) times its factor of the fixed pattern, the decay clipped to [0, 1].
 */
function mismatched(c: Case, prefix: 'h' | 'o', p: SpikingParams | EquationParams, coef: Coef): Coef {
  if (!c.mismatch) return coef;
  const out: Coef = { ...coef };
  for (const name of ['beta', 'threshold'] as const) {
    if (c.mismatch[name] === 0) continue;
    const factor = mismatchPattern({ ...c.mismatch, seed: MISMATCH_SEEDS[prefix] }, name, [2]);
    const base = coef[name] ?? [0, 1].map(() => (p as unknown as Record<string, number>)[name]!);
    out[name] = base.map((b, i) => (name === 'beta' ? Math.min(Math.max(b * factor[i]!, 0), 1) : b * factor[i]!));
  }
  return out;
}

/** R and μ of the decorrelated case (held fixed: the rule is not part of the gradient). */
const DECOR: Params = {
  'h.decorrelation': [1.1, 0.2, -0.3, -0.1, 0.9, 0.25, 0.15, -0.2, 1.05],
  'h.inputMean': [0.4, 0.3, 0.5],
  'o.decorrelation': [0.95, -0.35, 0.2, 1.1],
  'o.inputMean': [0.3, 0.2],
};
const BUFFERS = new Set(['decorrelation', 'inputMean']);

/** z = R (x − μ) of layer `prefix` (x itself when the case does not decorrelate). */
function decorrelated(c: Case, prefix: 'h' | 'o', x: number[]): number[] {
  if (!c.decorrelate) return x;
  const R = DECOR[`${prefix}.decorrelation`]!,
    mu = DECOR[`${prefix}.inputMean`]!,
    n = x.length;
  return x.map((_, i) => x.reduce((s, _v, k) => s + R[i * n + k]! * (x[k]! - mu[k]!), 0));
}

export type Params = Record<string, number[]>;

type Coef = Record<string, number[] | undefined>;

/** The learned per-neuron coefficients of layer `prefix` in `P` (all but its weights and noise scale). */
function coefficientsOf(P: Params, prefix: string): Coef {
  const skip = ['weight', 'bias', 'recurrent', 'noiseScale'];
  return Object.fromEntries(
    Object.entries(P)
      .filter(([k]) => k.startsWith(`${prefix}.`) && !skip.includes(k.slice(prefix.length + 1)))
      .map(([k, v]) => [k.slice(prefix.length + 1), v]),
  );
}

export function build(c: Case): Network {
  const net = new Network({
    input: [3],
    layers: [
      (c.recurrentHidden ? recurrent : dense)({
        name: 'h',
        units: 2,
        neuron: deployedOf(c, 'h', c.hidden),
        learn: c.learn,
        ...(c.decorrelate ? { decorrelate: true } : {}),
      }),
      c.output === 'readout'
        ? readout({ name: 'o', units: 2, beta: 0.7, ...(c.decorrelate ? { decorrelate: true } : {}) })
        : dense({
            name: 'o',
            units: 2,
            neuron: deployedOf(c, 'o', c.output),
            learn: c.outputLearn ?? c.learn,
            ...(c.decorrelate ? { decorrelate: true } : {}),
          }),
    ],
    seed: 1,
  });
  const values: Record<string, number[]> = {
    'h.weight': [0.9, -0.4, 0.3, 0.8, -0.2, 0.6],
    'h.bias': [0.1, -0.05],
    'h.recurrent': [-0.3, 0.4, 0.25, -0.2],
    'o.weight': [0.7, -0.3, -0.2, 0.9],
    'o.bias': [0.15, 0.05],
    'h.noiseScale': [0.2, -0.3],
    'o.noiseScale': [-0.1, 0.25],
    ...DECOR,
  };
  for (const l of net.layers)
    for (const name of Object.keys(l.params))
      if (values[`${l.name}.${name}`]) net.setParameter(l.name, name, values[`${l.name}.${name}`]!, { layout: 'spikelr' });
  return net;
}

export function snapshot(net: Network): Params {
  const out: Params = {};
  for (const l of net.layers) for (const [n, v] of Object.entries(l.params)) if (!BUFFERS.has(n)) out[`${l.name}.${n}`] = Array.from(v.dataSync());
  return out;
}

/** Runs one population on fixed currents with the spikes of `pattern`; returns its log-probability (−∞ if impossible). */
export function patternTrace(
  p: SpikingParams | EquationParams,
  currents: number[][],
  pattern: number,
  noise: EscapeNoise,
  rec: number[] | undefined,
  coef: Coef,
  logScale?: number[],
) {
  let logP = 0;
  const called = new Set<number>();
  const bit = (t: number, n: number) => (pattern >> (t * 2 + n)) & 1;
  const trace = refNeurons(
    p,
    currents,
    (u, thr, t, n) => {
      called.add(t * 2 + n);
      const sigma = noise.sigma * Math.exp(logScale?.[n] ?? 0);
      const f = cdf[noise.kind]((u - thr) / sigma);
      logP += Math.log(bit(t, n) ? f : 1 - f);
      return bit(t, n);
    },
    rec
      ? (prev) =>
          refAffine(prev, [
            [rec[0]!, rec[1]!],
            [rec[2]!, rec[3]!],
          ])
      : undefined,
    coef,
  );
  for (let t = 0; t < T; t++) for (let n = 0; n < 2; n++) if (bit(t, n) && !called.has(t * 2 + n)) logP = -Infinity; // refractory
  return { logP, trace };
}

const w32 = (w: number[]) => [
  [w[0]!, w[1]!],
  [w[2]!, w[3]!],
  [w[4]!, w[5]!],
];
const w22 = (w: number[]) => [
  [w[0]!, w[1]!],
  [w[2]!, w[3]!],
];

/**
 * E[loss] averaged over the two samples, by enumerating every hidden (and output) spike pattern.
 * `noisy` says which layers fire stochastically; a deterministic one fires on u > ϑ.
 */
export function expectedLoss(c: Case, P: Params, noisy: { readonly h: boolean; readonly o: boolean } = { h: true, o: true }): number {
  let total = 0;
  const deterministic = (p: SpikingParams | EquationParams, currents: number[][], rec: number[] | undefined, coef: Coef) => {
    const trace = refNeurons(
      p,
      currents,
      undefined,
      rec
        ? (prev) =>
            refAffine(prev, [
              [rec[0]!, rec[1]!],
              [rec[2]!, rec[3]!],
            ])
        : undefined,
      coef,
    );
    return { logP: 0, trace };
  };
  INPUTS.forEach((x, b) => {
    const hc = x.map((row) => refAffine(decorrelated(c, 'h', row), w32(P['h.weight']!), P['h.bias']));
    for (let h = 0; h < (noisy.h ? 1 << (2 * T) : 1); h++) {
      const hCoef = mismatched(c, 'h', c.hidden, coefficientsOf(P, 'h'));
      const hRec = c.recurrentHidden ? P['h.recurrent'] : undefined;
      const hid = noisy.h ? patternTrace(c.hidden, hc, h, c.noise, hRec, hCoef, P['h.noiseScale']) : deterministic(c.hidden, hc, hRec, hCoef);
      if (hid.logP === -Infinity) continue;
      const oc = hid.trace.spikes.map((row) => refAffine(decorrelated(c, 'o', row), w22(P['o.weight']!), P['o.bias']));
      const reg = c.regularize;
      const penalty = reg ? (reg.weight / 2) * [0, 1].reduce((a, k) => a + (hid.trace.spikes.reduce((r, row) => r + row[k]!, 0) / T - reg.target) ** 2, 0) : 0;
      if (c.output === 'readout') {
        const mem = refNeurons({ kind: 'readout', beta: 0.7 }, oc).membrane;
        const logits = [0, 1].map((k) => mem.reduce((s, r) => s + r[k]!, 0) / T);
        const lse = Math.log(Math.exp(logits[0]!) + Math.exp(logits[1]!));
        total += Math.exp(hid.logP) * (lse - logits[LABELS[b]!]! + penalty);
        continue;
      }
      for (let o = 0; o < (noisy.o ? 1 << (2 * T) : 1); o++) {
        const oCoef = mismatched(c, 'o', c.output, coefficientsOf(P, 'o'));
        const out = noisy.o ? patternTrace(c.output, oc, o, c.noise, undefined, oCoef, P['o.noiseScale']) : deterministic(c.output, oc, undefined, oCoef);
        if (out.logP === -Infinity) continue;
        const counts = [0, 1].map((k) => out.trace.spikes.reduce((a, r) => a + r[k]!, 0));
        const loss = c.zeroOne
          ? Number((counts[1]! > counts[0]! ? 1 : 0) !== LABELS[b])
          : [0, 1].reduce((s, k) => s + (counts[k]! / T - (k === LABELS[b] ? 0.8 : 0.2)) ** 2, 0);
        total += Math.exp(hid.logP + out.logP) * (loss + penalty);
      }
    }
  });
  return total / INPUTS.length;
}

export function exactGradient(c: Case, P: Params, noisyFor: (key: string) => { h: boolean; o: boolean } = () => ({ h: true, o: true })): Params {
  const g: Params = {};
  const h = 1e-5;
  for (const [key, values] of Object.entries(P)) {
    g[key] = values.map((_, i) => {
      const plus = { ...P, [key]: values.map((v, j) => (j === i ? v + h : v)) };
      const minus = { ...P, [key]: values.map((v, j) => (j === i ? v - h : v)) };
      return (expectedLoss(c, plus, noisyFor(key)) - expectedLoss(c, minus, noisyFor(key))) / (2 * h);
    });
  }
  return g;
}

function lossFor(c: Case): RowLoss {
  const task = c.output === 'readout' ? membraneCrossEntropy('mean') : c.zeroOne ? zeroOneLoss() : rateSquaredError(0.8, 0.2);
  return c.regularize ? regularized(task, [rateRegularizer(c.regularize)]) : task;
}

export function lrDraws(c: Case, net: Network, copies: number, draws: number, config: Partial<LRConfig> = {}): { mean: Params; se: Params; variance: number } {
  const est = likelihoodRatio({ copies, noise: c.noise, ...c.config, ...config });
  const loss = lossFor(c);
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
  const mean: Params = {},
    se: Params = {};
  let variance = 0; // total variance of one draw, summed over all gradient entries
  for (const [key, rows] of Object.entries(samples)) {
    mean[key] = rows[0]!.map((_, i) => rows.reduce((s, r) => s + r[i]!, 0) / draws);
    se[key] = rows[0]!.map((_, i) => {
      const v = rows.reduce((s, r) => s + (r[i]! - mean[key]![i]!) ** 2, 0) / (draws - 1);
      variance += v;
      return Math.sqrt(v / draws);
    });
  }
  return { mean, se, variance };
}

/**
 * Checks every entry of `mean` against `exact` within 5 standard errors, and returns the aggregate
 * Σ (m − g)² / Σ se², which for an unbiased estimator is about χ²_p / p (p entries): near 1, and
 * above 3 with probability ~1e-6 for the 26 entries here.
 */
// biome-ignore lint/suspicious/noExplicitAny: vitest's expect, passed in so this helper stays importable outside a test
export function expectUnbiased(mean: Params, se: Params, exact: Params, expect: (v: unknown, m?: string) => any): number {
  let err2 = 0,
    var2 = 0;
  for (const key of Object.keys(exact)) {
    exact[key]!.forEach((g, i) => {
      const m = mean[key]![i]!,
        s = se[key]![i]!;
      // t-distribution with 39 degrees of freedom: |t| > 5 has probability ~1.3e-5 per entry
      expect(Math.abs(m - g), `${key}[${i}]: LR ${m} vs exact ${g} (se ${s})`).toBeLessThan(5 * s + 1e-7);
      err2 += (m - g) ** 2;
      var2 += s * s;
    });
  }
  return err2 / var2;
}

export function cosine(a: Params, b: Params): number {
  let dot = 0,
    na = 0,
    nb = 0;
  for (const key of Object.keys(b))
    b[key]!.forEach((v, i) => {
      const u = a[key]![i]!;
      dot += u * v;
      na += u * u;
      nb += v * v;
    });
  return dot / Math.sqrt(na * nb);
}

/** Per-draw gradient vectors (all entries concatenated) of M seeded LR draws. */
export function lrSamples(c: Case, net: Network, copies: number, draws: number, config: Partial<LRConfig> = {}, firstSeed = 1000): number[][] {
  const est = likelihoodRatio({ copies, noise: c.noise, ...c.config, ...config });
  const loss = lossFor(c);
  const input = tf.tensor(INPUTS.flat(2), [2, T, 3]);
  const labels = tf.tensor1d(LABELS, 'int32');
  const order = net.layers.flatMap((l) => Object.values(l.params));
  const out: number[][] = [];
  for (let d = 0; d < draws; d++) {
    const e = est.estimate(net, { input, labels }, loss, firstSeed + d);
    out.push(order.flatMap((v) => Array.from(e.gradients.get(v as tf.Variable)?.dataSync() ?? [])));
    e.dispose();
  }
  input.dispose();
  labels.dispose();
  return out;
}

/** Total variance (summed over entries) of draws. */
export function totalVariance(draws: readonly number[][]): number {
  const m = draws.length;
  return draws[0]!.reduce((sum, _, i) => {
    const mean = draws.reduce((s, r) => s + r[i]!, 0) / m;
    return sum + draws.reduce((s, r) => s + (r[i]! - mean) ** 2, 0) / (m - 1);
  }, 0);
}

/** Upper `q`-quantile of the bootstrap distribution of totalVariance(a)/totalVariance(b) (seeded). */
export function varianceRatioUpper(a: readonly number[][], b: readonly number[][], q = 0.999, resamples = 2000, seed = 7): number {
  let s = seed >>> 0;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const pick = (x: readonly number[][]) => x.map(() => x[Math.floor(rand() * x.length)]!);
  const ratios = Array.from({ length: resamples }, () => totalVariance(pick(a)) / totalVariance(pick(b))).sort((x, y) => x - y);
  return ratios[Math.floor(q * (resamples - 1))]!;
}

/** Unbiasedness of the LR estimate against `exact` (see stats.ts for the calibrated aggregate). */
export function unbiasedness(c: Case, net: Network, exact: Params, copies: number, draws: number): ReturnType<typeof unbiasedDraws> {
  const names = net.layers.flatMap((l) => Object.keys(l.params).map((n) => `${l.name}.${n}`));
  return unbiasedDraws(
    lrSamples(c, net, copies, draws),
    names.flatMap((n) => exact[n] ?? []),
  );
}
