/**
 * What every gradient estimator is: given a network, a batch and a per-row loss, an estimate of the
 * loss's gradient for every trained variable. A method (`--method`) is an estimator with its
 * training recipe, registered in `registry.ts`.
 */
import type * as tf from '@tensorflow/tfjs';
import type { TrainConfig } from '../config.js';
import type { RowLoss } from '../losses.js';
import type { Network } from '../../sim/network.js';

export interface Batch {
  /** `[B, T, …input]`. */
  readonly input: tf.Tensor;
  /** `[B]` class indices (int32). */
  readonly labels: tf.Tensor;
  /**
   * Every step of the input is the same (a dataset's `constantInTime`): an estimator may
   * compute the first layer's currents once and its weight gradient as xᵀ Σ_t g_t, one product
   * instead of T. A promise about the values, not checked.
   */
  readonly constantInTime?: boolean;
}

export interface GradientEstimate {
  /** One gradient per trained variable, keyed by the variable. */
  readonly gradients: Map<tf.Variable, tf.Tensor>;
  /** Mean loss over copies and samples (with noise). */
  readonly loss: number;
  dispose(): void;
}

export interface EstimateOptions {
  /** Multiplies σ of every layer's noise for this estimate (a σ schedule). */
  readonly sigmaScale?: number;
}

export interface Estimator {
  readonly name: string;
  estimate(net: Network, batch: Batch, loss: RowLoss, seed?: number, options?: EstimateOptions): GradientEstimate;
}

/** A training method: its estimator built from a training config, and its recipe's defaults. */
export interface Method {
  readonly name: string;
  /** One line for `--help` and the docs. */
  readonly description: string;
  /** The method's recipe: the keys it sets over the common defaults (each the recipe of its recorded result). */
  readonly defaults: Partial<TrainConfig>;
  /**
   * The config key holding the number of random samples one estimate averages (LR's noise copies,
   * FG's directions), for sweeps against K; absent for deterministic methods (BPTT).
   */
  readonly samples?: 'copies' | 'directions';
  /** The network it trains fires with the config's escape noise (LR): a deterministic export (NIR) is then an approximation to ask for. */
  readonly trainsWithNoise?: boolean;
  /** What the method asks of the loss, checked before a run starts: LR needs nothing, BPTT a derivative. */
  readonly needs?: (config: TrainConfig) => { readonly derivative: boolean; readonly instead: string };
  /**
   * The method trains blocks of a network with local heads on their own losses (absent: it cannot);
   * `auto`: the config's localLosses 'auto' turns them on for a network of two or more hidden layers.
   */
  readonly localLosses?: { readonly auto: boolean };
  estimator(config: TrainConfig): Estimator;
}
