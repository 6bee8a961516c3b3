/**
 * What a local head (sim/layers/local-head.ts) gives a learner for one pass: its per-row
 * cross-entropy, the exact gradients of its own weights, and each row's credit ∂CE/∂s̄ for the
 * layer it reads.
 */
import * as tf from '@tensorflow/tfjs';
import { localHeadLogits, type Layer } from '../sim/layer.js';
import { crossEntropy } from './losses.js';

/** What a head gives its block for one pass: see {@link localHeadStep}. */
export interface LocalHeadStep {
  /** Each row's cross-entropy `[rows]`. */
  readonly losses: Float32Array;
  /** Exact gradients of the rows' mean cross-entropy for the head's own weights. */
  readonly gradients: Map<tf.Variable, tf.Tensor>;
  /** Each row's ∂CE_r/∂s̄ `[rows, …out]`: how the row's loss moves with each unit's mean output (the caller owns it). */
  readonly credit: tf.Tensor;
}

/**
 * A head's per-row losses, the exact gradients of their mean for its weights, and each row's
 * credit ∂CE_r/∂s̄ = W (softmax(z) − y), from its layer's time-mean output s̄ `[rows, …out]`:
 * with g_r = softmax(z_r) − y_r, ∂/∂W mean_r CE = s̄ᵀ g / R and ∂/∂b = Σ_r g_r / R.
 */
export function localHeadStep(layer: Layer, meanOutput: tf.Tensor, labels: tf.Tensor): LocalHeadStep {
  const [losses, dW, db, credit] = tf.tidy(() => {
    const logits = localHeadLogits(layer, meanOutput);
    const rows = logits.shape[0]!;
    const g = tf.sub(tf.softmax(logits), tf.oneHot(tf.cast(labels, 'int32'), logits.shape[1]!));
    const mean = tf.div(g, rows);
    const credit = tf.reshape(tf.matMul(g, layer.params['localWeight']!, false, true), meanOutput.shape);
    return [crossEntropy(logits, tf.cast(labels, 'int32')), tf.matMul(tf.reshape(meanOutput, [rows, -1]), mean, true), tf.sum(mean, 0), credit];
  });
  const values = losses.dataSync() as Float32Array;
  losses.dispose();
  return {
    losses: values,
    gradients: new Map([
      [layer.params['localWeight']!, dW],
      [layer.params['localBias']!, db],
    ]),
    credit: credit!,
  };
}
