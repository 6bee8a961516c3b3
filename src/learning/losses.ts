/**
 * Losses per row (one per copy of each sample), never reduced over rows: the LR estimator needs
 * each copy's own loss. Outputs are time-major `[T, R, C]`; labels `[R]` int32.
 */
import * as tf from '@tensorflow/tfjs';
import { checkOneOf } from '../errors.js';

export type RowLoss = (output: tf.Tensor, labels: tf.Tensor) => tf.Tensor;

export const MEMBRANE_REDUCTIONS = ['mean', 'max', 'last'] as const;
export type MembraneReduction = (typeof MEMBRANE_REDUCTIONS)[number];

function crossEntropy(logits: tf.Tensor, labels: tf.Tensor): tf.Tensor {
  const classes = logits.shape[logits.rank - 1]!;
  return tf.neg(tf.sum(tf.mul(tf.oneHot(labels, classes), tf.logSoftmax(logits)), -1));
}

/** Cross-entropy of the readout membrane reduced over time (mean, max or last step) as logits. */
export function membraneCrossEntropy(reduce: MembraneReduction = 'mean'): RowLoss {
  checkOneOf('membraneCrossEntropy', 'reduction', reduce, MEMBRANE_REDUCTIONS);
  return (output, labels) =>
    tf.tidy(() => {
      const logits = reduce === 'mean' ? tf.mean(output, 0) : reduce === 'max' ? tf.max(output, 0) : tf.squeeze(tf.slice(output, output.shape[0]! - 1, 1), [0]);
      return crossEntropy(logits, labels);
    });
}

/** Cross-entropy with spike counts over time as logits. */
export function countCrossEntropy(): RowLoss {
  return (output, labels) => tf.tidy(() => crossEntropy(tf.sum(output, 0), labels));
}

/**
 * Squared error of each output neuron's firing rate against a target rate: `correct` for the
 * label's neuron, `incorrect` for the others (snnTorch's mse_count_loss, as rates).
 */
export function rateSquaredError(correct = 0.8, incorrect = 0.2): RowLoss {
  return (output, labels) =>
    tf.tidy(() => {
      const rate = tf.mean(output, 0);
      const onehot = tf.oneHot(labels, rate.shape[rate.rank - 1]!);
      const target = tf.add(tf.mul(onehot, correct - incorrect), incorrect);
      return tf.sum(tf.square(tf.sub(rate, target)), -1);
    });
}

/** Predicted class per row: argmax over classes of the membrane mean, or of spike counts. */
export function predict(output: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.argMax(tf.sum(output, 0), -1));
}

/**
 * `loss` counted only on rows whose sample has mask 1 (semi-supervised node classification), scaled
 * so that the mean over rows is the mean over the masked samples. `mask` is `[B]`; rows of K copies
 * repeat it K times.
 */
export function maskedLoss(loss: RowLoss, mask: tf.Tensor): RowLoss {
  const count = tf.sum(mask).dataSync()[0]!;
  const batch = mask.shape[0]!;
  return (output, labels) =>
    tf.tidy(() => {
      const rows = labels.shape[0]!;
      const m = tf.tile(mask, [rows / batch]);
      return tf.mul(loss(output, labels), tf.mul(m, batch / Math.max(count, 1)));
    });
}
