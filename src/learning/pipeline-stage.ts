/**
 * One stage of the layer pipeline ({@link pipelinedLR}): a contiguous range of a network's layers,
 * run for one micro-batch at a time, with what its LR gradient needs. The calling thread runs
 * stage 0 with this class and each worker thread (pipeline-worker.ts) one later stage; nothing
 * here knows about threads.
 *
 * Per micro-batch m of a batch of B samples: `forward` runs the stage's layers with noise from
 * the stream streamKey(seed, m) (each layer keyed by its place in the whole network, as the
 * single-thread estimator keys it), keeping its traces; the last stage turns the output into the
 * per-row losses and row weights, scaled by the micro-batch's share B_m/B, which every earlier
 * stage receives to form its layers' gradients (`backward`). Summed over the micro-batches that
 * is Σ_m (B_m/B)·ĝ_m, the batch-mean of the single-thread LR estimate of each micro-batch.
 */
import * as tf from '@tensorflow/tfjs';
import { disposeUnits, isStepped, type UnitWeights } from './unit-credit.js';
import type { EscapeNoise } from '../neurons/noise.js';
import type { Network } from '../sim/network.js';
import { streamKey } from '../core/random.js';
import { packSpikes, unpackSpikes } from '../kernels/spike-bits.js';
import { check } from '../core/errors.js';
import { blockEnds } from '../sim/layer.js';
import {
  blockGradients,
  copyLabels,
  headLayers,
  meanReadoutCredit,
  noisePerLayer,
  readoutGradients,
  rowLosses,
  rowWeights,
  type Resolved,
} from './estimators/lr.js';
import type { BlockOptions } from './estimators/lr-blocks.js';
import { copyForward, type CopyForward } from './forward.js';
import type { RowLoss } from './losses.js';
import { addInto } from './running-sum.js';
import { assignNamed, variablesByName, type NamedArrays } from './parallel.js';
import { parameterNames } from './trainer.js';

/** One step's work for a stage, sent by the calling thread. */
export interface StageTask {
  /** Counts estimates, so that a stage drops what a failed step left behind. */
  readonly step: number;
  /** The stage's layers `[from, to)`. */
  readonly layers: readonly [number, number];
  /** Sample bounds of the micro-batches: micro-batch m is samples bounds[m] … bounds[m+1] − 1. */
  readonly bounds: readonly number[];
  readonly seed: number;
  readonly sigmaScale: number;
  /** The batch's input is constant in time (stage 0 only reads it). */
  readonly constantInTime: boolean;
  /** The batch's labels (every stage's: the last stage's loss and the local heads read them). */
  readonly labels: Int32Array;
  /** The current values of the stage's parameters (workers only). */
  readonly params: NamedArrays;
}

/** A stage's output for one micro-batch, as it crosses to the next thread (shared memory). */
export interface Activation {
  readonly step: number;
  readonly m: number;
  /** `[T, rows, …out]`. */
  readonly shape: number[];
  /** 0/1 spikes packed 32 to a word (src/kernels/spike-bits.ts) when every value is 0 or 1, otherwise float32 values. */
  readonly bits?: Int32Array;
  readonly values?: Float32Array;
}

/** A worker stage's reply at the end of a step: its summed gradients (and, last, the loss), or why it failed. */
export type StageResult = { readonly step: number } & (
  | { readonly ok: true; readonly loss: number; readonly gradients: NamedArrays; readonly busyMs: number }
  | { readonly ok: false; readonly error: string }
);

/** What the network's loss gives the last block for micro-batch m, from the last stage to each earlier one. */
export interface RowWeights {
  readonly step: number;
  readonly m: number;
  /** Each row's weight `[K·B_m]`, times the micro-batch's share. */
  readonly weights: Float32Array;
  /**
   * Unit credit of the layer the readout reads by its mean, where an earlier stage holds it: `[K·B_m, …N]`
   * values (shared memory) — the weights, or with `timeWeights` a {@link UnitCredit}'s factor.
   */
  readonly units?: {
    readonly values: Float32Array;
    readonly shape: number[];
    readonly timeWeights?: readonly number[];
    readonly groups?: Int32Array;
  };
}

/**
 * A stage's output as it crosses to the next thread: spikes as bits (32× less to move than
 * float32) when every value is 0 or 1, otherwise the float32 values; either way in shared memory,
 * so that posting it copies nothing.
 */
export function packActivation(step: number, m: number, output: tf.Tensor): Activation {
  const words = packSpikes(output);
  if (words) {
    const bits = new Int32Array(new SharedArrayBuffer(words.length * 4));
    bits.set(words);
    return { step, m, shape: output.shape, bits };
  }
  const floats = output.dataSync() as Float32Array;
  const values = new Float32Array(new SharedArrayBuffer(floats.length * 4));
  values.set(floats);
  return { step, m, shape: output.shape, values };
}

/** The tensor an {@link Activation} carries. */
export function unpackActivation(a: Activation): tf.Tensor {
  return a.values ? tf.tensor(a.values, a.shape) : unpackSpikes(a.bits!, a.shape);
}

export class Stage {
  private task?: StageTask;
  private noise: (EscapeNoise | undefined)[] = [];
  private sums = new Map<tf.Variable, tf.Tensor>();
  private lossSum = 0;
  private readonly variables: Map<string, tf.Variable>;

  constructor(
    readonly net: Network,
    private readonly config: Resolved,
    private readonly loss: RowLoss,
  ) {
    this.variables = variablesByName(parameterNames(net));
  }

  /** Starts a step: the task's parameters set, the noise scaled, the running sums emptied. */
  begin(task: StageTask): void {
    this.reset();
    assignNamed(this.variables, task.params);
    this.task = task;
    this.noise = noisePerLayer(this.net, this.config, task.sigmaScale);
  }

  /** Samples in micro-batch m and its share of the batch. */
  private size(m: number): { samples: number; share: number } {
    const b = this.task!.bounds;
    const samples = b[m + 1]! - b[m]!;
    return { samples, share: samples / b[b.length - 1]! };
  }

  /** Runs the stage's layers on micro-batch m (stage 0: `[B_m, T, …]`; later stages: the previous stage's output). */
  forward(m: number, input: tf.Tensor): CopyForward {
    const t = this.task!;
    const c = this.config;
    const first = t.layers[0] === 0;
    const heads = headLayers(this.net).filter((h) => h >= t.layers[0] && h < t.layers[1]);
    return copyForward(this.net, input, {
      plan: c.plan,
      noise: this.noise,
      score: c.score,
      signScores: c.signScores,
      seed: streamKey(t.seed, m),
      train: true,
      layers: t.layers,
      constantInput: first && t.constantInTime,
      ...(first ? {} : { timeMajor: { batch: this.size(m).samples } }),
      meanOutput: this.loss.timeMean === true,
      ...(heads.length ? { taps: new Set(heads) } : {}),
    });
  }

  /**
   * Whether an earlier stage needs the last stage's weights: it holds a noisy layer of the last
   * block. Without one (every layer in a block with its own head) it forms its gradients as soon as
   * its forward pass is done.
   */
  waitsForLoss(): boolean {
    const [from, to] = this.task!.layers;
    const ends = blockEnds(this.net.layers);
    return this.noise.some((n, i) => n !== undefined && i >= from && i < to && ends[i]! < 0);
  }

  /** The options of {@link blockGradients} for micro-batch m. */
  private blocks(m: number): BlockOptions {
    const { samples, share } = this.size(m);
    const c = this.config;
    return {
      credit: c.localCredit,
      causal: c.causalCredit,
      plan: c.plan,
      batch: samples,
      trainHeads: true,
      scale: share,
      weightsOf: (l) => rowWeights(l, c.plan, samples, c.baseline, undefined, false).map((x) => x * share),
    };
  }

  private labels(m: number): tf.Tensor {
    const t = this.task!;
    return tf.tensor1d(t.labels.subarray(t.bounds[m]!, t.bounds[m + 1]!), 'int32');
  }

  /**
   * The last stage: the per-row losses of micro-batch m, what they give the last block (times the
   * micro-batch's share) for every stage, and its own layers' gradients added to the running sums. Frees `fwd`.
   */
  finish(m: number, fwd: CopyForward): Omit<RowWeights, 'step' | 'm'> {
    const c = this.config;
    const { samples, share } = this.size(m);
    const last = this.net.layers.length - 1;
    const labels = this.labels(m);
    const rowLabels = copyLabels(labels, fwd.rows / samples);
    let units: UnitWeights | undefined;
    try {
      const losses = rowLosses(fwd, this.loss, rowLabels, last);
      this.lossSum += share * losses.mean;
      const o = this.blocks(m);
      const weights = o.weightsOf(losses.values);
      units =
        c.localCredit !== 'loss' && this.noise[last - 1] !== undefined
          ? meanReadoutCredit(this.net, fwd, this.loss, rowLabels, c.plan, samples, share, c.localCredit === 'unit-all', c.causalCredit)
          : undefined;
      const final = { rows: weights, ...(units ? { units } : {}) };
      this.add(
        blockGradients(
          this.net,
          fwd,
          fwd.traces.filter((tr) => tr.kind === 'lr'),
          labels,
          o,
          () => final,
        ),
      );
      for (const tr of fwd.traces.filter((tr) => tr.kind === 'local')) this.add(readoutGradients(tr, fwd.output, this.loss, rowLabels, share));
      // the layer the readout reads is in an earlier stage: its unit weights cross in shared memory
      if (!units || this.task!.layers[0] <= last - 1) return { weights };
      const tensor = isStepped(units) ? units.factor : units;
      const values = new Float32Array(new SharedArrayBuffer(tensor.size * 4));
      values.set(tensor.dataSync() as Float32Array);
      const stepped = isStepped(units) ? { timeWeights: units.timeWeights, groups: units.groups } : {};
      return { weights, units: { values, shape: tensor.shape, ...stepped } };
    } finally {
      disposeUnits(units);
      tf.dispose([labels, rowLabels]);
      fwd.dispose();
    }
  }

  /**
   * An earlier stage: its layers' gradients of micro-batch m — the blocks with their own heads from
   * their losses, the last block's layers from the last stage's `weights` (undefined where the stage
   * {@link waitsForLoss} not). Frees `fwd`.
   */
  backward(m: number, fwd: CopyForward, weights: RowWeights | undefined): void {
    const labels = this.labels(m);
    const u = weights?.units;
    const tensor = u ? tf.tensor(u.values, u.shape) : undefined;
    const units: UnitWeights | undefined = u?.timeWeights ? { factor: tensor!, timeWeights: u.timeWeights, groups: u.groups! } : tensor;
    try {
      const traces = fwd.traces.filter((tr) => tr.kind === 'lr');
      this.add(
        blockGradients(this.net, fwd, traces, labels, this.blocks(m), () => {
          check(weights !== undefined, () => "pipeline: a stage of the last block ran before the last stage's weights came");
          return { rows: weights!.weights, ...(units ? { units } : {}) };
        }),
      );
    } finally {
      disposeUnits(units);
      labels.dispose();
      fwd.dispose();
    }
  }

  private add(gradients: Map<tf.Variable, tf.Tensor>): void {
    for (const [v, g] of gradients) this.sums.set(v, addInto(this.sums.get(v), g));
  }

  /** The step's summed gradients (the caller owns them) and the loss (the last stage's; 0 elsewhere). */
  take(): { gradients: Map<tf.Variable, tf.Tensor>; loss: number } {
    const out = { gradients: this.sums, loss: this.lossSum };
    this.sums = new Map();
    this.lossSum = 0;
    return out;
  }

  /** Drops a step's partial sums (after a failure). */
  reset(): void {
    tf.dispose([...this.sums.values()]);
    this.sums = new Map();
    this.lossSum = 0;
    this.task = undefined;
  }
}
