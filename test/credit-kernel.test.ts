/**
 * Unit credit step by step (unit-credit.ts `creditSteps`): each step's weights — the unit's output
 * from that step on, centred on the other groups of copies, times its credit, times the step's
 * scores — against a float64 reference written out from the definition, by the wasm kernel
 * (credit-kernel.ts) and by the separate tensor ops it replaces.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/kernels/backend.js';
import { useFusedKernels } from '../src/kernels/noisy-lif-kernel.js';
import { copyPlan, groupOf, type CopyPlan } from '../src/learning/sampling.js';
import { creditSteps, unitCredit } from '../src/learning/unit-credit.js';
import { likelihoodRatio } from '../src/learning/estimators/lr.js';
import { escapeNoise } from '../src/neurons/noise.js';

beforeAll(async () => {
  await initBackend({ backend: 'wasm', log: null });
});

const wave = (n: number, seed: number, spikes = false) =>
  Float32Array.from({ length: n }, (_, i) => {
    const v = Math.sin(seed * 1000 + i * 0.37);
    return spikes ? (v > 0.3 ? 1 : 0) : v;
  });

/**
 * Step t's weights in float64 straight from the definition: R_t = Σ_{τ≥t} a_τ s_τ per copy, the mean
 * of R_t over the copies of the other groups, and factor · (R_t − mean) · seed_t.
 */
function reference(plan: CopyPlan, s: Float32Array[], seeds: Float32Array[], factor: Float32Array, a: number[], cols: number): Float64Array[] {
  const K = plan.copies,
    T = s.length;
  const out: Float64Array[] = [];
  for (let t = 0; t < T; t++) {
    const R = new Float64Array(K * cols);
    for (let tau = t; tau < T; tau++) for (let i = 0; i < K * cols; i++) R[i]! += a[tau]! * s[tau]![i]!;
    const w = new Float64Array(K * cols);
    for (let k = 0; k < K; k++)
      for (let c = 0; c < cols; c++) {
        let sum = 0,
          n = 0;
        for (let m = 0; m < K; m++)
          if (groupOf(plan, m) !== groupOf(plan, k)) {
            sum += R[m * cols + c]!;
            n++;
          }
        const i = k * cols + c;
        w[i] = factor[i]! * (R[i]! - sum / n) * seeds[t]![i]!;
      }
    out.push(w);
  }
  return out;
}

describe('unit credit step by step', () => {
  it.each([
    ['mc, 8 copies', copyPlan(8), 1003],
    ['antithetic, 8 copies', copyPlan(8, 'antithetic'), 300],
    ['mc, 3 copies', copyPlan(3), 5],
  ] as const)('%s: the kernel and the separate ops give the definition', (_, plan, cols) => {
    const K = plan.copies,
      T = 4,
      batch = 1;
    const a = [0.1, 0.4, 0.2, 0.3];
    const s = Array.from({ length: T }, (_, t) => wave(K * cols, t + 1, true));
    const seeds = Array.from({ length: T }, (_, t) => wave(K * cols, t + 11));
    const credit = tf.tensor2d(wave(K * cols, 7), [K * batch, cols]);
    for (const fused of [true, false]) {
      useFusedKernels(fused);
      try {
        const before = tf.memory().numTensors;
        const c = unitCredit(credit, plan, batch, a);
        const factor = c.factor.dataSync() as Float32Array;
        const want = reference(plan, s, seeds, factor, a, cols);
        const steps = creditSteps(c);
        for (let t = T - 1; t >= 0; t--) {
          const st = tf.tensor2d(s[t]!, [K, cols]),
            seed = tf.tensor2d(seeds[t]!, [K, cols]);
          // with the scores on even steps, the weights alone on odd ones
          const got = t % 2 === 0 ? steps.at(t, st, seed) : steps.at(t, st);
          const values = got.dataSync();
          for (let i = 0; i < values.length; i++) {
            const expected = t % 2 === 0 ? want[t]![i]! : want[t]![i]! / seeds[t]![i]!;
            expect(Math.abs(values[i]! - expected), `${fused ? 'kernel' : 'ops'} step ${t} entry ${i}`).toBeLessThan(1e-6 * (1 + Math.abs(expected)));
          }
          tf.dispose([st, seed, got]);
        }
        steps.dispose();
        c.factor.dispose();
        expect(tf.memory().numTensors).toBe(before);
      } finally {
        useFusedKernels(true);
      }
    }
    credit.dispose();
  });

  it('refuses what it cannot be, naming the fix', () => {
    expect(() => likelihoodRatio({ copies: 4, noise: escapeNoise('logistic', 0.5), causalCredit: 'yes' as never })).toThrow(
      /likelihoodRatio: causalCredit must be true or false, got "yes"/,
    );
    const one = tf.ones([2, 2]);
    expect(() => unitCredit(one, copyPlan(2, 'antithetic'), 1, [1])).toThrow(/needs at least two independent groups of copies/);
    one.dispose();
  });

  it('refuses steps out of order', () => {
    const c = unitCredit(tf.ones([4, 2]), copyPlan(4), 1, [0.5, 0.5]);
    const steps = creditSteps(c);
    const s = tf.ones([4, 2]);
    expect(() => steps.at(0, s)).toThrow(/step 0 asked for where step 1 was due/);
    steps.dispose();
    tf.dispose([s, c.factor]);
  });
});
