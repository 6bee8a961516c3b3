/**
 * BPTT with its gradient limited to h crossings of the recurrent weights (`recurrentHops`), checked
 * against an independent construction: the unrolled loop with every crossing's gradient scaled by ε
 * has a gradient polynomial in ε, G(ε) = Σ_k ε^k G_k, G_k the paths that cross V exactly k times;
 * the coefficients come from G at T points (Lagrange interpolation), and h hops must give Σ_{k≤h} G_k
 * — the fused loop (its truncated series); the unrolled levels (bptt.ts) agree with it, and run ALIF
 * too. h ≥ T − 1 is exact BPTT; each h below it differs (a positive control). Bad settings are
 * refused by name, and
 * the flags' null values ('all', 'none') reach the config as null; a compare's arms each hold only
 * the keys their learner reads.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { checkCombinations, resolveConfig } from '../src/cli/config.js';
import { methodConfig } from '../src/cli/combinations.js';
import { METHODS } from '../src/learning/estimators/registry.js';
import { addConfigFlags, configFlags } from '../src/cli/flags.js';
import { Command } from 'commander';
import { lifRecurrentSequence } from '../src/kernels/lif-recurrent-sequence.js';
import { bptt, differentiableRun } from '../src/learning/estimators/bptt.js';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import { lifStep, type ResetMode } from '../src/neurons/lif.js';
import { alif, lif } from '../src/neurons/params.js';
import { atan, surrogateSpike } from '../src/neurons/surrogate.js';
import { readout, recurrent } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';

const spread = (n: number, seed: number, lo: number, hi: number) =>
  Float32Array.from({ length: n }, (_, i) => lo + (hi - lo) * (0.5 + 0.5 * Math.sin(seed * 7919 + i * 12.9898)));

const [T, R, N] = [5, 3, 17];
const [BETA, THRESHOLD] = [0.85, 0.7];

/** x forward, its gradient times ε backward. */
const scaled = (eps: number) =>
  tf.customGrad(((x: tf.Tensor) => ({ value: tf.mul(x, 1), gradFunc: (dy: tf.Tensor) => tf.mul(dy, eps) })) as unknown as Parameters<
    typeof tf.customGrad
  >[0]) as unknown as (x: tf.Tensor) => tf.Tensor;

/** The unrolled separate ops, step t's current `x[t] + s_{t−1} V`, each crossing's gradient scaled by ε. */
function unrolled(x: tf.Tensor, v: tf.Tensor, reset: ResetMode, eps: number): tf.Tensor {
  const p = lif({ beta: BETA, threshold: THRESHOLD, reset });
  const fire = (u: tf.Tensor, threshold: tf.Tensor | number) => surrogateSpike(atan())(tf.sub(u, threshold));
  const cross = scaled(eps);
  let state = { membrane: tf.zeros(x.shape.slice(1)), spikes: tf.zeros(x.shape.slice(1)) } as Parameters<typeof lifStep>[1];
  const out: tf.Tensor[] = [];
  for (const drive of tf.unstack(x)) {
    state = lifStep(tf.add(drive, tf.matMul(cross(state.spikes), v)), state, p, fire, 0);
    out.push(state.spikes);
  }
  return tf.stack(out);
}

/** Σ_{k≤h} G_k from G(ε) at T points: the polynomial's coefficients by Lagrange interpolation (float64). */
function hopSums(at: (eps: number) => Float32Array[], degree: number): Float64Array[][] {
  const points = Array.from({ length: degree + 1 }, (_, i) => -1 + (2 * i) / degree);
  const values = points.map(at);
  const parts = values[0]!.length;
  // coefficients of each Lagrange basis polynomial ℓ_i(ε) = Π_{j≠i} (ε − ε_j)/(ε_i − ε_j)
  const basis = points.map((pi, i) => {
    let c = [1];
    for (const [j, pj] of points.entries()) {
      if (j === i) continue;
      const next = new Array<number>(c.length + 1).fill(0);
      c.forEach((a, k) => {
        next[k + 1]! += a / (pi - pj);
        next[k]! -= (a * pj) / (pi - pj);
      });
      c = next;
    }
    return c;
  });
  return Array.from({ length: parts }, (_, part) => {
    const size = values[0]![part]!.length;
    const coefficients = Array.from({ length: degree + 1 }, (_, k) => {
      const g = new Float64Array(size);
      values.forEach((v, i) => v[part]!.forEach((x, e) => (g[e]! += basis[i]![k]! * x)));
      return g;
    });
    // cumulative: hops h gives the paths with at most h crossings
    return coefficients.map((_, h) => {
      const sum = new Float64Array(size);
      for (let k = 0; k <= h; k++) coefficients[k]!.forEach((x, e) => (sum[e]! += x));
      return sum;
    });
  });
}

const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, x) => Math.max(m, Math.abs(x)), 0);
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

describe('BPTT through at most h crossings of the recurrent weights', () => {
  it.each(['subtract', 'zero'] as const)('reset %s: the fused loop gives the ε-polynomial’s partial sums, exact BPTT from h = T − 1', (reset) => {
    const x = tf.tensor(spread(T * R * N, 1, -0.6, 1.4), [T, R, N]);
    const v = tf.tensor(spread(N * N, 2, -0.4, 0.4), [N, N]);
    const weight = tf.tensor(spread(T * R * N, 3, -1, 1), [T, R, N]);
    const gradients = (f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor) =>
      tf.tidy(() =>
        tf
          .grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(weight, f(a, b))))([x, v])
          .map((g) => Float32Array.from(g.dataSync())),
      );
    const truth = hopSums((eps) => gradients((a, b) => unrolled(a, b, reset, eps)), T - 1);
    const fires = lifRecurrentSequence(x, v, { beta: BETA, threshold: THRESHOLD, reset, surrogate: atan() }).sum().dataSync()[0]!;
    expect(fires).toBeGreaterThan(0.2 * T * R * N); // spikes cross V
    const fused = (h?: number) =>
      gradients((a, b) =>
        lifRecurrentSequence(a, b, { beta: BETA, threshold: THRESHOLD, reset, surrogate: atan(), ...(h === undefined ? {} : { recurrentHops: h }) }),
      );
    const full = fused();
    for (let h = 0; h <= T; h++) {
      const got = fused(h);
      for (const part of [0, 1]) {
        const want = truth[part]![Math.min(h, T - 1)]!;
        // float32 gradients, five of them combined with weights up to ~7: a few units in the 6th digit
        expect(maxDiff(got[part]!, want)).toBeLessThan(2e-4 * maxAbs(want));
      }
      // each hop counts: h + 1 crossings move the currents' gradient by far more than the tolerance (V's last one is empty: s_{−1} = 0)
      if (h < T - 1) expect(maxDiff(got[0]!, truth[0]![h + 1]!)).toBeGreaterThan(1e-2 * maxAbs(got[0]!));
      if (h >= T - 1) for (const part of [0, 1]) expect(maxDiff(got[part]!, full[part]!)).toBeLessThan(1e-5 * maxAbs(full[part]!));
    }
    tf.dispose([x, v, weight]);
  });

  it('the unrolled levels agree with the fused loop for every h, ALIF’s too with exact BPTT and each other; no tensor left behind', () => {
    const build = (neuron: Parameters<typeof recurrent>[0]['neuron']) =>
      new Network({
        input: [12],
        layers: [recurrent({ name: 'rec', units: 20, neuron }), readout({ name: 'out', units: 4, beta: 0.9 })],
        seed: 5,
      });
    const input = tf.tensor(spread(6 * 7 * 12, 4, -0.2, 1.2), [6, 7, 12]); // T = 7
    const labels = tf.tensor1d([0, 1, 2, 3, 0, 1], 'int32');
    const surrogate = atan();
    const loss = membraneCrossEntropy('mean');
    // the gradients of the loss through differentiableRun: fused where `surrogate` is given, else every step unrolled
    const gradients = (net: Network, o: { readonly recurrentHops?: number; readonly surrogate?: typeof surrogate }) => {
      const vars = net.layers.flatMap((l) => Object.values(l.params));
      const { value, grads } = tf.variableGrads(() => tf.mean(loss(differentiableRun(net, input, surrogateSpike(surrogate), o), labels)) as tf.Scalar, vars);
      const out = vars.map((v) => Float32Array.from(grads[v.name]!.dataSync()));
      tf.dispose([value, ...Object.values(grads)]);
      return out;
    };
    const lifNet = build(lif({ beta: 0.9 }));
    const alifNet = build(alif({ beta: 0.9 }));
    const exact = { lif: gradients(lifNet, { surrogate }), alif: gradients(alifNet, {}) };
    const previous: { lif?: Float32Array[]; alif?: Float32Array[] } = {};
    for (const h of [0, 1, 2, 6]) {
      const fused = gradients(lifNet, { recurrentHops: h, surrogate });
      const levels = gradients(lifNet, { recurrentHops: h });
      fused.forEach((g, i) => expect(maxDiff(g, levels[i]!)).toBeLessThan(1e-4 * Math.max(1e-6, maxAbs(levels[i]!))));
      const adaptive = gradients(alifNet, { recurrentHops: h });
      for (const [kind, got] of [
        ['lif', fused],
        ['alif', adaptive],
      ] as const) {
        const want = exact[kind];
        // h = 6 = T − 1: every path; below it the rest is missing (the readout's gradients read only the spikes, the same for every h)
        if (h === 6) got.forEach((g, i) => expect(maxDiff(g, want[i]!)).toBeLessThan(1e-4 * Math.max(1e-6, maxAbs(want[i]!))));
        else expect(got.some((g, i) => maxDiff(g, want[i]!) > 3e-3 * maxAbs(want[i]!))).toBe(true);
        const before = previous[kind];
        if (before) expect(got.some((g, i) => maxDiff(g, before[i]!) > 3e-3 * maxAbs(g))).toBe(true);
        previous[kind] = got;
      }
    }
    // the estimator passes the setting on, and frees what it made
    const batch = { input, labels };
    const viaEstimator = bptt({ surrogate, recurrentHops: 1 }).estimate(lifNet, batch, loss, 0);
    const direct = gradients(lifNet, { recurrentHops: 1, surrogate });
    [...viaEstimator.gradients.values()].forEach((g, i) => expect(maxDiff(g.dataSync(), direct[i]!)).toBeLessThan(1e-6 * Math.max(1e-6, maxAbs(direct[i]!))));
    viaEstimator.dispose();
    const count = tf.memory().numTensors;
    bptt({ surrogate, recurrentHops: 1 }).estimate(lifNet, batch, loss, 0).dispose();
    bptt({ surrogate, recurrentHops: 1 }).estimate(alifNet, batch, loss, 0).dispose();
    expect(tf.memory().numTensors).toBe(count);
    tf.dispose([input, labels]);
    lifNet.dispose();
    alifNet.dispose();
  });

  it('refuses bad settings by name: a method without BPTT’s gradient, a network without recurrence, a negative count', async () => {
    await expect(resolveConfig({ flags: { method: 'lr', recurrent: true, recurrentHops: 0 } })).rejects.toThrow(
      /recurrentHops limits BPTT's gradient.*method 'lr'.*use method 'bptt'/,
    );
    await expect(resolveConfig({ flags: { method: 'bptt', recurrentHops: 2 } })).rejects.toThrow(/recurrentHops applies to recurrent layers.*add recurrent/);
    await expect(resolveConfig({ flags: { method: 'bptt', recurrentHops: -1 } })).rejects.toThrow(/--recurrent-hops.*integer >= 0 or null/);
    expect(() => bptt({ recurrentHops: 1.5 })).toThrow(/recurrentHops/);
    const feedForward = new Network({ input: [3], layers: [readout({ name: 'out', units: 2, beta: 0.9 })], seed: 1 });
    const batch = { input: tf.ones([1, 2, 3]), labels: tf.tensor1d([1], 'int32') };
    expect(() => bptt({ recurrentHops: 0 }).estimate(feedForward, batch, membraneCrossEntropy('mean'), 0)).toThrow(
      /recurrentHops .* this network has no such layer .*: drop recurrentHops/,
    );
    tf.dispose([batch.input, batch.labels]);
    feedForward.dispose();
    // compare's config serves LR and BPTT at once: BPTT's arm reads the key, LR's ignores it
    const shared = await resolveConfig({ flags: { recurrent: true, recurrentHops: 0, noiseSchedule: 'anneal' }, method: 'lr', shared: true });
    expect(shared.recurrentHops).toBe(0);
    // each arm's config.json holds what its learner reads, so it resumes as its own run
    for (const method of METHODS) expect(() => checkCombinations(methodConfig(shared, method), 'arm')).not.toThrow();
    expect(methodConfig(shared, 'bptt').recurrentHops).toBe(0);
    expect(methodConfig(shared, 'lr').recurrentHops).toBeNull();
    expect(methodConfig(shared, 'lr').noiseSchedule).toBe('anneal');
    expect(() => checkCombinations({ ...shared, method: 'lr' }, 'arm')).toThrow(/recurrentHops/);
    expect(() => checkCombinations({ ...shared, method: 'bptt' }, 'arm')).toThrow(/noiseSchedule/);
    expect((await resolveConfig({ flags: { method: 'bptt', recurrent: true, recurrentHops: 3 } })).recurrentHops).toBe(3);
    // the flag: a count, or 'all' for every path
    const flag = (name: string, value: string) => {
      const command = addConfigFlags(new Command().exitOverride().configureOutput({ writeErr: () => {} }));
      command.parse([`--${name}`, value], { from: 'user' });
      return configFlags(command.opts());
    };
    expect(flag('recurrent-hops', '2').recurrentHops).toBe(2);
    expect(flag('recurrent-hops', 'all').recurrentHops).toBeNull();
    expect(() => flag('recurrent-hops', '-1')).toThrow(/expected a number of hops >= 0, or 'all', got '-1'/);
    // a flag's null ('none') reaches the config as null, not as commander's '' for a parser's null
    expect(flag('conv', 'none').conv).toBeNull();
    expect(flag('time-chunk', 'none').timeChunk).toBeNull();
    expect(flag('layer-noise', 'none').layerNoise).toBeNull();
  });
});
