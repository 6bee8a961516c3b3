/**
 * The one time loop every neuron model runs in (multi-step mode, SpikingJelly's fast path).
 *
 * The feed-forward currents of all T steps arrive precomputed (one matmul, DESIGN.md §4.1); only
 * the neuron recurrence, elementwise, loops over t. Each step's temporaries are freed before the
 * next; what is kept is only what the caller asked for (the output sequence, recorded membranes).
 */
import * as tf from '@tensorflow/tfjs';
import { neuronStep, stateTensors, type Coefficients, type NeuronState } from '../neurons/dynamics.js';
import type { Fire } from '../neurons/firing.js';
import type { NeuronParams } from '../neurons/params.js';

export interface SequenceOptions {
  /** Keep s_t for every step and return them stacked as `[T, B, …N]`. */
  readonly keepSpikes: boolean;
  /** Keep u_t for every step and return them stacked as `[T, B, …N]`. */
  readonly keepMembrane: boolean;
  /** Recurrent input added to step t's current, from the previous step's spikes (`[B, …N]`). */
  readonly recurrent?: (previousSpikes: tf.Tensor) => tf.Tensor;
  /** Index of the first step, for the noise stream. */
  readonly firstStep?: number;
  /** Learnable per-neuron decay and threshold, overriding the record's numbers. */
  readonly coefficients?: Coefficients;
}

/** Swaps the first two axes: `[B, T, …]` ↔ `[T, B, …]`. */
export function swapBatchTime(x: tf.Tensor): tf.Tensor {
  return tf.transpose(x, [1, 0, ...x.shape.slice(2).map((_, i) => i + 2)]);
}

/** `[B, T, …shape]` input as time-major rows `[T·B, …shape]`: step t is rows t·B … t·B + B − 1. */
export function timeMajorRows(input: tf.Tensor, shape: readonly number[]): tf.Tensor {
  return tf.tidy(() => tf.reshape(swapBatchTime(input), [input.shape[1]! * input.shape[0]!, ...shape]));
}

export interface SequenceResult {
  readonly spikes?: tf.Tensor;
  readonly membrane?: tf.Tensor;
  /** State after the last step; the caller owns it. */
  readonly state: NeuronState;
}

/**
 * Runs `params`'s dynamics over `currents` (`[T, B, …N]`, not consumed) from `state`
 * (consumed: its tensors are disposed as they are replaced).
 */
export function runSequence(
  params: NeuronParams,
  currents: tf.Tensor,
  state: NeuronState,
  fire: Fire,
  options: SequenceOptions,
): SequenceResult {
  const steps = currents.shape[0]!;
  const spikes: tf.Tensor[] = [];
  const membranes: tf.Tensor[] = [];
  const kept = new Set<tf.Tensor>();
  const first = options.firstStep ?? 0;
  const drives = tf.unstack(currents);
  for (let t = 0; t < steps; t++) {
    const drive = drives[t]!;
    const input = options.recurrent ? tf.tidy(() => tf.add(drive, options.recurrent!(state.spikes))) : drive;
    const next = neuronStep(input, state, params, fire, first + t, options.coefficients);
    if (input !== drive) input.dispose();
    drive.dispose();
    if (options.keepSpikes) {
      spikes.push(next.spikes);
      kept.add(next.spikes);
    }
    if (options.keepMembrane) {
      membranes.push(next.membrane);
      kept.add(next.membrane);
    }
    release(state, next, kept);
    state = next;
  }
  const result = {
    spikes: options.keepSpikes ? tf.stack(spikes) : undefined,
    membrane: options.keepMembrane ? tf.stack(membranes) : undefined,
    state,
  };
  const live = new Set(stateTensors(state));
  for (const t of kept) if (!live.has(t)) t.dispose();
  return result;
}

/** Disposes the tensors of `old` that `next` does not carry over and nobody kept. */
export function release(old: NeuronState, next: NeuronState, kept: ReadonlySet<tf.Tensor> = new Set()): void {
  const live = new Set(stateTensors(next));
  for (const t of stateTensors(old)) if (!live.has(t) && !kept.has(t)) t.dispose();
}
