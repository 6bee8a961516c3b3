/**
 * How the K noise copies of a sample are drawn (DESIGN.md §3). Rows are copy-major: row k·B + b
 * is copy k of sample b, so the copies of one sample are B rows apart and a pair or group of
 * copies always stays on the same sample.
 *
 * - `mc`: independent copies.
 * - `antithetic`: copy k + K/2 uses −ε of copy k (the uniforms u and 1 − u; all noises here are
 *   symmetric). Pairs are the dependent groups.
 * - `qmc`: randomised quasi-Monte Carlo. Within a group of G copies (G a power of two), the noise of
 *   one sample in one layer is the first G points of a Sobol sequence whose dimensions are the
 *   layer's (step, neuron) variables, t·N + i, each under a random digital shift of its own and
 *   mapped through the inverse CDF: every copy is uniform (the estimate stays unbiased) and the G
 *   copies together are a net, spread more evenly than independent draws. Beyond 21 201
 *   dimensions the table is reused in blocks, each with its own random order of the G points
 *   (Owen's Latin supercube padding). Groups are independent of each other.
 *
 * A baseline built from other copies must leave out the copy's whole group to stay unbiased.
 */
import * as tf from '@tensorflow/tfjs';
import { check, checkInteger, checkOneOf } from '../core/errors.js';
import { noiseQuantile, type NoiseKind } from '../neurons/noise.js';
import { permutation, streamKey, word } from '../core/random.js';
import { streamUniforms } from '../kernels/uniform-kernel.js';
import { SOBOL_MAX_DIMENSION, sobolColumn } from './sobol.js';

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
    check(
      (group & (group - 1)) === 0 && copies % group === 0,
      () => `sampling 'qmc': the group size must be a power of two dividing copies (${copies}), got ${group}`,
    );
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

const TWO_POW_M32 = 2 ** -32;
const QMC_STREAM = 0x9c3;
const QMC_ORDER = 0x9c4;

/**
 * Standard noise ε for `rows = K·B` rows of `n` neurons at step t of the layer stream `key`:
 * element (k·B + b)·n + i. Variable (t, b, i) of copy k is counter t·B·n + b·n + i of copy k's
 * stream, so any (copy, step) can be regenerated alone.
 */
export function copyNoise(kind: NoiseKind, plan: CopyPlan, key: number, t: number, batch: number, n: number): Float32Array {
  return copyVariates(
    plan,
    key,
    t,
    batch,
    n,
    (u) => noiseQuantile(kind, u),
    (x) => -x,
  );
}

/**
 * The uniforms U behind {@link copyNoise}: ε = F⁻¹(U), so a unit fires (ε > (ϑ − u)/σ) exactly
 * when U > 1 − F((u − ϑ)/σ) — one uniform per neuron-step and no inverse CDF. Antithetic copies
 * take 1 − U (ε → −ε for the symmetric noises).
 */
export function copyUniforms(plan: CopyPlan, key: number, t: number, batch: number, n: number): Float32Array {
  return copyVariates(
    plan,
    key,
    t,
    batch,
    n,
    (u) => u,
    (u) => 1 - u,
  );
}

/** {@link copyUniforms} as a tensor of `shape`; on wasm (mc and antithetic) generated in the heap. */
export function copyUniformsTensor(plan: CopyPlan, key: number, t: number, batch: number, n: number, shape: number[]): tf.Tensor {
  if (plan.sampling !== 'qmc') {
    const per = batch * n;
    const independent = plan.sampling === 'antithetic' ? plan.copies / 2 : plan.copies;
    const keys = Array.from({ length: independent }, (_, k) => streamKey(key, k));
    const fast = streamUniforms(shape, keys, t * per, per, plan.sampling === 'antithetic');
    if (fast) return fast;
  }
  return tf.tensor(copyUniforms(plan, key, t, batch, n), shape);
}

function copyVariates(
  plan: CopyPlan,
  key: number,
  t: number,
  batch: number,
  n: number,
  transform: (u: number) => number,
  mirror: (x: number) => number,
): Float32Array {
  const K = plan.copies;
  const per = batch * n;
  const out = new Float32Array(K * per);
  const base = t * per;
  if (plan.sampling === 'qmc') {
    qmcVariates(out, transform, plan, key, t, batch, n);
    return out;
  }
  for (let k = 0; k < K; k++) {
    const o = k * per;
    if (plan.sampling === 'antithetic' && k >= K / 2) {
      const partner = (k - K / 2) * per;
      for (let i = 0; i < per; i++) out[o + i] = mirror(out[partner + i]!);
    } else {
      const copyKey = streamKey(key, k);
      for (let i = 0; i < per; i++) out[o + i] = transform((word(copyKey, base + i) + 0.5) * TWO_POW_M32);
    }
  }
  return out;
}

function qmcVariates(out: Float32Array, transform: (u: number) => number, plan: CopyPlan, key: number, t: number, batch: number, n: number): void {
  const G = plan.group;
  const per = batch * n;
  for (let g = 0; g < plan.copies / G; g++) {
    const shiftKey = streamKey(key, QMC_STREAM, g);
    for (let b = 0; b < batch; b++) {
      const orders = new Map<number, Int32Array>();
      for (let i = 0; i < n; i++) {
        const dim = t * n + i;
        const block = Math.floor(dim / SOBOL_MAX_DIMENSION);
        let order = orders.get(block);
        if (block > 0 && !order) orders.set(block, (order = permutation(G, streamKey(key, QMC_ORDER, g, b, block))));
        const column = sobolColumn(G, dim % SOBOL_MAX_DIMENSION);
        const shift = word(shiftKey, t * per + b * n + i);
        for (let j = 0; j < G; j++) {
          const point = column[order ? order[j]! : j]!;
          out[(g * G + j) * per + b * n + i] = transform((((point ^ shift) >>> 0) + 0.5) * TWO_POW_M32);
        }
      }
    }
  }
}
