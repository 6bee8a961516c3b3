/**
 * Escape noise: what makes a spiking neuron stochastic (DESIGN.md §2).
 *
 * A neuron fires when its membrane plus noise crosses the threshold,
 *
 *     s_t = H(u_t + σ ε_t − ϑ),   ε_t ~ f  (standard Gaussian, logistic or Laplace),
 *
 * so with z_t = (u_t − ϑ)/σ it fires with probability p_t = F(z_t) (F the noise CDF; all three
 * densities are symmetric). Two unbiased scores of the spike with respect to the membrane:
 *
 *     noise score  ψ_t = −(log f)'(ε_t)/σ      Gaussian ε/σ, logistic tanh(ε/2)/σ, Laplace sign(ε)/σ
 *     spike score  ψ_t = (s_t − p_t) f(z_t) / (σ p_t (1 − p_t)) = ∂/∂u log P(s_t | u_t)
 *
 * The spike score is the conditional expectation of the noise score given the spike, so it has
 * lower variance; with logistic noise it is just (s_t − p_t)/σ.
 */
import * as tf from '@tensorflow/tfjs';
import { check, checkKeys, checkOneOf, checkPositive } from '../core/errors.js';
import { fillUniform } from '../core/random.js';

export const NOISE_KINDS = ['gaussian', 'logistic', 'laplace'] as const;
export type NoiseKind = (typeof NOISE_KINDS)[number];

export interface EscapeNoise {
  readonly kind: NoiseKind;
  /** Noise scale σ > 0, in units of membrane potential. */
  readonly sigma: number;
}

export function escapeNoise(kind: NoiseKind, sigma: number): EscapeNoise {
  checkOneOf('escapeNoise', 'noise kind', kind, NOISE_KINDS);
  checkPositive('escapeNoise', 'sigma', sigma);
  return { kind, sigma };
}

/** Escape noise from its text form `KIND:SIGMA` (e.g. 'logistic:0.5'). */
export function parseNoise(text: string): EscapeNoise {
  const [kind, sigma] = text.split(':');
  return escapeNoise(kind as NoiseKind, Number(sigma));
}

export function noiseFromRecord(record: unknown, where = 'noise'): EscapeNoise {
  check(typeof record === 'object' && record !== null, () => `${where}: expected { kind, sigma }, got ${JSON.stringify(record)}`);
  checkKeys(where, record, ['kind', 'sigma']);
  const { kind, sigma } = record as { kind: NoiseKind; sigma: number };
  return escapeNoise(kind, sigma);
}

// ---------------------------------------------------------------------------------------------
// Sampling (float64 in JavaScript, from counter-based uniforms, so every backend sees the same ε).

/** Acklam's rational approximation of the standard normal quantile (relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  if (p > 1 - low) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}

/** The noise quantile F⁻¹(u) for u in (0, 1). */
export function noiseQuantile(kind: NoiseKind, u: number): number {
  switch (kind) {
    case 'gaussian':
      return normalQuantile(u);
    case 'logistic':
      return Math.log(u / (1 - u));
    case 'laplace':
      return u < 0.5 ? Math.log(2 * u) : -Math.log(2 * (1 - u));
  }
}

/**
 * Standard noise ε (unit scale) for `count` neurons from counter stream `key`, by inverse CDF.
 * The same `(key, offset)` always gives the same numbers; nothing needs storing to replay it.
 */
export function sampleNoise(kind: NoiseKind, count: number, key: number, offset = 0): Float32Array {
  const u = new Float64Array(count);
  fillUniform(u, key, offset);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = noiseQuantile(kind, u[i]!);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Densities, probabilities and scores as tensor ops (all inside the caller's tidy).

const SQRT1_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** Firing probability p = F(z), z = (u − ϑ)/σ. */
export function firingProbability(kind: NoiseKind, z: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    switch (kind) {
      case 'gaussian':
        return tf.mul(0.5, tf.add(1, tf.erf(tf.mul(z, SQRT1_2))));
      case 'logistic':
        return tf.sigmoid(z);
      case 'laplace':
        return tf.add(0.5, tf.mul(tf.mul(0.5, tf.sign(z)), tf.sub(1, tf.exp(tf.neg(tf.abs(z))))));
    }
  });
}

/** Noise density f(z). */
export function noiseDensity(kind: NoiseKind, z: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    switch (kind) {
      case 'gaussian':
        return tf.mul(INV_SQRT_2PI, tf.exp(tf.mul(-0.5, tf.square(z))));
      case 'logistic': {
        const p = tf.sigmoid(z);
        return tf.mul(p, tf.sub(1, p));
      }
      case 'laplace':
        return tf.mul(0.5, tf.exp(tf.neg(tf.abs(z))));
    }
  });
}

/** Noise score −(log f)'(ε)/σ of the noise actually drawn. */
export function noiseScore(kind: NoiseKind, eps: tf.Tensor, sigma: number | tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    switch (kind) {
      case 'gaussian':
        return tf.div(eps, sigma);
      case 'logistic':
        return tf.div(tf.tanh(tf.mul(eps, 0.5)), sigma);
      case 'laplace':
        return tf.div(tf.sign(eps), sigma);
    }
  });
}

/**
 * Gaussian hazard φ(x)/(1 − Φ(x)), stable for all x: direct below 3, Laplace's continued fraction
 * for the Mills ratio above (where 1 − Φ loses precision in float32).
 */
function gaussianHazard(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const direct = tf.div(tf.mul(INV_SQRT_2PI, tf.exp(tf.mul(-0.5, tf.square(x)))), tf.maximum(tf.mul(0.5, tf.sub(1, tf.erf(tf.mul(x, SQRT1_2)))), 1e-30));
    const xt = tf.maximum(x, 3);
    let cf: tf.Tensor = xt; // x + 1/(x + 2/(x + 3/(x + …))) evaluated from the tail
    for (let k = 24; k >= 1; k--) cf = k === 24 ? tf.add(xt, tf.div(k, xt)) : tf.add(xt, tf.div(k, cf));
    return tf.where(tf.less(x, 3), direct, cf);
  });
}

/**
 * Spike score ∂/∂u log P(s | u) = (s − p) f(z)/(σ p (1 − p)), in a form stable for large |z|.
 * `p`, when the caller has it, is F(z) (saves recomputing it for logistic noise).
 */
export function spikeScore(kind: NoiseKind, spikes: tf.Tensor, z: tf.Tensor, sigma: number | tf.Tensor, p?: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    if (kind === 'logistic') return tf.div(tf.sub(spikes, p ?? tf.sigmoid(z)), sigma);
    const fired = tf.greater(spikes, 0.5);
    switch (kind) {
      case 'gaussian': // fired: φ(z)/Φ(z) = hazard(−z); silent: −φ(z)/(1 − Φ(z)) = −hazard(z)
        return tf.div(tf.where(fired, gaussianHazard(tf.neg(z)), tf.neg(gaussianHazard(z))), sigma);
      case 'laplace': {
        // h = (1 − p)/p for z ≥ 0 (= p/(1 − p) mirrored for z < 0); the other branch is exactly ±1.
        const e = tf.mul(0.5, tf.exp(tf.neg(tf.abs(z))));
        const h = tf.div(e, tf.sub(1, e));
        const negative = tf.less(z, 0);
        const ifFired = tf.where(negative, tf.onesLike(z), h);
        const ifSilent = tf.where(negative, tf.neg(h), tf.onesLike(z).neg());
        return tf.div(tf.where(fired, ifFired, ifSilent), sigma);
      }
    }
  });
}

/**
 * Score of the noise scale, ∂/∂log σ of the log-density of the noisy value a + σε:
 * −1 − ε (log f)'(ε), i.e. Gaussian ε² − 1, logistic ε tanh(ε/2) − 1, Laplace |ε| − 1.
 */
export function logSigmaNoiseScore(kind: NoiseKind, eps: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    switch (kind) {
      case 'gaussian':
        return tf.sub(tf.square(eps), 1);
      case 'logistic':
        return tf.sub(tf.mul(eps, tf.tanh(tf.mul(eps, 0.5))), 1);
      case 'laplace':
        return tf.sub(tf.abs(eps), 1);
    }
  });
}
