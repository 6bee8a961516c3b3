/**
 * How the K noise copies of a sample are drawn (DESIGN.md §3). Rows are copy-major: row k·B + b
 * is copy k of sample b, so the copies of one sample are B rows apart and a pair or group of
 * copies always stays on the same sample.
 *
 * - `mc`: independent copies.
 * - `antithetic`: copy k + K/2 uses −ε of copy k (the uniforms u and 1 − u; all noises here are
 *   symmetric). Pairs are the dependent groups.
 * - `qmc`: randomised quasi-Monte Carlo. Within a group of G copies (G a power of two), each noise
 *   variable takes the G points of the base-2 van der Corput (one-dimensional Sobol) sequence under
 *   a random digital shift of its own, mapped through the inverse CDF: exactly one copy per
 *   stratum [i/G, (i+1)/G), each point uniform, so the estimate stays unbiased. Groups are
 *   independent of each other.
 *
 * A baseline built from other copies must leave out the copy's whole group to stay unbiased.
 */
import { check, checkInteger, checkOneOf } from '../errors.js';
import { noiseQuantile, type NoiseKind } from '../neurons/noise.js';
import { streamKey, word } from '../sim/random.js';

export const SAMPLINGS = ['mc', 'antithetic', 'qmc'] as const;
export type Sampling = (typeof SAMPLINGS)[number];

export interface CopyPlan {
  readonly copies: number;
  readonly sampling: Sampling;
  /** Copies per dependent group: 1 (mc), 2 (antithetic), G (qmc). */
  readonly group: number;
}

export function copyPlan(copies: number, sampling: Sampling = 'mc', qmcGroup?: number): CopyPlan {
  checkInteger('copies', 'copies', copies, 1);
  checkOneOf('sampling', 'sampling', sampling, SAMPLINGS);
  if (sampling === 'antithetic') {
    check(copies % 2 === 0, () => `sampling 'antithetic' pairs copies, so copies must be even, got ${copies}`);
    return { copies, sampling, group: 2 };
  }
  if (sampling === 'qmc') {
    const group = qmcGroup ?? copies;
    checkInteger('sampling', 'qmcGroup', group, 1);
    check((group & (group - 1)) === 0 && copies % group === 0,
      () => `sampling 'qmc': the group size must be a power of two dividing copies (${copies}), got ${group}`);
    return { copies, sampling, group };
  }
  return { copies, sampling, group: 1 };
}

/** The dependent group of copy k; copies in different groups are independent. */
export function groupOf(plan: CopyPlan, k: number): number {
  if (plan.sampling === 'antithetic') return k % (plan.copies / 2);
  return Math.floor(k / plan.group);
}

export function groupCount(plan: CopyPlan): number {
  return plan.copies / plan.group;
}

function reverseBits32(x: number): number {
  x = ((x >>> 1) & 0x55555555) | ((x & 0x55555555) << 1);
  x = ((x >>> 2) & 0x33333333) | ((x & 0x33333333) << 2);
  x = ((x >>> 4) & 0x0f0f0f0f) | ((x & 0x0f0f0f0f) << 4);
  x = ((x >>> 8) & 0x00ff00ff) | ((x & 0x00ff00ff) << 8);
  return ((x >>> 16) | (x << 16)) >>> 0;
}

const TWO_POW_M32 = 2 ** -32;
const QMC_STREAM = 0x9c3;

/**
 * Standard noise ε for `rows = K·B` rows of `n` neurons at step t of the layer stream `key`:
 * element (k·B + b)·n + i. Variable (t, b, i) of copy k is counter t·B·n + b·n + i of copy k's
 * stream, so any (copy, step) can be regenerated alone.
 */
export function copyNoise(kind: NoiseKind, plan: CopyPlan, key: number, t: number, batch: number, n: number): Float32Array {
  const K = plan.copies;
  const per = batch * n;
  const out = new Float32Array(K * per);
  const base = t * per;
  for (let k = 0; k < K; k++) {
    const o = k * per;
    if (plan.sampling === 'qmc') {
      const j = k % plan.group;
      const point = reverseBits32(j);
      const shiftKey = streamKey(key, QMC_STREAM, Math.floor(k / plan.group));
      for (let i = 0; i < per; i++) out[o + i] = noiseQuantile(kind, (((point ^ word(shiftKey, base + i)) >>> 0) + 0.5) * TWO_POW_M32);
    } else if (plan.sampling === 'antithetic' && k >= K / 2) {
      const partner = (k - K / 2) * per;
      for (let i = 0; i < per; i++) out[o + i] = -out[partner + i]!;
    } else {
      const copyKey = streamKey(key, k);
      for (let i = 0; i < per; i++) out[o + i] = noiseQuantile(kind, (word(copyKey, base + i) + 0.5) * TWO_POW_M32);
    }
  }
  return out;
}
