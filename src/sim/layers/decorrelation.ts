/**
 * Input decorrelation of an affine layer (Dalm et al. 2024, "Efficient deep learning with
 * decorrelated backpropagation"; DESIGN.md §8). The layer's input vector x (a dense layer's input
 * row; a conv layer's patch, padding included) becomes z = R (x − μ): R starts at the identity and
 * learns by its own local rule (src/learning/decorrelation.ts), μ is a running mean of x when
 * centring. The layer's weight W acts on z, and the forward pass uses the fused weight
 * A = Rᵀ W (the patch axis flattened) and the fused offset −μ A, computed once per change of W, R
 * or μ and cached: one product, never two per step. The gradient of W is R times that of A
 * (autodiff sees it through a custom gradient), so every learner learns W in the decorrelated basis.
 *
 * R and μ are kept in the layer's `params` (saved, checkpointed and handed to worker threads like
 * any weight) and named in its `buffers`: no learner estimates a gradient for them.
 */
import * as tf from '@tensorflow/tfjs';
import { check, checkInRange, checkKeys, checkPositive, show } from '../../core/errors.js';
import type { BuildContext, Decorrelate, DecorrelateOptions, Decorrelator } from './types.js';

export type { Decorrelate, DecorrelateOptions, Decorrelator } from './types.js';

export const DECORRELATE_DEFAULTS: Decorrelate = { kappa: 0.5, learningRate: 1e-3, sample: 0.125, centre: true, meanRate: 0.1 };

/** Validates decorrelation options (`true` takes the defaults); undefined when off. */
export function checkDecorrelate(where: string, o: unknown): Decorrelate | undefined {
  if (o === undefined || o === false) return undefined;
  if (o === true) return DECORRELATE_DEFAULTS;
  check(
    typeof o === 'object' && o !== null && !Array.isArray(o),
    () => `${where}: decorrelate must be true or an object { kappa, learningRate, sample, centre, meanRate }, got ${show(o)}`,
  );
  checkKeys(`${where} decorrelate`, o, Object.keys(DECORRELATE_DEFAULTS));
  const d = { ...DECORRELATE_DEFAULTS, ...(o as DecorrelateOptions) };
  checkInRange(`${where} decorrelate`, 'kappa', d.kappa, 0, 1);
  checkPositive(`${where} decorrelate`, 'learningRate', d.learningRate);
  checkInRange(`${where} decorrelate`, 'sample', d.sample, Number.MIN_VALUE, 1);
  check(typeof d.centre === 'boolean', () => `${where} decorrelate: centre must be true or false, got ${show(d.centre)}`);
  checkInRange(`${where} decorrelate`, 'meanRate', d.meanRate, Number.MIN_VALUE, 1);
  return d;
}

/** The names R and μ take in a layer's params. */
export const DECORRELATION = 'decorrelation';
export const INPUT_MEAN = 'inputMean';

const dataId = (t: tf.Tensor) => (t as unknown as { dataId: object }).dataId;

/**
 * Adds R (identity) and μ (zeros) for P-dimensional input vectors to `params`, and returns the
 * layer's decorrelator. `weight` is the layer's weight variable (its fused form is cached).
 */
export function decorrelator(ctx: BuildContext, size: number, options: Decorrelate, params: Record<string, tf.Variable>, weight: tf.Variable): Decorrelator {
  const R = tf.tidy(() => tf.variable(tf.eye(size), false, ctx.varName(DECORRELATION)));
  params[DECORRELATION] = R;
  let mean: tf.Variable | undefined;
  if (options.centre) mean = params[INPUT_MEAN] = tf.tidy(() => tf.variable(tf.zeros([size]), false, ctx.varName(INPUT_MEAN)));
  const flat = (w: tf.Tensor) => tf.reshape(w, [size, -1]);
  const product = (w: tf.Tensor) => tf.tidy(() => tf.reshape(tf.matMul(R, flat(w), true), w.shape));
  let cache: { keys: object[]; value: tf.Tensor } | undefined;
  const cached = () => {
    const keys = [dataId(weight), dataId(R), ...(mean ? [dataId(mean)] : [])];
    if (!cache || cache.keys.some((k, i) => k !== keys[i])) {
      cache?.value.dispose();
      cache = { keys, value: tf.keep(product(weight)) };
    }
    return cache.value;
  };
  // the cached product, recorded for autodiff as a function of W with gradient R ∂A
  const fused = tf.customGrad(((w: tf.Tensor) => ({
    value: cached().clone(),
    gradFunc: (dy: tf.Tensor) => tf.reshape(tf.matMul(R, flat(dy)), w.shape),
  })) as unknown as Parameters<typeof tf.customGrad>[0]);
  let budget = 0;
  const kept: tf.Tensor[] = [];
  return {
    options,
    R,
    ...(mean ? { mean } : {}),
    fuse: (w) => (w === weight ? fused(w) : product(w)),
    offset: (a) => (mean ? tf.tidy(() => tf.neg(tf.squeeze(tf.matMul(tf.expandDims(mean!, 0), flat(a)), [0]))) : undefined),
    weightGradient: (gA, gSum) =>
      tf.tidy(() => {
        const g = mean && gSum ? tf.sub(flat(gA), tf.outerProduct(mean as tf.Tensor1D, gSum as tf.Tensor1D)) : flat(gA);
        return tf.reshape(tf.matMul(R, g), gA.shape);
      }),
    capture(vectors, positions = 1, repeats = 1) {
      if (budget <= 0) return;
      const v = vectors();
      const rows = v.shape[0]!;
      // every `stride`-th row, until the rows of one pass over the batch are seen (a step-major
      // pass calls once per step; more passes over the same batch add nothing new); row i of the
      // repeated time-major rows is row i mod N of the vectors
      const stride = Math.max(1, Math.round(1 / options.sample));
      const picks = Int32Array.from({ length: Math.ceil((rows * repeats) / stride) }, (_, i) => (i * stride) % rows);
      kept.push(tf.keep(tf.tidy(() => tf.gather(v, tf.tensor1d(picks, 'int32')))));
      budget -= (rows * repeats) / positions;
      v.dispose();
    },
    arm(rows) {
      budget = rows;
      tf.dispose(kept.splice(0));
    },
    take() {
      if (!kept.length) return undefined;
      const all = kept.length === 1 ? kept[0]! : tf.concat(kept);
      if (kept.length > 1) tf.dispose(kept);
      kept.length = 0;
      return all;
    },
    dispose() {
      cache?.value.dispose();
      cache = undefined;
      tf.dispose(kept.splice(0));
    },
  };
}
