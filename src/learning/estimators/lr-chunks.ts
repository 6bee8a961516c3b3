/**
 * LR in time chunks (`timeChunk`, gradient checkpointing): a first pass keeps the output and each
 * chunk's starting state, a second reruns the chunks last to first with their traces (the noise
 * regenerated from its counter stream), so memory holds T/C states and C steps of traces.
 */
import * as tf from '@tensorflow/tfjs';
import type { Resolved } from './lr-config.js';
import { finiteLosses, passWeights, plusPenalty, type PassResult } from './lr-losses.js';
import type { EscapeNoise } from '../../neurons/noise.js';
import { stateTensors, type NeuronState } from '../../neurons/model.js';
import { modelOf } from '../../neurons/registry.js';
import { meanReadoutOutput, meanReadoutPlan } from '../../sim/loop.js';
import { weightedSteps } from '../../kernels/weighted-steps.js';
import type { Network } from '../../sim/network.js';
import { copyForward, meanReadoutTrace, type CopyForwardOptions } from '../forward.js';
import { addInto } from '../running-sum.js';
import type { RowLoss } from '../losses.js';
import type { Batch } from './types.js';
import { regularizersOf } from '../regularizers.js';
import type { CopyPlan } from '../sampling.js';
import { copyLabels, layerGradients, readoutGradients, readoutSeeds } from './lr-gradients.js';

/** Steps `[first, first + length)` of a `[B, T, …]` input. */
export function stepsOf(input: tf.Tensor, first: number, length: number): tf.Tensor {
  return tf.slice(input, [0, first], [-1, length]);
}

export type ForwardOptions = Omit<CopyForwardOptions, 'chunk'>;

/**
 * The readout's time mean in chunks ({@link meanReadoutPlan}): the last layer, when the loss reads
 * only its mean and some layer before it has neurons (the chunks then run the layers before it).
 */
export function chunkMean(net: Network, steps: number, loss: RowLoss): { readonly weights: number[]; readonly scale: number } | undefined {
  const last = net.layers.length - 1;
  if (!loss.timeMean || !net.layers.slice(0, last).some((l) => l.neuron)) return undefined;
  return meanReadoutPlan(net.layers[last]!, steps);
}

/**
 * The first pass of a chunked run: the chunks in order, each from the state the one before left,
 * keeping the output `[T, rows, …]` and (`checkpoints`) every chunk's starting state; `spikes` sees
 * each noisy hidden spiking layer's spikes of each chunk. With `mean` (a readout read by its time
 * mean) the chunks run the layers before the readout and sum its time-weighted input x̄ step by step
 * (the bits of the one pass's sum): the output is the mean `[1, rows, …]`, and x̄ is returned too
 * (the caller owns it) for the readout's gradient.
 */
export function forwardChunks(
  net: Network,
  input: tf.Tensor,
  options: ForwardOptions,
  chunk: number,
  checkpoints: boolean,
  spikes?: (index: number, spikes: tf.Tensor) => void,
  mean?: { readonly weights: number[]; readonly scale: number },
): { output: tf.Tensor; starts: number[]; checkpoints: Map<number, NeuronState>[]; meanInput?: tf.Tensor } {
  const T = input.shape[1]!;
  const starts = Array.from({ length: Math.ceil(T / chunk) }, (_, i) => i * chunk);
  const outputs: tf.Tensor[] = [];
  const stored: Map<number, NeuronState>[] = [];
  const readout = net.layers.length - 1;
  let states: Map<number, NeuronState> | undefined;
  let sum: tf.Tensor | undefined,
    rows = 0;
  try {
    for (const first of starts) {
      // the forward pass consumes its starting states: the stored copies share their data
      if (checkpoints) stored.push(states ? new Map([...states].map(([i, s]) => [i, cloneState(s)])) : new Map());
      const length = Math.min(chunk, T - first);
      const x = stepsOf(input, first, length);
      const fwd = copyForward(net, x, {
        ...options,
        train: false,
        ...(mean ? { layers: [0, readout] as const } : {}),
        chunk: { firstStep: first, ...(states ? { states } : {}), keepStates: first + chunk < T, ...(spikes ? { spikes } : {}) },
      });
      x.dispose();
      // not training: the pass holds nothing else (no traces)
      states = fwd.states;
      if (!mean) {
        outputs.push(fwd.output);
        continue;
      }
      const previous = sum;
      sum = tf.tidy(() => weightedSteps(tf.reshape(fwd.output, [length, -1]), mean.weights.slice(first, first + length), previous));
      tf.dispose([fwd.output, ...(previous ? [previous] : [])]);
      rows = fwd.rows;
    }
    if (!mean) return { output: tf.concat(outputs, 0), starts, checkpoints: stored };
    const meanInput = tf.reshape(sum!, [rows, ...net.layers[readout]!.inputShape]);
    return { output: meanReadoutOutput(net.layers[readout]!, meanInput, mean.scale), starts, checkpoints: stored, meanInput };
  } catch (err) {
    stored.forEach(disposeStates);
    throw err;
  } finally {
    tf.dispose([...outputs, ...(sum ? [sum] : [])]);
    if (states) disposeStates(states);
  }
}

export function cloneState(state: NeuronState): NeuronState {
  return Object.fromEntries(Object.entries(state).map(([f, t]) => [f, t?.clone()])) as unknown as NeuronState;
}

export function disposeStates(states: ReadonlyMap<number, NeuronState>): void {
  for (const s of states.values()) tf.dispose(stateTensors(s));
}

/**
 * LR in time chunks (gradient checkpointing; the noise is regenerated from its counter stream,
 * never stored): the first pass keeps only the output and each chunk's starting state; the losses
 * give the row weights; the second pass reruns the chunks last to first from their states — the
 * same noise, so the same spikes — with their traces, and each layer's reverse filter carries its
 * adjoint from a chunk into the one before. The estimate is the one-pass estimate, summed in
 * another order.
 */
export function chunkedPass(
  net: Network,
  batch: Batch,
  loss: RowLoss,
  seed: number,
  c: Resolved,
  plan: CopyPlan,
  noise: readonly (EscapeNoise | undefined)[],
  which: 'lr' | 'local' | 'both',
  cleanLoss: () => Float32Array,
  chunk: number,
): PassResult {
  const { input, labels } = batch;
  const [B, T] = input.shape as [number, number];
  const options: ForwardOptions = { plan, noise, score: c.score, signScores: c.signScores, seed, train: false, constantInput: batch.constantInTime === true };
  // the rate regularisers read each noisy hidden layer's firing rate: summed chunk by chunk
  const counts = new Map<number, tf.Tensor>();
  const count = (index: number, spikes: tf.Tensor) => counts.set(index, addInto(counts.get(index), tf.sum(spikes, 0)));
  const mean = chunkMean(net, T, loss);
  const first = forwardChunks(net, input, options, chunk, true, regularizersOf(loss).length ? count : undefined, mean);
  const rows = first.output.shape[1]!;
  const rowLabels = copyLabels(labels, rows / B);
  const gradients = new Map<tf.Variable, tf.Tensor>();
  let weights: tf.Tensor | undefined, dOut: tf.Tensor | undefined;
  const carries = new Map<number, readonly tf.Tensor[] | undefined>();
  let edges = new Map<number, Record<string, tf.Tensor>>();
  try {
    // the counts as one step of mean rates [1, R, …]: the penalty's mean over time is then theirs
    const rates = [...counts].map(([index, n]) => ({ name: net.layers[index]!.name, spikes: tf.expandDims(tf.div(n, T), 0) }));
    const losses = finiteLosses(plusPenalty(loss(first.output, rowLabels), loss, rates));
    // the row weights and the readout's seeds before the second pass (whose traces then hold the most memory)
    const last = net.layers.length - 1;
    const trainsLR = which !== 'local' && noise.some((n, i) => n !== undefined && modelOf(net.layers[i]!.neuron!).role !== 'readout');
    if (trainsLR) weights = tf.tensor1d(passWeights(net, losses.values, c, plan, B, cleanLoss));
    const readout = net.layers[last]!;
    if (which !== 'lr' && first.meanInput) {
      // the readout read by its mean: the one pass's trace, its input the time-weighted x̄
      const trace = meanReadoutTrace(readout, last, first.meanInput, rows, mean!.scale);
      for (const [v, g] of readoutGradients(trace, first.output, loss, rowLabels)) gradients.set(v, g);
      tf.dispose(trace.seeds);
    } else if (which !== 'lr' && readout.neuron && modelOf(readout.neuron).role === 'readout') {
      dOut = readoutSeeds(readout.name, first.output, loss, rowLabels, 1);
    }
    for (let i = first.starts.length - 1; i >= 0; i--) {
      const start = first.starts[i]!,
        length = Math.min(chunk, T - start);
      const x = stepsOf(input, start, length);
      const states = first.checkpoints[i]!;
      first.checkpoints[i] = new Map();
      const fwd = copyForward(net, x, { ...options, train: true, ...(mean ? { layers: [0, last] as const } : {}), chunk: { firstStep: start, states, edges } });
      x.dispose();
      try {
        const next = new Map<number, Record<string, tf.Tensor>>();
        for (const tr of fwd.traces) {
          if (tr.kind === 'lr' ? which === 'local' : which === 'lr') continue;
          if (tr.kind === 'local') tr.seeds = tf.tidy(() => tf.unstack(tf.slice(dOut!, [start], [length])));
          const r = layerGradients(tr, tr.kind === 'lr' ? weights : undefined, carries.get(tr.index));
          carries.set(tr.index, r.carry);
          for (const [v, g] of r.gradients) gradients.set(v, addInto(gradients.get(v), g));
          // what the filter of the chunk before reads at its step T (this chunk's first)
          next.set(tr.index, Object.fromEntries(Object.entries(tr.fields).map(([f, list]) => [f, list[0]!.clone()])));
        }
        edges.forEach((e) => tf.dispose(Object.values(e)));
        edges = next;
      } finally {
        fwd.dispose();
      }
    }
    return { gradients, loss: losses.mean };
  } catch (err) {
    gradients.forEach((g) => g.dispose());
    throw err;
  } finally {
    first.checkpoints.forEach(disposeStates);
    carries.forEach((carry) => carry && tf.dispose([...carry]));
    edges.forEach((e) => tf.dispose(Object.values(e)));
    tf.dispose([
      first.output,
      rowLabels,
      ...counts.values(),
      ...(weights ? [weights] : []),
      ...(dOut ? [dOut] : []),
      ...(first.meanInput ? [first.meanInput] : []),
    ]);
  }
}
