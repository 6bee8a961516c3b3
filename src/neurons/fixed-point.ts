/**
 * Fixed-point numbers as a chip holds them: a format (bits, fraction bits, rounding), its checks,
 * and quantization onto its grid with saturation (the gradient passes straight through inside the
 * range), on tensors and on numbers.
 */
import * as tf from '@tensorflow/tfjs';
import { check, checkInteger, checkKeys, checkOneOf, show } from '../core/errors.js';

export const ROUNDINGS = ['nearest', 'floor', 'zero'] as const;
/** How a value between two grid points is rounded: half up, toward −∞ (an arithmetic shift), toward zero. */
export type Rounding = (typeof ROUNDINGS)[number];

/** The most bits of a fixed-point number: float32 holds every integer up to 2^24 exactly. */
export const MAX_STATE_BITS = 24;

export interface FixedPoint {
  /** Bits of the integer, its sign included (2–24). */
  readonly bits: number;
  /** Fraction bits f: the grid step is 2^−f (0–bits−1). */
  readonly fraction: number;
  readonly rounding: Rounding;
}
/** Checks a fixed-point format (errors name `where` and the key). */
export function checkFixedPoint(where: string, o: unknown): FixedPoint {
  check(typeof o === 'object' && o !== null, () => `${where}: state must be { bits, fraction, rounding }, got ${show(o)}`);
  checkKeys(`${where}: state`, o, ['bits', 'fraction', 'rounding']);
  const r = o as Partial<FixedPoint>;
  checkInteger(where, 'state bits', r.bits, 2);
  check(
    r.bits <= MAX_STATE_BITS,
    () => `${where}: state bits must be at most ${MAX_STATE_BITS} (float32 holds integers exactly only up to 2^24), got ${r.bits}`,
  );
  checkInteger(where, 'state fraction bits', r.fraction, 0);
  check(r.fraction < r.bits, () => `${where}: state fraction bits (${r.fraction}) must be fewer than its bits (${r.bits}), which include the sign`);
  const rounding = r.rounding ?? 'nearest';
  checkOneOf(where, 'rounding', rounding, ROUNDINGS);
  return { bits: r.bits, fraction: r.fraction, rounding };
}

/** Checks the fraction bits of a fixed-point decay. */
export function checkDecayBits(where: string, bits: unknown): asserts bits is number {
  checkInteger(where, 'decayBits', bits, 1);
  check(bits <= MAX_STATE_BITS, () => `${where}: decayBits must be at most ${MAX_STATE_BITS}, got ${bits}`);
}
/** Integer k of x·2^f under the rounding, before saturation. */
export function roundScaled(x: tf.Tensor, scale: number, rounding: Rounding): tf.Tensor {
  const k = tf.mul(x, scale);
  switch (rounding) {
    case 'nearest':
      return tf.floor(tf.add(k, 0.5)); // half up: the same on every backend (tf.round's ties differ)
    case 'floor':
      return tf.floor(k);
    case 'zero':
      return tf.mul(tf.sign(k), tf.floor(tf.abs(k)));
  }
}

/**
 * Q(x) on the format's grid, saturating; its gradient passes straight through where x is inside
 * the range and is zero where it saturates.
 */
export function quantizeState(x: tf.Tensor, fp: FixedPoint): tf.Tensor {
  const scale = 2 ** fp.fraction,
    lo = -(2 ** (fp.bits - 1)),
    hi = 2 ** (fp.bits - 1) - 1;
  const f = tf.customGrad(((v: tf.Tensor, save: (ts: tf.Tensor[]) => void) => {
    save([v]); // kept only while a gradient is being recorded (BPTT's tape)
    return {
      value: tf.tidy(() => tf.div(tf.clipByValue(roundScaled(v, scale, fp.rounding), lo, hi), scale)),
      // straight through where the value is not saturated
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const k = tf.mul(saved[0]!, scale);
          return tf.mul(dy, tf.cast(tf.logicalAnd(tf.greaterEqual(k, lo - 0.5), tf.lessEqual(k, hi + 0.5)), 'float32'));
        }),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (v: tf.Tensor) => tf.Tensor;
  return f(x);
}

/** round(x·2^b)/2^b to nearest (half up), gradient straight through. */
export function quantizeFraction(x: tf.Tensor, bits: number): tf.Tensor {
  const scale = 2 ** bits;
  const f = tf.customGrad(((v: tf.Tensor) => ({
    value: tf.tidy(() => tf.div(tf.floor(tf.add(tf.mul(v, scale), 0.5)), scale)),
    gradFunc: (dy: tf.Tensor) => dy.clone(),
  })) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (v: tf.Tensor) => tf.Tensor;
  return f(x);
}

/** The same rounding on a number. */
export function quantizeNumber(x: number, fp: FixedPoint): number {
  const scale = 2 ** fp.fraction,
    k = x * scale;
  const r = fp.rounding === 'nearest' ? Math.floor(k + 0.5) : fp.rounding === 'floor' ? Math.floor(k) : Math.trunc(k);
  return Math.min(Math.max(r, -(2 ** (fp.bits - 1))), 2 ** (fp.bits - 1) - 1) / scale;
}
