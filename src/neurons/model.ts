/**
 * The shape of a neuron model plug-in. A model owns everything about its dynamics that any part of
 * spikelr needs (Norse's split of a functional core and its adjoint, one file per model):
 *
 * - its parameter record: defaults, validation, the record read back from files and configs;
 * - its state: the initial state, the recordable fields, the step `(I_t, state_{t−1}) → state_t`;
 * - how it fires, without noise and with escape noise;
 * - with the sampled spikes held fixed, its **reverse filter** (the adjoint recursion of DESIGN.md
 *   §2, what an LR learner needs) and its **tangent step** (forward mode: how a perturbation of the
 *   input current, the state or a coefficient moves the next state, the spike taking the
 *   surrogate's derivative — what a forward-gradient learner needs).
 *
 * A learner asks the model; it never switches on the model's kind. Registered in `registry.ts`.
 */
import type * as tf from '@tensorflow/tfjs';
import type { EscapeNoise } from './noise.js';
import type { Surrogate } from './surrogate.js';
import type { NirNode } from './nir.js';
import type { NirNeuronContext } from './nir.js';

/** A number or a tensor broadcastable against the state (per-neuron coefficients). */
export type Coef = number | tf.Tensor;

/** Spikes (float32 0/1, shape of `membrane`) at step `t`. */
export type Fire = (membrane: tf.Tensor, threshold: Coef, t: number) => tf.Tensor;

/**
 * A population's state after step t, every tensor `[B, …N]`: `membrane` (u_t, before the reset
 * that s_t will cause) and `spikes` (s_t; a readout's stay zero) always, and the model's own
 * fields (`synaptic`, `adaptation`, `threshold`, `refractory`, an equation neuron's variables).
 */
export interface NeuronState {
  readonly membrane: tf.Tensor;
  readonly spikes: tf.Tensor;
  readonly [field: string]: tf.Tensor | undefined;
}

/**
 * Per-layer values that override the record's numbers: learned per-neuron coefficients (tensors
 * broadcastable against the state, `[N]` for a dense layer, `[C]` for a conv layer, keyed by the
 * parameter's name: `beta`, `threshold`, an equation neuron's parameters), and a GRU's recurrent
 * weights `recurrent` `[U, 3U]` and bias `recurrentBias` `[3U]`.
 */
export type Coefficients = Readonly<Record<string, Coef | undefined>>;

/** What a model's reverse filter reads of the forward pass: fields per step, `[rows, …N]`. */
export interface AdjointTrace {
  /** The stored field at step t; zeros before the first step (t = −1). */
  at(field: string, t: number): tf.Tensor;
  /** Whether the forward pass stored `field`. */
  has(field: string): boolean;
}

/** One step of the reverse filter, run for t = T − 1 down to 0. */
export interface AdjointStep {
  /** ∂(weighted log-probability)/∂I_t: what the layer's map turns into weight gradients. */
  readonly current: tf.Tensor;
  /** ∂/∂ of the recurrent input, where it enters otherwise than added to I_t (a GRU's gates). */
  readonly recurrent?: tf.Tensor;
  /** What step t − 1 needs (the membrane adjoint λ_t, …); the caller keeps and frees it. */
  readonly carry: readonly tf.Tensor[];
  /** Per-row terms of learned coefficients' gradients, keyed by name; summed over rows and steps. */
  readonly coefficients: Readonly<Record<string, tf.Tensor>>;
}

export interface AdjointInput {
  /** Step t. */
  readonly t: number;
  /** The loss-weighted score of step t's firing, `[rows, …N]` (zero where nothing was decided). */
  readonly seed: tf.Tensor;
  readonly trace: AdjointTrace;
  /** The carry of step t + 1, undefined at the last step. */
  readonly carry: readonly tf.Tensor[] | undefined;
  /** Learned coefficients (and a GRU's recurrent weights). */
  readonly coefficients: Coefficients;
  /** Names of the coefficients being learned. */
  readonly learned: ReadonlySet<string>;
}

/** Forward-mode inputs of one step: the primal values and their tangents. */
export interface TangentInput {
  readonly t: number;
  /** I_t and its tangent. */
  readonly current: tf.Tensor;
  readonly dCurrent: tf.Tensor;
  /** state_{t−1}, its tangent (missing fields are zero), and state_t from the primal step. */
  readonly previous: NeuronState;
  readonly dPrevious: Readonly<Record<string, tf.Tensor | undefined>>;
  readonly next: NeuronState;
  readonly coefficients: Coefficients;
  /** Tangents of the coefficients (of learned ones and a GRU's recurrent weights); absent: zero. */
  readonly dCoefficients: Readonly<Record<string, tf.Tensor | undefined>>;
  /** S'(x), the surrogate derivative of the spike at x = v − ϑ. */
  readonly derivative: (x: tf.Tensor) => tf.Tensor;
}

/**
 * What a model does in a network. `spiking`: fires by a threshold crossing — escape noise, spike
 * score, surrogate gradient; `analog`: a unit whose output is perturbed by noise σε (noise score);
 * `readout`: non-spiking, noise-free, its membrane is the layer's output.
 */
export type Role = 'spiking' | 'analog' | 'readout';

export interface NeuronModel<P extends { readonly kind: string }> {
  readonly kind: P['kind'];
  readonly role: Role;
  /** Validates a record from a file or config (without its `kind`); errors name the key. */
  fromRecord(options: Readonly<Record<string, unknown>>, where: string): P;
  /** The model from the command line's common settings (`--neuron KIND --beta --threshold --reset`), if it takes them. */
  preset?(o: { readonly beta: number; readonly threshold: number; readonly reset: 'subtract' | 'zero' | 'none' }): P;
  /** State fields besides `membrane` and `spikes`, all recordable by `run(…, { record })`. */
  fields(p: P): readonly string[];
  /** Coefficients a layer may learn per neuron, with their initial values (from the record). */
  learnable(p: P): Readonly<Record<string, number>>;
  /** Valid ranges of learned coefficients, enforced after each update (`minThreshold`: the least threshold). */
  bounds?(p: P, minThreshold: number): Readonly<Record<string, readonly [number, number]>>;
  initialState(p: P, shape: readonly number[]): NeuronState;
  /** state_t from I_t and state_{t−1}; pure (never disposes its inputs). */
  step(current: tf.Tensor, state: NeuronState, p: P, fire: Fire, t: number, c: Coefficients): NeuronState;
  /** How it fires: deterministically, or with escape noise from stream `key` (`scale`: a learned log σ). */
  fire(p: P, noise: EscapeNoise | undefined, key: number, scale?: tf.Tensor): Fire;
  /** 1 where step t's firing is a decision of the neuron (0 where it is forced: refractory), from state_{t−1}. */
  decides?(p: P, previous: NeuronState): tf.Tensor | undefined;
  /** State fields the reverse filter reads besides `spikes` (stored per step by an LR forward pass). */
  adjointFields(p: P, learned: ReadonlySet<string>): readonly string[];
  adjoint(p: P, input: AdjointInput): AdjointStep;
  /** Tangent of state_t (missing fields: zero). */
  tangent(p: P, input: TangentInput): Record<string, tf.Tensor>;
  /**
   * A fused step with escape noise, for LR's forward pass: state_t (its spikes drawn from
   * `uniforms` as `fire` would, s = H(U + p − 1)) and, with `score`, the spike score, from one
   * kernel — or undefined where the model has none for this configuration or backend (the caller
   * then runs `step` with `fire` and scores separately).
   */
  fusedNoisyStep?(
    p: P,
    o: FusedNoisyOptions,
  ): ((current: tf.Tensor, state: NeuronState, uniforms: tf.Tensor) => { readonly state: NeuronState; readonly score?: tf.Tensor }) | undefined;
  /**
   * One step of the reverse filter fused with LR's weighting of the seed and the copies' sum of the
   * current adjoint: `(score ψ_t, row weights or undefined, λ_{t+1} or undefined, input rows) →
   * { λ_t (the carry, which is also the current's adjoint), Σ over copies }` — or undefined where
   * the model has none for this configuration (learned coefficients, gates) or backend.
   */
  fusedAdjoint?(
    p: P,
    o: { readonly learned: ReadonlySet<string>; readonly coefficients: Coefficients; readonly gated: boolean },
  ):
    | ((
        seed: tf.Tensor,
        weights: tf.Tensor | undefined,
        next: tf.Tensor | undefined,
        inputRows: number,
      ) => { readonly lambda: tf.Tensor; readonly contracted: tf.Tensor })
    | undefined;
  /**
   * The whole time loop from rest as one differentiable op for surrogate-gradient BPTT: spikes
   * `[T, …]` from currents `[T, …]`, their gradient the one autodiff of `step` gives with the
   * spike's surrogate derivative (`detachReset`: with the previous spike a constant in the state
   * update) — or undefined where the model has none for this configuration (learned coefficients,
   * refractory gates) or backend (BPTT then unrolls `step`). With `recurrent` (V `[N, N]`), the
   * current of step t is `currents[t] + s_{t−1} V`, V's gradient included; a model that cannot
   * run such a loop returns undefined.
   */
  surrogateSequence?(
    p: P,
    o: { readonly coefficients: Coefficients; readonly recurrent?: tf.Tensor },
  ): ((currents: tf.Tensor, surrogate: Surrogate, gradient: SequenceGradient) => tf.Tensor) | undefined;
  /**
   * For a model whose output is linear in its current from rest (a leaky readout): the weights v_τ
   * of the output's mean over `steps` steps, mean_t y_t = Σ_τ v_τ I_τ. Absent: not linear.
   */
  meanWeights?(p: P, steps: number): Float64Array;
  /** Its NIR neuron node (export, src/sim/nir); absent: NIR has no primitive for it, and export refuses it. */
  nir?(p: P, c: NirNeuronContext): NirNode;
}

/** Which paths the gradient of a {@link NeuronModel.surrogateSequence} follows. */
export interface SequenceGradient {
  /** The previous spike enters the neuron's own update (its reset) as a constant. */
  readonly detachReset: boolean;
  /** With `recurrent`: at most this many passes through V (BPTTConfig.recurrentHops); absent, all. */
  readonly recurrentHops?: number;
}

/** What a fused noisy step is asked for ({@link NeuronModel.fusedNoisyStep}). */
export interface FusedNoisyOptions {
  readonly noise: EscapeNoise;
  /** Also the spike score ψ (LR training; not the noise score). */
  readonly score: boolean;
  readonly coefficients: Coefficients;
}

/** Every tensor a state holds (for disposal). */
export function stateTensors(state: NeuronState): tf.Tensor[] {
  return Object.values(state).filter((t): t is tf.Tensor => t !== undefined);
}
