/**
 * How a neuron turns membrane into spikes at step t: deterministically (the Heaviside step) or by
 * escape noise drawn from a counter stream, so that a run is replayable from its seed alone.
 */
import * as tf from '@tensorflow/tfjs';
import { fillUniform } from '../core/random.js';
import { firingProbability, sampleNoise, type EscapeNoise } from './noise.js';
import type { Fire } from './model.js';

export type { Coef, Fire } from './model.js';

/** The activation functions an analog unit (analog.ts) applies. */
export const ACTIVATIONS = ['relu', 'tanh', 'sigmoid', 'identity'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

/** s = H(u − ϑ) with H(0) = 0, as in snnTorch (tf.step: one kernel, where greater + cast is two). */
export const heaviside: Fire = (membrane, threshold) => tf.tidy(() => tf.step(tf.sub(membrane, threshold)));

/**
 * s = H(u + σε − ϑ), ε = F⁻¹(U) with U drawn at step t from stream `key` (counters t·n … t·n + n − 1
 * for n neurons in the batch), so the noise of any step can be regenerated from `(key, t)` by
 * {@link stepNoise}. Computed as s = H(U − (1 − F((u − ϑ)/σ))): the same event, one uniform per
 * neuron-step and no inverse CDF in JavaScript.
 */
export function escapeFire(noise: EscapeNoise, key: number, scale?: tf.Tensor): Fire {
  return (membrane, threshold, t) =>
    tf.tidy(() => {
      const n = membrane.size;
      const u = new Float32Array(n);
      fillUniform(u, key, t * n);
      const p = firingProbability(noise.kind, tf.div(tf.sub(membrane, threshold), noiseSigma(noise, scale)));
      return spikesFromUniforms(tf.tensor(u, membrane.shape), p);
    });
}

/**
 * s = H(U − (1 − p)) with p = F((u − ϑ)/σ): for symmetric noise this is the event ε = F⁻¹(U) >
 * (ϑ − u)/σ, i.e. u + σε > ϑ, decided from the uniform alone (no inverse CDF).
 */
export function spikesFromUniforms(uniforms: tf.Tensor, p: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.step(tf.add(uniforms, tf.sub(p, 1))));
}

/** σ, or per-neuron σ·exp(s) for a learned log-scale s. */
export function noiseSigma(noise: EscapeNoise, scale?: tf.Tensor): number | tf.Tensor {
  return scale ? tf.mul(noise.sigma, tf.exp(scale)) : noise.sigma;
}

/** The standard noise ε_t that {@link escapeFire} drew at step t for a membrane of this shape. */
export function stepNoise(noise: EscapeNoise, key: number, t: number, shape: readonly number[]): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(sampleNoise(noise.kind, n, key, t * n), [...shape], 'float32');
}

/** φ of an analog unit. */
export function activate(activation: Activation, x: tf.Tensor): tf.Tensor {
  switch (activation) {
    case 'relu':
      return tf.relu(x);
    case 'tanh':
      return tf.tanh(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'identity':
      return x.clone();
  }
}

/** For analog units the "fire" is the activation: φ(I) (the threshold argument is unused). */
export function activationFire(activation: Activation): Fire {
  return (input) => tf.tidy(() => activate(activation, input));
}

/** φ(I + σε_t), ε_t drawn at step t from stream `key` as in {@link escapeFire}. */
export function noisyActivationFire(activation: Activation, noise: EscapeNoise, key: number, scale?: tf.Tensor): Fire {
  return (input, _threshold, t) => tf.tidy(() => activate(activation, tf.add(input, tf.mul(stepNoise(noise, key, t, input.shape), noiseSigma(noise, scale)))));
}
