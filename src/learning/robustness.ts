/**
 * Robustness of trained networks to input perturbations of images x ∈ [0, 1]^P:
 *   FGSM (Goodfellow et al. 2015): x' = clip(x + ε sign ∇ₓL);
 *   PGD (Madry et al. 2018): n steps of size α = 2.5ε/n, each projected back onto the L∞ ball of
 *     radius ε around x and onto [0, 1] (no random start, so runs are reproducible);
 *   Gaussian corruption: x' = clip(x + σξ), ξ ~ N(0, 1) from the seeded counter stream.
 * The input gradient is the surrogate gradient of the network's loss with respect to the image fed
 * as a constant current every step — for a rate-coded network, the gradient with respect to the
 * rates its Bernoulli input spikes have (the spikes themselves have no gradient) — or, for the rows
 * encoding, one row of it each step.
 */
import * as tf from '@tensorflow/tfjs';
import { check, checkInRange, checkInteger } from '../core/errors.js';
import { normalQuantile } from '../neurons/noise.js';
import { atan, surrogateSpike, type Surrogate } from '../neurons/surrogate.js';
import type { Network } from '../sim/network.js';
import { streamKey, uniform } from '../core/random.js';
import { differentiableRun } from './estimators/bptt.js';
import { checkDifferentiable, type RowLoss } from './losses.js';

export interface AttackOptions {
  /** Steps the network runs per image. */
  readonly steps: number;
  readonly loss: RowLoss;
  /** Surrogate for the input gradient (default atan(2)). */
  readonly surrogate?: Surrogate;
  /**
   * Each step reads the next row of the image (the rows encoding: `steps` rows of the network's
   * input size), not the whole image as a constant current.
   */
  readonly rows?: boolean;
}

/** ∇ₓ of the summed loss of images `x` `[B, P]` under `net`, each image a constant input over `steps` steps. */
export function inputGradient(net: Network, x: tf.Tensor2D, labels: tf.Tensor1D, o: AttackOptions): tf.Tensor2D {
  checkDifferentiable(o.loss, 'the input-gradient attacks (FGSM, PGD)', 'attack with a differentiable loss such as ce-membrane');
  const spike = surrogateSpike(o.surrogate ?? atan());
  const size = net.inputShape.reduce((a, b) => a * b, 1);
  check(
    x.shape[1] === (o.rows ? o.steps * size : size),
    () =>
      `the input-gradient attacks: images of ${x.shape[1]} values do not make ${o.rows ? `${o.steps} rows` : 'one input'} of the network's ${size} values${o.rows ? ' (rows encoding: steps × input size)' : ''}`,
  );
  return tf.tidy(() => {
    const f = (images: tf.Tensor) => {
      const sequence = o.rows ? images : tf.mul(tf.expandDims(images, 1), tf.ones([1, o.steps, 1]));
      const input = tf.reshape(sequence, [images.shape[0]!, o.steps, ...net.inputShape]);
      return tf.sum(o.loss(differentiableRun(net, input, spike), labels));
    };
    return tf.grad(f)(x) as tf.Tensor2D;
  });
}

/** FGSM adversarial images at radius `epsilon`. */
export function fgsm(net: Network, x: tf.Tensor2D, labels: tf.Tensor1D, epsilon: number, o: AttackOptions): tf.Tensor2D {
  checkInRange('fgsm', 'epsilon', epsilon, 0, 1);
  return tf.tidy(() => {
    const g = inputGradient(net, x, labels, o);
    return tf.clipByValue(tf.add(x, tf.mul(tf.sign(g), epsilon)), 0, 1) as tf.Tensor2D;
  });
}

/** PGD adversarial images at radius `epsilon` after `iterations` steps of size 2.5ε/iterations. */
export function pgd(net: Network, x: tf.Tensor2D, labels: tf.Tensor1D, epsilon: number, o: AttackOptions & { readonly iterations?: number }): tf.Tensor2D {
  checkInRange('pgd', 'epsilon', epsilon, 0, 1);
  const iterations = o.iterations ?? 10;
  checkInteger('pgd', 'iterations', iterations, 1);
  const step = (2.5 * epsilon) / iterations;
  let adv = tf.clone(x);
  for (let i = 0; i < iterations; i++) {
    const next = tf.tidy(() => {
      const g = inputGradient(net, adv, labels, o);
      const moved = tf.add(adv, tf.mul(tf.sign(g), step));
      return tf.clipByValue(tf.minimum(tf.maximum(moved, tf.sub(x, epsilon)), tf.add(x, epsilon)), 0, 1) as tf.Tensor2D;
    });
    adv.dispose();
    adv = next;
  }
  return adv;
}

/** Images with Gaussian noise of standard deviation `sigma` added, clipped to [0, 1] (seeded). */
export function gaussianCorruption(images: Float32Array, sigma: number, seed: number): Float32Array {
  checkInRange('gaussianCorruption', 'sigma', sigma, 0, 10);
  const u = uniform(images.length, streamKey(seed, 0x9a55));
  return images.map((v, i) => Math.min(1, Math.max(0, v + sigma * normalQuantile(u[i]!))));
}
