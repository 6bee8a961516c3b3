/**
 * Firing-rate regularisers, added to a loss per row, usable by LR and BPTT alike. With r_n the
 * firing rate of neuron n over the T steps of one row (mean of its spikes):
 *   rate:     λ · mean_n (r_n − target)²   (keeps each neuron near a target rate)
 *   sparsity: λ · mean_n r_n               (fewer spikes; snnTorch's l1 rate sparsity, per neuron)
 * A regulariser applies to the hidden spiking layers it names (default: all of them). For LR the
 * penalty is part of each copy's loss, a function of the copy's sampled spikes: the estimator stays
 * unbiased for the regularised objective. LR sees the spikes of the layers it injects noise into.
 */
import * as tf from '@tensorflow/tfjs';
import { checkInRange, checkKeys, checkOneOf, checkPositive } from '../core/errors.js';
import { sameMarks, type RowLoss } from './losses.js';

export const REGULARIZERS = ['rate', 'sparsity'] as const;

export interface RateRegularizer {
  readonly kind: (typeof REGULARIZERS)[number];
  /** λ. */
  readonly weight: number;
  /** Target rate per step (kind 'rate'). */
  readonly target?: number;
  /** Layer names (default: every hidden spiking layer). */
  readonly layers?: readonly string[];
}

export function rateRegularizer(o: { readonly weight: number; readonly target: number; readonly layers?: readonly string[] }): RateRegularizer {
  checkKeys('rateRegularizer', o, ['weight', 'target', 'layers']);
  checkPositive('rateRegularizer', 'weight', o.weight);
  checkInRange('rateRegularizer', 'target', o.target, 0, 1);
  return { kind: 'rate', ...o };
}

export function sparsityRegularizer(o: { readonly weight: number; readonly layers?: readonly string[] }): RateRegularizer {
  checkKeys('sparsityRegularizer', o, ['weight', 'layers']);
  checkPositive('sparsityRegularizer', 'weight', o.weight);
  return { kind: 'sparsity', ...o };
}

/** A loss that carries regularisers; estimators add their penalty to each row's loss. */
export type RegularizedLoss = RowLoss & { readonly regularizers: readonly RateRegularizer[] };

export function regularized(loss: RowLoss, regularizers: readonly RateRegularizer[]): RowLoss {
  for (const r of regularizers) checkOneOf('regularized', 'regularizer kind', r.kind, REGULARIZERS);
  return sameMarks(
    loss,
    Object.assign((output: tf.Tensor, labels: tf.Tensor) => loss(output, labels), { regularizers }),
  );
}

export function regularizersOf(loss: RowLoss): readonly RateRegularizer[] {
  return (loss as Partial<RegularizedLoss>).regularizers ?? [];
}

/** Penalty per row `[R]` from the spikes `[T, R, N]` of named layers (undefined when nothing applies). */
export function ratePenalty(
  layers: readonly { readonly name: string; readonly spikes: tf.Tensor }[],
  regularizers: readonly RateRegularizer[],
): tf.Tensor | undefined {
  const terms: tf.Tensor[] = [];
  tf.tidy(() => {
    for (const r of regularizers) {
      for (const { name, spikes } of layers) {
        if (r.layers && !r.layers.includes(name)) continue;
        const rate = tf.reshape(tf.mean(spikes, 0), [spikes.shape[1]!, -1]); // [R, N]
        const per = r.kind === 'rate' ? tf.mean(tf.square(tf.sub(rate, r.target ?? 0)), -1) : tf.mean(rate, -1);
        terms.push(tf.keep(tf.mul(per, r.weight)));
      }
    }
  });
  if (terms.length === 0) return undefined;
  const total = tf.tidy(() => tf.addN(terms));
  tf.dispose(terms);
  return total;
}
