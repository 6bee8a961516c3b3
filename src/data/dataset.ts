/**
 * What a trainer reads: labelled samples that become input sequences `[B, T, …inputShape]`.
 * Images are encoded per batch (seeded, for rate coding); event and spike data are stored as
 * sequences already.
 */
import * as tf from '@tensorflow/tfjs';
import { check, checkOneOf } from '../core/errors.js';
import { rateEncode } from '../sim/encoders.js';
import type { ImageDataset } from './mnist.js';

export interface Dataset {
  readonly count: number;
  /** Class of each sample. */
  readonly labels: ArrayLike<number>;
  readonly classes: number;
  /** Input shape per step. */
  readonly inputShape: readonly number[];
  readonly steps: number;
  /** `[B, T, …inputShape]` input for the samples at `indices`; `seed` drives stochastic encodings. */
  batch(indices: ArrayLike<number>, seed: number): tf.Tensor;
  /**
   * Every step of a sample is the same (direct encoding of a static image): learners and the
   * simulator compute the first layer's currents once, not T times (see {@link Batch}).
   */
  readonly constantInTime?: boolean;
}

/**
 * How images become input sequences: `rate` (Bernoulli spikes each step), `direct` (the
 * intensities as a constant current each step), `rows` (row t of the image at step t: T = rows).
 */
export const ENCODINGS = ['rate', 'direct', 'rows'] as const;
export type Encoding = (typeof ENCODINGS)[number];

/** Images as sequences of `steps` steps under `encoding`; `inputShape` must hold a step's values (default `[rows·cols]`). */
export function imageSequences(
  data: ImageDataset,
  o: { readonly steps: number; readonly encoding: Encoding; readonly inputShape?: readonly number[] },
): Dataset {
  checkOneOf('imageSequences', 'encoding', o.encoding, ENCODINGS);
  const pixels = data.rows * data.cols;
  const perStep = o.encoding === 'rows' ? data.cols : pixels;
  const inputShape = o.inputShape ?? [perStep];
  check(
    inputShape.reduce((a, b) => a * b, 1) === perStep,
    () =>
      `imageSequences: input shape ${inputShape.join('x')} does not hold the ${perStep} values per step of ${o.encoding} encoding of ${data.rows}x${data.cols} images`,
  );
  check(
    o.encoding !== 'rows' || o.steps === data.rows,
    () => `imageSequences: the rows encoding has one step per image row: steps must be ${data.rows}, got ${o.steps}`,
  );
  return {
    count: data.count,
    labels: data.labels,
    classes: data.classes,
    inputShape,
    steps: o.steps,
    constantInTime: o.encoding === 'direct',
    batch(indices, seed) {
      const buf = new Float32Array(indices.length * pixels);
      for (let i = 0; i < indices.length; i++) buf.set(data.images.subarray(indices[i]! * pixels, (indices[i]! + 1) * pixels), i * pixels);
      return tf.tidy(() => {
        const x = tf.tensor2d(buf, [indices.length, pixels]);
        const seq =
          o.encoding === 'rows'
            ? tf.reshape(x, [indices.length, data.rows, data.cols])
            : o.encoding === 'rate'
              ? rateEncode(x, o.steps, { seed })
              : tf.tile(tf.expandDims(x, 1), [1, o.steps, 1]);
        return tf.reshape(seq, [indices.length, o.steps, ...inputShape]);
      });
    },
  };
}

/** Stored sequences `[count, steps, …inputShape]` (row-major) with their labels. */
export function storedSequences(
  values: Float32Array,
  labels: ArrayLike<number>,
  o: { readonly steps: number; readonly inputShape: readonly number[]; readonly classes: number },
): Dataset {
  const per = o.steps * o.inputShape.reduce((a, b) => a * b, 1);
  check(
    values.length === labels.length * per,
    () => `storedSequences: ${values.length} values for ${labels.length} samples of ${o.steps} steps × ${o.inputShape.join('x')}`,
  );
  return {
    count: labels.length,
    labels,
    classes: o.classes,
    inputShape: o.inputShape,
    steps: o.steps,
    batch(indices) {
      const buf = new Float32Array(indices.length * per);
      for (let i = 0; i < indices.length; i++) buf.set(values.subarray(indices[i]! * per, (indices[i]! + 1) * per), i * per);
      return tf.tensor(buf, [indices.length, o.steps, ...o.inputShape]);
    },
  };
}

/** The samples of `data` at `indices` (a validation split, a limit). */
export function subset(data: Dataset, indices: Int32Array): Dataset {
  const labels = Int32Array.from(indices, (i) => data.labels[i]!);
  return {
    count: indices.length,
    labels,
    classes: data.classes,
    inputShape: data.inputShape,
    steps: data.steps,
    ...(data.constantInTime ? { constantInTime: true } : {}),
    batch: (idx, seed) =>
      data.batch(
        Int32Array.from({ length: idx.length }, (_, i) => indices[idx[i]!]!),
        seed,
      ),
  };
}
