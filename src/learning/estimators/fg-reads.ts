/**
 * Forward gradients' local credit: the layers a linear read of their time mean takes (a local
 * head, or the readout read by its mean), and each row's derivative of its loss through that read,
 * from which activity perturbation takes a per-unit credit.
 */
import * as tf from '@tensorflow/tfjs';
import { addInto } from '../running-sum.js';
import { currentShapeOf } from '../../sim/layer.js';
import { localHeadStep } from '../local-heads.js';
import { meanReadoutOutput, meanReadoutPlan } from '../../sim/loop.js';
import type { Network } from '../../sim/network.js';
import type { RowLoss } from '../losses.js';
import type { Tap } from '../tangent-steps.js';
import { headLayers } from './lr-blocks.js';
/** A linear read of a layer's time mean: its time weights, and each row's credit ∂L_b/∂(weighted mean) with what else it gives. */
export interface LinearRead {
  readonly weights: number[];
  readonly credit: (sum: tf.Tensor, labels: tf.Tensor) => { readonly credit: tf.Tensor; readonly gradients?: Map<tf.Variable, tf.Tensor> };
}

/**
 * The layers a linear read of their time mean takes: each layer with a local head (the plain mean,
 * the head's cross-entropy, whose exact gradients train the head), and the layer before a readout
 * the loss reads by its mean (the readout's leak-weighted mean x̄, the network's loss through
 * c·(x̄ A + b); with unit credit only, as without it that read gives the row's total the network's
 * own derivative gives).
 */
export function linearReads(net: Network, loss: RowLoss, T: number, readout: boolean): Map<number, LinearRead> {
  const reads = new Map<number, LinearRead>();
  for (const h of headLayers(net)) {
    reads.set(h, {
      weights: new Array<number>(T).fill(1 / T),
      credit: (sum, labels) => {
        const step = localHeadStep(net.layers[h]!, sum, labels);
        return { credit: step.credit, gradients: step.gradients };
      },
    });
  }
  const last = net.layers.length - 1;
  const out = net.layers[last]!;
  const plan = readout && loss.timeMean && last > 0 && net.layers[last - 1]!.neuron && !reads.has(last - 1) ? meanReadoutPlan(out, T) : undefined;
  if (plan) {
    reads.set(last - 1, {
      weights: plan.weights,
      credit: (sum, labels) => ({ credit: tf.tidy(() => tf.grad((x: tf.Tensor) => tf.sum(loss(meanReadoutOutput(out, x, plan.scale), labels)))(sum)) }),
    });
  }
  return reads;
}

/**
 * Credit through a linear read for activity perturbation (Ren et al. 2022's local losses, LG-FG-A):
 * a direction u on a layer that a linear read of its time mean s̄ takes (a local head; the readout
 * read by its mean) stops there, and its derivative is the read's loss's along u:
 * ∂ℓ_b/∂u = Σ_j c_bj ∂s̄_bj/∂u with c_b = ∂ℓ_b/∂s̄_b the row's credit. A unit's output depends only
 * on its own currents (no recurrence), so with `perUnit` (unit credit) each unit takes its own term
 * c_bj ∂s̄_bj/∂u for its current's adjoint ≈ c_bj (∂s̄_bj/∂u) u_bj — the same expectation without
 * the other units' terms; otherwise, and in a recurrent layer (whose units drive each other) unless
 * `perUnit` is 'all' (approximated: the paths through the other units dropped), the
 * row's total. Replaces `scaled[j]` (the rows' derivatives over K) of each such direction by
 * `[B, …current]` weights, and adds the heads' exact gradients (of the mean over rows of their
 * cross-entropy) to `sums`.
 */
export function readDerivatives(
  net: Network,
  taps: ReadonlyMap<number, Tap>,
  reads: ReadonlyMap<number, LinearRead>,
  /** Unit credit: true (units that fire independently), 'all' (recurrent layers' units too: approximated), false (the row's total). */
  perUnit: boolean | 'all',
  labels: tf.Tensor,
  K: number,
  scaled: tf.Tensor[],
  sums: Map<tf.Variable, tf.Tensor>,
): void {
  for (const [i, tap] of taps) {
    const layer = net.layers[i]!;
    const B = tap.sum.shape[0]!;
    const read = reads.get(i)!.credit(tap.sum, labels);
    read.gradients?.forEach((g, v) => accumulate(sums, v, g));
    try {
      for (const [j, dMean] of tap.tangents) {
        const w = tf.tidy(() => {
          const units = tf.div(tf.mul(read.credit, dMean), B * K);
          const rows =
            !perUnit || (layer.recurrentCurrents && perUnit !== 'all')
              ? tf.reshape(tf.sum(tf.reshape(units, [B, -1]), 1), [B, ...currentShapeOf(layer).map(() => 1)])
              : units;
          return tf.broadcastTo(rows, [B, ...currentShapeOf(layer)]);
        });
        scaled[j]!.dispose();
        scaled[j] = w;
      }
    } finally {
      read.credit.dispose();
    }
  }
}

export function accumulate(sums: Map<tf.Variable, tf.Tensor>, v: tf.Variable, term: tf.Tensor): void {
  sums.set(v, addInto(sums.get(v), term));
}
