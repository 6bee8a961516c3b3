/**
 * Local losses for LR, against exact enumeration: a 3-2-2-2 network (two LIF layers of two units and
 * a leaky readout, 3 steps, 2 samples) whose first layer carries a local head. Every spike pattern of
 * both layers is enumerated in float64 (tiny-snn.ts's reference dynamics), so the expected losses and
 * output means are finite sums and their gradients central differences of those sums.
 *
 * - 'loss' credit is exact LR of each block's expected loss: the first layer's mean estimate is the
 *   gradient of the head's expected cross-entropy (and not of the network's: the positive control),
 *   the second layer's and the readout's that of the network's expected loss.
 * - 'unit' credit (unit-credit.ts) is unbiased for Σ_j E[∂L/∂s̄_j] · ∂E[s̄_j]/∂θ, with s̄ what the
 *   block's linear read takes (the head: the plain time mean; the readout: its leak-weighted mean).
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { bptt } from '../src/learning/estimators/bptt.js';
import { forwardGradient } from '../src/learning/estimators/fg.js';
import { likelihoodRatio, type LocalCredit } from '../src/learning/estimators/lr.js';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import { conv2d, dense, flatten, layerFromRecord, maxPool2d, readout, recurrent, withLocalHead } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';
import { refAffine, refNeurons } from './reference.js';
import { expectUnbiased, patternTrace, type Params } from './tiny-snn.js';
import {
  build,
  crossEntropy,
  differences,
  H1,
  H1_KEYS,
  H2,
  HEAD_KEYS,
  INPUTS,
  LABELS,
  LAST_KEYS,
  LEAK,
  m,
  NOISE,
  READOUT_BETA,
  READOUT_KEYS,
  softmaxMinusOneHot,
  T,
  VALUES,
} from './local-net.js';

/** Per sample: the expected head and network losses, and the expected means and credits of both blocks' reads. */
interface Moments {
  readonly headLoss: number[];
  readonly loss: number[];
  readonly meanH1: number[][];
  readonly creditH1: number[][];
  readonly meanH2: number[][];
  readonly creditH2: number[][];
}

function moments(P: Params): Moments {
  const out: Moments = { headLoss: [], loss: [], meanH1: [], creditH1: [], meanH2: [], creditH2: [] };
  INPUTS.forEach((x, b) => {
    const label = LABELS[b]!;
    let headLoss = 0,
      loss = 0;
    const acc = { meanH1: [0, 0], creditH1: [0, 0], meanH2: [0, 0], creditH2: [0, 0] };
    const add = (key: keyof typeof acc, p: number, v: number[]) => v.forEach((vi, j) => (acc[key][j]! += p * vi));
    const c1 = x.map((row) => refAffine(row, m(P['h1.weight']!, 3, 2), P['h1.bias']));
    for (let p1 = 0; p1 < 1 << (2 * T); p1++) {
      const h1 = patternTrace(H1, c1, p1, NOISE, undefined, {});
      if (h1.logP === -Infinity) continue;
      const pr1 = Math.exp(h1.logP);
      const s1 = [0, 1].map((j) => h1.trace.spikes.reduce((s, r) => s + r[j]!, 0) / T);
      const z1 = refAffine(s1, m(P['h1.localWeight']!, 2, 2), P['h1.localBias']);
      headLoss += pr1 * crossEntropy(z1, label);
      add('meanH1', pr1, s1);
      add(
        'creditH1',
        pr1,
        refAffine(softmaxMinusOneHot(z1, label), [
          [P['h1.localWeight']![0]!, P['h1.localWeight']![2]!],
          [P['h1.localWeight']![1]!, P['h1.localWeight']![3]!],
        ]),
      );
      const c2 = h1.trace.spikes.map((row) => refAffine(row, m(P['h2.weight']!, 2, 2), P['h2.bias']));
      for (let p2 = 0; p2 < 1 << (2 * T); p2++) {
        const h2 = patternTrace(H2, c2, p2, NOISE, undefined, {});
        if (h2.logP === -Infinity) continue;
        const pr = pr1 * Math.exp(h2.logP);
        const co = h2.trace.spikes.map((row) => refAffine(row, m(P['o.weight']!, 2, 2), P['o.bias']));
        const mem = refNeurons({ kind: 'readout', beta: READOUT_BETA }, co).membrane;
        const logits = [0, 1].map((k) => mem.reduce((s, r) => s + r[k]!, 0) / T);
        loss += pr * crossEntropy(logits, label);
        const xbar = [0, 1].map((j) => h2.trace.spikes.reduce((s, r, t) => s + LEAK[t]! * r[j]!, 0));
        add('meanH2', pr, xbar);
        // ∂L/∂x̄ = W_o (softmax − y): logits = x̄ W_o + b_o Σ_τ w_τ
        add(
          'creditH2',
          pr,
          refAffine(softmaxMinusOneHot(logits, label), [
            [P['o.weight']![0]!, P['o.weight']![2]!],
            [P['o.weight']![1]!, P['o.weight']![3]!],
          ]),
        );
      }
    }
    out.headLoss.push(headLoss);
    out.loss.push(loss);
    out.meanH1.push(acc.meanH1);
    out.creditH1.push(acc.creditH1);
    out.meanH2.push(acc.meanH2);
    out.creditH2.push(acc.creditH2);
  });
  return out;
}

const sampleMean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

/** Σ_b (1/B) Σ_j E_b[credit_j] ∂E_b[mean_j]/∂θ: unit credit's expectation for the parameters `keys`. */
function unitTruth(keys: readonly string[], mean: 'meanH1' | 'meanH2', credit: 'creditH1' | 'creditH2'): Params {
  const at = moments(VALUES);
  return differences(keys, (P) => {
    const mo = moments(P);
    return sampleMean(mo[mean].map((s, b) => s.reduce((acc, v, j) => acc + at[credit][b]![j]! * v, 0)));
  });
}

function draws(credit: LocalCredit, copies: number, count: number, causalCredit = true): { mean: Params; se: Params } {
  const net = build();
  const est = likelihoodRatio({ copies, noise: NOISE, score: 'spike', localCredit: credit, causalCredit });
  const input = tf.tensor(INPUTS.flat(2), [2, T, 3]);
  const labels = tf.tensor1d(LABELS, 'int32');
  const names = new Map<tf.Variable, string>();
  for (const l of net.layers) for (const [n, v] of Object.entries(l.params)) names.set(v, `${l.name}.${n}`);
  const samples: Record<string, number[][]> = {};
  for (let d = 0; d < count; d++) {
    const e = est.estimate(net, { input, labels }, membraneCrossEntropy('mean'), 2000 + d);
    for (const [v, g] of e.gradients) (samples[names.get(v)!] ??= []).push(Array.from(g.dataSync()));
    e.dispose();
  }
  tf.dispose([input, labels]);
  net.dispose();
  const mean: Params = {},
    se: Params = {};
  for (const [key, rows] of Object.entries(samples)) {
    mean[key] = rows[0]!.map((_, i) => rows.reduce((s, r) => s + r[i]!, 0) / count);
    se[key] = rows[0]!.map((_, i) => Math.sqrt(rows.reduce((s, r) => s + (r[i]! - mean[key]![i]!) ** 2, 0) / (count - 1) / count));
  }
  return { mean, se };
}

describe('LR with local losses: exact enumeration of a 3-2-2-2 network whose first layer has a local head', () => {
  const headLoss = (P: Params) => sampleMean(moments(P).headLoss);
  const loss = (P: Params) => sampleMean(moments(P).loss);

  it("'loss' credit: each block's estimate is unbiased for its own expected loss, and the first block's is not the network's", () => {
    const exact = { ...differences([...H1_KEYS, ...HEAD_KEYS], headLoss), ...differences([...LAST_KEYS, ...READOUT_KEYS], loss) };
    const { mean, se } = draws('loss', 2000, 40);
    expect(Object.keys(mean).sort()).toEqual(Object.keys(exact).sort());
    expect(expectUnbiased(mean, se, exact, expect)).toBeLessThan(3);
    // positive control: the network's loss would have given the first layer another gradient, far outside the estimate's error
    const global = differences(H1_KEYS, loss);
    const distance = H1_KEYS.flatMap((k) => global[k]!.map((g, i) => ((mean[k]![i]! - g) / se[k]![i]!) ** 2)).reduce((a, b) => a + b, 0);
    expect(distance).toBeGreaterThan(100);
  });

  const unitExact = () => ({
    ...unitTruth(H1_KEYS, 'meanH1', 'creditH1'),
    ...unitTruth(LAST_KEYS, 'meanH2', 'creditH2'),
    ...differences(HEAD_KEYS, headLoss),
    ...differences(READOUT_KEYS, loss),
  });
  const hidden = [...H1_KEYS, ...LAST_KEYS];
  let stepwiseDraws: ReturnType<typeof draws> | undefined;
  const stepwise = () => (stepwiseDraws ??= draws('unit', 2000, 40));

  it("'unit' credit, step by step: each layer that a linear read takes is unbiased for Σ_j E[∂L/∂s̄_j] ∂E[s̄_j]/∂θ; the heads and the readout stay exact", () => {
    const exact = unitExact();
    const { mean, se } = stepwise();
    expect(Object.keys(mean).sort()).toEqual(Object.keys(exact).sort());
    expect(expectUnbiased(mean, se, exact, expect)).toBeLessThan(3);
    // each hidden entry is resolved: the test has power
    const resolved = hidden.flatMap((k) => exact[k]!.filter((g, i) => Math.abs(g) > 5 * se[k]![i]!)).length;
    expect(resolved).toBeGreaterThan(6);
  });

  it("'unit' credit over the whole run (causalCredit: false) is unbiased for the same quantity, with more variance than step by step", () => {
    const exact = unitExact();
    const whole = draws('unit', 2000, 40, false);
    expect(expectUnbiased(whole.mean, whole.se, exact, expect)).toBeLessThan(3);
    // the hidden layers' summed variance: each se² is estimated from 40 draws (relative sd √(2/39) ≈ 0.23
    // for one entry, less for the sum of 14), so a ratio below 0.75 is far outside what sampling gives equal variances
    const total = (se: Params) => hidden.reduce((s, k) => s + se[k]!.reduce((a, v) => a + v * v, 0), 0);
    expect(total(stepwise().se) / total(whole.se)).toBeLessThan(0.75);
  });
});

describe('local heads refuse what they cannot be, naming the fix', () => {
  it('on a layer without neurons, on the last layer, or with fewer than two classes', () => {
    expect(
      () =>
        new Network({
          input: [4, 4, 1],
          layers: [
            conv2d({ name: 'c', filters: 2, kernelSize: 3, neuron: H1 }),
            withLocalHead(maxPool2d({ name: 'p', poolSize: 2 }), 2),
            flatten({}),
            readout({ name: 'o', units: 2 }),
          ],
        }),
    ).toThrow(
      /maxPool2d 'p': a local head reads a layer's neurons; a stateless layer \(pooling, flatten\) has none — put the head on the layer with neurons before it/,
    );
    expect(
      () => new Network({ input: [3], layers: [dense({ name: 'h', units: 2, neuron: H1 }), withLocalHead(dense({ name: 'o', units: 2, neuron: H2 }), 2)] }),
    ).toThrow(/the last layer 'o' has a local head; the network's own loss trains the last block/);
    expect(() => layerFromRecord({ kind: 'dense', units: 2, neuron: { kind: 'lif', beta: 0.9, threshold: 1 }, localHead: { classes: 1 } }, 'layer 0')).toThrow(
      /layer 0: localHead: classes must be an integer >= 2/,
    );
  });
});

describe('unit credit needs units that fire independently given their input', () => {
  it('a recurrent layer read by the readout takes its block loss: the same estimate as loss credit, to the bit', () => {
    const net = new Network({
      input: [3],
      layers: [recurrent({ name: 'h', units: 4, neuron: H1 }), readout({ name: 'o', units: 2, beta: READOUT_BETA })],
      seed: 3,
    });
    const input = tf.tensor(INPUTS.flat(2), [2, T, 3]);
    const labels = tf.tensor1d(LABELS, 'int32');
    const estimate = (credit: LocalCredit) => {
      const e = likelihoodRatio({ copies: 4, noise: NOISE, localCredit: credit }).estimate(net, { input, labels }, membraneCrossEntropy('mean'), 7);
      const out = net.layers.flatMap((l) => Object.values(l.params).map((v) => Array.from(e.gradients.get(v)!.dataSync())));
      e.dispose();
      return out;
    };
    expect(estimate('unit')).toEqual(estimate('loss'));
    tf.dispose([input, labels]);
    net.dispose();
  });
});

describe('local heads keep the live tensor count flat', () => {
  it.each([
    ['lr, unit credit', () => likelihoodRatio({ copies: 4, noise: NOISE, localCredit: 'unit' })],
    ['lr, loss credit', () => likelihoodRatio({ copies: 4, noise: NOISE, localCredit: 'loss' })],
    ['fg-activity, unit credit', () => forwardGradient({ directions: 2, perturb: 'activities', localCredit: 'unit' })],
    ['bptt', () => bptt()],
  ] as const)('%s: the same count after every estimate', (_, make) => {
    const net = build();
    const input = tf.tensor(INPUTS.flat(2), [2, T, 3]);
    const labels = tf.tensor1d(LABELS, 'int32');
    const est = make();
    const counts: number[] = [];
    for (let i = 0; i < 4; i++) {
      est.estimate(net, { input, labels }, membraneCrossEntropy('mean'), 40 + i).dispose();
      counts.push(tf.memory().numTensors);
    }
    expect(new Set(counts.slice(1)).size).toBe(1);
    tf.dispose([input, labels]);
    net.dispose();
  });
});
