/**
 * The decorrelation rule (Dalm et al. 2024; DESIGN.md §8): each decorrelated layer's R learns from
 * a sample of the layer's own input vectors x, never from the loss:
 *
 *   μ ← μ + ρ (mean(x) − μ)                        (with centring)
 *   z = R (x − μ),   C = mean over the sample of z zᵀ
 *   R ← R − η [(1 − κ) offdiag(C) + κ (diag(C) − I)] R
 *
 * The bracket is 2 ∂ℓ/∂C of ℓ(C) = (1 − κ)/4 ‖offdiag C‖² + κ/4 ‖diag C − 1‖², and the update is
 * the gradient ∇_R ℓ preconditioned by the inverse input covariance Σ⁻¹ (∇_R ℓ = 2 ∂ℓ/∂C · R Σ):
 * the natural form Ahmad et al. use, which needs no Σ⁻¹ itself. κ = 1 only normalises the
 * variances; κ = 0 only removes correlations.
 *
 * The trainer arms every decorrelated layer before a step's estimate (the layers keep a strided
 * sample of what they see) and applies the rule after the optimizer step.
 */
import * as tf from '@tensorflow/tfjs';
import type { Network } from '../sim/network.js';

/** C = zᵀz / N. */
const covariance = (z: tf.Tensor) => tf.div(tf.matMul(tf.transpose(z), z), z.shape[0]!);

/** The rule's bracket M = (1 − κ) offdiag(C) + κ (diag(C) − I) for C = zᵀz / N of vectors z `[N, P]`. */
export function decorrelationDirection(z: tf.Tensor, kappa: number): tf.Tensor {
  return tf.tidy(() => {
    const c = covariance(z);
    const eye = tf.eye(z.shape[1]!);
    const diag = tf.mul(c, eye);
    return tf.add(tf.mul(tf.sub(c, diag), 1 - kappa), tf.mul(tf.sub(diag, eye), kappa));
  });
}

/**
 * What the loss and the update need of vectors z `[N, P]`, each product in the cheaper order for the
 * sample at hand: diag C, ‖C‖² and, given R, C R. With fewer vectors than dimensions ‖C‖² comes
 * from the N×N Gram matrix (‖zᵀz‖ = ‖zzᵀ‖) and C R = zᵀ (z R) / N (2NP², no P×P×P product);
 * otherwise C is formed once and serves both (NP² + P³).
 */
function moments(z: tf.Tensor, R?: tf.Tensor): { diag: tf.Tensor; squaredNorm: tf.Tensor; cr?: tf.Tensor } {
  const n = z.shape[0]!,
    p = z.shape[1]!;
  const diag = tf.div(tf.sum(tf.square(z), 0), n);
  if (n < p) {
    return {
      diag,
      squaredNorm: tf.div(tf.sum(tf.square(tf.matMul(z, tf.transpose(z)))), n * n),
      ...(R ? { cr: tf.div(tf.matMul(tf.transpose(z), tf.matMul(z, R)), n) } : {}),
    };
  }
  const c = covariance(z);
  return { diag, squaredNorm: tf.sum(tf.square(c)), ...(R ? { cr: tf.matMul(c, R) } : {}) };
}

/** ℓ(C) = (1 − κ)/4 ‖offdiag C‖² + κ/4 ‖diag C − 1‖² from diag C and ‖C‖², per P² (a scale-free report). */
function lossOf(m: { diag: tf.Tensor; squaredNorm: tf.Tensor }, kappa: number): number {
  const p = m.diag.shape[0]!;
  const off = tf.sub(m.squaredNorm, tf.sum(tf.square(m.diag)));
  const v = tf.sum(tf.square(tf.sub(m.diag, 1)));
  return tf.div(tf.add(tf.mul(off, (1 - kappa) / 4), tf.mul(v, kappa / 4)), p * p).dataSync()[0]!;
}

/** ℓ(C) = (1 − κ)/4 ‖offdiag C‖² + κ/4 ‖diag C − 1‖² of vectors z `[N, P]`, per P² (a scale-free report). */
export function decorrelationLoss(z: tf.Tensor, kappa: number): number {
  return tf.tidy(() => lossOf(moments(z), kappa));
}

/**
 * One step of the rule on R (and μ) from input vectors `x` `[N, P]`; returns ℓ before the step,
 * from the same products as the step.
 */
export function decorrelationStep(
  R: tf.Variable,
  mean: tf.Variable | undefined,
  x: tf.Tensor,
  o: { readonly kappa: number; readonly learningRate: number; readonly meanRate: number },
): number {
  if (mean) tf.tidy(() => mean.assign(tf.add(mean, tf.mul(tf.sub(tf.mean(x, 0), mean), o.meanRate))));
  return tf.tidy(() => {
    const z = tf.matMul(mean ? tf.sub(x, mean) : x, R, false, true);
    const m = moments(z, R);
    const before = lossOf(m, o.kappa);
    const d = tf.reshape(m.diag, [-1, 1]); // diag C as a column
    // M R = (1 − κ)(C − D) R + κ (D − I) R
    const step = tf.add(tf.mul(tf.sub(m.cr!, tf.mul(d, R)), 1 - o.kappa), tf.mul(tf.mul(tf.sub(d, 1), R), o.kappa));
    R.assign(tf.sub(R, tf.mul(step, o.learningRate)));
    return before;
  });
}

/** Arms every decorrelated layer of `net` to keep input samples from the next passes over a batch of `rows` sample-steps (B·T). */
export function armDecorrelation(net: Network, rows: number): void {
  for (const l of net.layers) l.decorrelation?.arm(rows);
}

/**
 * Applies the rule to every decorrelated layer from the samples it kept since it was armed, and
 * disarms it. Returns ℓ per layer name (before the step), for the log.
 */
export function updateDecorrelation(net: Network): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of net.layers) {
    const d = l.decorrelation;
    if (!d) continue;
    const x = d.take();
    d.arm(0);
    if (!x) continue;
    out[l.name] = decorrelationStep(d.R, d.mean, x, d.options);
    x.dispose();
  }
  return out;
}

/**
 * `steps` updates of every decorrelated layer's R (and μ) alone, from deterministic forward passes
 * over `batches` in turn: decorrelation learned before the weights are (for diagnostics at
 * initialisation). Returns the last step's ℓ per layer.
 */
export function warmDecorrelation(
  net: Network,
  batches: readonly { readonly input: tf.Tensor; readonly constantInTime?: boolean }[],
  steps: number,
): Record<string, number> {
  let last: Record<string, number> = {};
  for (let s = 0; s < steps; s++) {
    const { input, constantInTime } = batches[s % batches.length]!;
    armDecorrelation(net, input.shape[0]! * input.shape[1]!);
    net.run(input, { constantInput: constantInTime === true }).dispose();
    last = updateDecorrelation(net);
  }
  return last;
}

/** Whether any layer of `net` decorrelates its input. */
export const decorrelates = (net: Network) => net.layers.some((l) => l.decorrelation !== undefined);
