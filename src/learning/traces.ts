/**
 * What LR's forward pass (forward.ts) keeps for each trained layer, and what it is given: the
 * copies, the noise, the scores and the fields a reverse filter reads.
 */
import type * as tf from '@tensorflow/tfjs';
import type { AdjointTrace, NeuronState } from '../neurons/model.js';
import type { EscapeNoise } from '../neurons/noise.js';
import type { Layer } from '../sim/layer.js';
import { meanReadout } from '../sim/loop.js';
import type { CopyPlan } from './sampling.js';
export type ScoreKind = 'spike' | 'noise';

export interface LayerTrace {
  readonly layer: Layer;
  readonly index: number;
  /** 'lr': a noisy layer (seeds are scores); 'local': the deterministic readout. */
  readonly kind: 'lr' | 'local';
  /** The layer's input, time-major rows `[T·inputRows, …in]`, or `[inputRows, …in]` when {@link constantInput}. */
  readonly input: tf.Tensor;
  /** The input is the same at every step and stored once: its gradient is the VJP of Σ_t ĝ_t. */
  readonly constantInput: boolean;
  readonly inputRows: number;
  readonly rows: number;
  readonly steps: number;
  /**
   * Per step `[rows, …N]`: ψ_t for 'lr' layers with the spike score; filled with ∂L/∂u_t later for
   * 'local' ones. Empty when the seeds are regenerated from the noise stream ({@link regenerate}).
   */
  seeds: tf.Tensor[];
  /** Noise-score layers: recomputes step t's seed and σ-score from the counter stream, stores nothing. */
  readonly regenerate?: (t: number) => { readonly seed: tf.Tensor; readonly sigmaSeed?: tf.Tensor };
  /** Per step ∂ log p/∂ log σ (only when the noise scale is learned and seeds are stored). */
  readonly sigmaSeeds: tf.Tensor[];
  /**
   * State fields per step `[rows, …]`: `spikes` ('lr' layers), `open` (where firing was decided,
   * with a refractory period) and the fields the model's reverse filter reads.
   */
  readonly fields: Readonly<Record<string, tf.Tensor[]>>;
  /** The stored fields as the model's reverse filter reads them. */
  readonly trace: AdjointTrace;
  /** Names of the coefficients this layer learns (not the noise scale). */
  readonly learned: ReadonlySet<string>;
  /**
   * A readout traced as its time mean (one step whose input is the time-weighted input x̄,
   * {@link meanReadout}): its seeds, ∂L/∂(mean output), are multiplied by this to be its currents'.
   */
  readonly seedScale?: number;
  /** A readout traced as its time mean: the steps of the pass it is the mean of. */
  readonly meanSteps?: number;
}

export interface CopyForward {
  /** Output sequence `[T, rows, …C]` (readout membrane or last layer's spikes). */
  readonly output: tf.Tensor;
  readonly rows: number;
  readonly traces: LayerTrace[];
  /** Each layer's state after the last step, by layer index (with `chunk.keepStates`; the caller owns them). */
  readonly states: Map<number, NeuronState>;
  /** The time-mean output `[rows, …out]` of each layer in {@link CopyForwardOptions.taps}, by layer index (freed with the pass). */
  readonly taps: Map<number, tf.Tensor>;
  dispose(): void;
}

export interface CopyForwardOptions {
  readonly plan: CopyPlan;
  /** Noise for each layer index, undefined where the layer fires deterministically. */
  readonly noise: readonly (EscapeNoise | undefined)[];
  readonly score: ScoreKind;
  /** Sign-compress the scores (approximated LR). */
  readonly signScores: boolean;
  readonly seed: number;
  /** Record what the gradients of noisy layers and the readout need. */
  readonly train: boolean;
  /** Every step of the input is the same (passLayers' `constantInput`). */
  readonly constantInput?: boolean;
  /**
   * The loss reads only the output's mean over time: a readout that allows it outputs that mean
   * as one step (`[1, rows, …]`, {@link meanReadout}) instead of its T steps. Not with `chunk` (time
   * chunks sum the readout's input themselves, lr.ts `forwardChunks`).
   */
  readonly meanOutput?: boolean;
  /**
   * Run only layers `[from, to)` of the network (a stage of the layer pipeline); noise keys and
   * `noise` stay indexed by the layer's place in the whole network. Default: all layers.
   */
  readonly layers?: readonly [number, number];
  /** Layers (by index) whose output's mean over time the pass returns in {@link CopyForward.taps} (local heads read it). */
  readonly taps?: ReadonlySet<number>;
  /**
   * `input` is a previous stage's output, time-major `[T, rows, …]`, whose rows may already be
   * `copies × batch` (copy-major); `batch` then says how many samples there are.
   */
  readonly timeMajor?: { readonly batch: number };
  /**
   * A chunk of a longer run (lr.ts's time chunks): `input` holds steps `firstStep …` of the run
   * (the noise streams are indexed by the run's step), each layer starts from `states`' entry for
   * its index (consumed; absent: at rest), and `edges` gives the fields the reverse filter reads at
   * the step after the chunk (the first step of the next chunk), by layer index.
   */
  readonly chunk?: {
    readonly firstStep: number;
    readonly states?: ReadonlyMap<number, NeuronState>;
    readonly edges?: ReadonlyMap<number, Readonly<Record<string, tf.Tensor>>>;
    /** Return every layer's state after the chunk (the next chunk's start) in {@link CopyForward.states}. */
    readonly keepStates?: boolean;
    /** Sees each noisy spiking layer's spikes `[T, rows, …N]` (not owned; for rate regularisers). */
    readonly spikes?: (index: number, spikes: tf.Tensor) => void;
  };
}
