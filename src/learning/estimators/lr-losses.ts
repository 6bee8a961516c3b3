/**
 * The per-row losses of an LR pass (the task loss plus the rate regularisers' penalty, checked
 * finite) and the row weights they give each noisy copy's scores, with the configured baseline.
 */
import * as tf from '@tensorflow/tfjs';
import type { Resolved } from './lr-config.js';
import { check, SpikelrError } from '../../core/errors.js';
import { modelOf } from '../../neurons/registry.js';
import type { Network } from '../../sim/network.js';
import type { CopyForward, LayerTrace } from '../forward.js';
import type { RowLoss } from '../losses.js';
import { ratePenalty, regularizersOf } from '../regularizers.js';
import type { CopyPlan } from '../sampling.js';
import { rowWeights } from './lr-gradients.js';

export interface PassResult {
  readonly gradients: Map<tf.Variable, tf.Tensor>;
  readonly loss: number;
}
/** The task loss per row plus the rate regularisers' penalty on the traced (noisy) hidden spiking layers. */
export function withPenalty(task: tf.Tensor, loss: RowLoss, traces: readonly LayerTrace[], outputIndex: number): tf.Tensor {
  if (regularizersOf(loss).length === 0) return task;
  const layers = traces
    .filter((t) => t.kind === 'lr' && t.index !== outputIndex && modelOf(t.layer.neuron!).role === 'spiking')
    .map((t) => ({ name: t.layer.name, spikes: tf.stack(t.fields['spikes']!) }));
  return plusPenalty(task, loss, layers);
}

/** `task` (freed) plus the rate regularisers' penalty on `layers`' spikes `[T, R, …]` (freed too). */
export function plusPenalty(task: tf.Tensor, loss: RowLoss, layers: readonly { readonly name: string; readonly spikes: tf.Tensor }[]): tf.Tensor {
  const penalty = ratePenalty(layers, regularizersOf(loss));
  tf.dispose(layers.map((l) => l.spikes));
  if (!penalty) return task;
  const total = tf.add(task, penalty);
  tf.dispose([task, penalty]);
  return total;
}

/** Per-row losses `[K·B]` of a pass (with the rate regularisers' penalty), checked finite, and their mean. */
export function rowLosses(
  fwd: CopyForward,
  loss: RowLoss,
  rowLabels: tf.Tensor,
  outputIndex: number,
): { readonly values: Float32Array; readonly mean: number } {
  return finiteLosses(withPenalty(loss(fwd.output, rowLabels), loss, fwd.traces, outputIndex));
}

/** Reads per-row losses (and frees them), checked finite, with their mean. */
export function finiteLosses(losses: tf.Tensor): { readonly values: Float32Array; readonly mean: number } {
  const values = losses.dataSync() as Float32Array;
  losses.dispose();
  check(values.every(Number.isFinite), () => 'lr: the loss is not finite for some copies; check the inputs and the learning rate');
  return { values, mean: values.reduce((a, b) => a + b, 0) / values.length };
}
/** The row weights of a pass's losses `[K·B]`, with its baseline. */
export function passWeights(net: Network, losses: Float32Array, c: Resolved, plan: CopyPlan, batch: number, cleanLoss: () => Float32Array): Float32Array {
  if (losses.length / batch < 2 && c.baseline !== 'noise-free')
    throw new SpikelrError('lr: one copy per sample needs the noise-free baseline; use copies >= 2');
  const noiseFree = c.baseline === 'noise-free' ? cleanLoss() : undefined;
  return rowWeights(losses, plan, batch, c.baseline, noiseFree, c.coupled ?? net.layers.some((l) => l.mixesRows === true));
}
