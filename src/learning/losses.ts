/**
 * Losses per row (one per copy of each sample), never reduced over rows: the LR estimator needs
 * each copy's own loss. Outputs are time-major `[T, R, C]`; labels `[R]` int32.
 */
import * as tf from '@tensorflow/tfjs';
import { check, checkOneOf } from '../core/errors.js';

/**
 * `[T, R, C]` output and `[R]` labels to `[R]` losses; `differentiable: false` marks a loss with no
 * derivative, `timeMean: true` one that reads the output only through its mean over time (so it
 * gives the same on the one-step sequence of that mean, which learners may hand it instead).
 */
export type RowLoss = ((output: tf.Tensor, labels: tf.Tensor) => tf.Tensor) & { readonly differentiable?: false; readonly timeMean?: true };

/** `wrapped` (a loss built on `inner`, reading the output only through it) with `inner`'s marks. */
export function sameMarks<L extends RowLoss>(inner: RowLoss, wrapped: L): L {
  return Object.assign(wrapped, {
    ...(inner.differentiable === false ? { differentiable: false as const } : {}),
    ...(inner.timeMean ? { timeMean: true as const } : {}),
  });
}

/** `loss` marked as reading the output only through its mean over time. */
function timeMean(loss: RowLoss): RowLoss {
  return Object.assign(loss, { timeMean: true as const });
}

/**
 * Throws unless `loss` has a derivative: `who` (an estimator or attack that differentiates the
 * loss) is told what to use instead.
 */
export function checkDifferentiable(loss: RowLoss, who: string, instead: string): void {
  check(
    loss.differentiable !== false,
    () => `${who}: the loss has no derivative (the 0-1 loss is piecewise constant), so ${who} cannot differentiate it; ${instead}`,
  );
}

export const MEMBRANE_REDUCTIONS = ['mean', 'sum', 'max', 'last'] as const;
export type MembraneReduction = (typeof MEMBRANE_REDUCTIONS)[number];

/** Per-row cross-entropy `[…rows]` of logits `[…rows, C]` against integer labels `[…rows]`. */
export function crossEntropy(logits: tf.Tensor, labels: tf.Tensor): tf.Tensor {
  const classes = logits.shape[logits.rank - 1]!;
  return tf.neg(tf.sum(tf.mul(tf.oneHot(labels, classes), tf.logSoftmax(logits)), -1));
}

/** The membrane `[T, R, C]` reduced over time: mean, sum, max or the last step. */
function reduceTime(output: tf.Tensor, reduce: MembraneReduction): tf.Tensor {
  switch (reduce) {
    case 'mean':
      return tf.mean(output, 0);
    case 'sum':
      return tf.sum(output, 0);
    case 'max':
      return tf.max(output, 0);
    case 'last':
      return tf.squeeze(tf.slice(output, output.shape[0]! - 1, 1), [0]);
  }
}

/** Cross-entropy of the readout membrane reduced over time (mean, sum, max or last step) as logits. */
export function membraneCrossEntropy(reduce: MembraneReduction = 'mean'): RowLoss {
  checkOneOf('membraneCrossEntropy', 'reduction', reduce, MEMBRANE_REDUCTIONS);
  const loss: RowLoss = (output, labels) => tf.tidy(() => crossEntropy(reduceTime(output, reduce), labels));
  return reduce === 'mean' ? timeMean(loss) : loss;
}

/**
 * Squared error of the readout membrane reduced over time against `correct` for the label's class
 * and `incorrect` for the others, summed over classes.
 */
export function membraneSquaredError(reduce: MembraneReduction = 'mean', correct = 1, incorrect = 0): RowLoss {
  checkOneOf('membraneSquaredError', 'reduction', reduce, MEMBRANE_REDUCTIONS);
  const loss: RowLoss = (output, labels) => tf.tidy(() => squaredError(reduceTime(output, reduce), labels, correct, incorrect));
  return reduce === 'mean' ? timeMean(loss) : loss;
}

function squaredError(value: tf.Tensor, labels: tf.Tensor, correct: number, incorrect: number): tf.Tensor {
  const onehot = tf.oneHot(labels, value.shape[value.rank - 1]!);
  const target = tf.add(tf.mul(onehot, correct - incorrect), incorrect);
  return tf.sum(tf.square(tf.sub(value, target)), -1);
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
  return timeMean((output, labels) => tf.tidy(() => squaredError(tf.mean(output, 0), labels, correct, incorrect)));
}

/**
 * Squared error of each output neuron's spike count against `correct`·T for the label's neuron and
 * `incorrect`·T for the others (snnTorch's mse_count_loss).
 */
export function countSquaredError(correct = 0.8, incorrect = 0.2): RowLoss {
  return (output, labels) => {
    const steps = output.shape[0]!;
    return tf.tidy(() => squaredError(tf.sum(output, 0), labels, correct * steps, incorrect * steps));
  };
}

/** Predicted class per row: argmax over classes of the membrane mean, or of spike counts. */
export function predict(output: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.argMax(tf.sum(output, 0), -1));
}

/**
 * Predicted class per row by first spike: the output neuron that spiked earliest; ties (and rows
 * where none spiked) go to the neuron with the most spikes, then to the lowest index. `output` is
 * spikes `[T, R, C]`.
 */
export function predictFirstSpike(output: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const steps = output.shape[0]!;
    // step of the first spike (T when none): T − max_t (T − t)·s_t
    const remaining = tf.reshape(tf.range(steps, 0, -1), [steps, ...output.shape.slice(1).map(() => 1)]);
    const first = tf.sub(steps, tf.max(tf.mul(output, remaining), 0));
    // rank by first spike, then by count: the count (< T + 1) breaks ties within one step
    const counts = tf.sum(output, 0);
    return tf.argMax(tf.sub(tf.mul(tf.neg(first), steps + 1), tf.neg(counts)), -1);
  });
}

/**
 * The 0-1 loss: 1 where the predicted class ({@link predict}: the readout's membrane summed over
 * time) is wrong, 0 where right. Piecewise constant, so it has no useful derivative: LR estimates
 * the gradient of its expectation under the escape noise (the expected error rate), which no
 * surrogate or forward-mode method can; they reject it.
 */
export function zeroOneLoss(): RowLoss {
  const loss = (output: tf.Tensor, labels: tf.Tensor) => tf.tidy(() => tf.sub(1, tf.cast(tf.equal(predict(output), tf.cast(labels, 'int32')), 'float32')));
  return Object.assign(loss, { differentiable: false as const });
}

export const ACCURACY_KINDS = ['rate', 'first-spike'] as const;
export type AccuracyKind = (typeof ACCURACY_KINDS)[number];

/**
 * `loss` counted only on rows whose sample has mask 1 (semi-supervised node classification), scaled
 * so that the mean over rows is the mean over the masked samples. `mask` is `[B]`; rows of K copies
 * repeat it K times.
 */
export function maskedLoss(loss: RowLoss, mask: tf.Tensor): RowLoss {
  const count = tf.sum(mask).dataSync()[0]!;
  const batch = mask.shape[0]!;
  return sameMarks(loss, (output: tf.Tensor, labels: tf.Tensor) =>
    tf.tidy(() => {
      const rows = labels.shape[0]!;
      const m = tf.tile(mask, [rows / batch]);
      return tf.mul(loss(output, labels), tf.mul(m, batch / Math.max(count, 1)));
    }),
  );
}
