/**
 * The shape of a layer-kind plug-in. A layer owns its map (input → currents, for any number of
 * rows at once), its local vector–Jacobian product for its own parameters (what LR and BPTT's local
 * pieces need) and its Jacobian–vector product (what forward-mode learners need). A learner asks
 * the layer; it never switches on the layer's kind. Registered in `registry.ts`.
 */
import type * as tf from '@tensorflow/tfjs';
import type { NeuronParams } from '../../neurons/registry.js';
import type { NirLayerContext, NirLayerExport } from './nir-types.js';

/** Gradients or tangents of a layer's parameters, keyed by parameter name. */
export type ParamTensors = Readonly<Record<string, tf.Tensor | undefined>>;

/** A built layer. Its parameters are tfjs variables owned by the network that built it. */
export interface Layer {
  readonly name: string;
  /** The spec it was built from (a `LayerSpec`; loosely typed here, as the specs' union is built from the kinds). */
  readonly spec: { readonly kind: string; readonly name?: string };
  readonly inputShape: readonly number[];
  readonly outputShape: readonly number[];
  /** Shape of the currents per sample and step, when it is not the output's (a GRU's 3 gates). */
  readonly currentShape?: readonly number[];
  /** The neuron model's parameters, or undefined for a stateless layer (pooling, flatten). */
  readonly neuron: NeuronParams | undefined;
  readonly params: Readonly<Record<string, tf.Variable>>;
  /** Names of the parameters of the feed-forward map (`weight`, `bias`), in {@link map}'s order. */
  readonly mapParams: readonly string[];
  /** The feed-forward map with explicit parameters, `[M, …inputShape] → [M, …currentShape]`: pure. */
  map(x: tf.Tensor, params: readonly tf.Tensor[]): tf.Tensor;
  /**
   * Feed-forward currents with the layer's own parameters, for any number of rows M. `repeats`
   * (default 1): each row stands for that many steps of a time-constant input, time-major (what a
   * layer that samples its inputs, a decorrelated one, counts).
   */
  currents(x: tf.Tensor, repeats?: number): tf.Tensor;
  /**
   * Local VJP of the map: the gradients of its parameters given its input `x` `[M, …in]` and the
   * adjoint `g` `[M, …current]` of its currents (fast paths live in the layer's file).
   */
  vjp(x: tf.Tensor, g: tf.Tensor): Record<string, tf.Tensor>;
  /** JVP of the map: the currents' tangent for an input tangent `dx` and parameter tangents (undefined: zero). */
  jvp?(x: tf.Tensor, dx: tf.Tensor | undefined, dParams: ParamTensors): tf.Tensor;
  /**
   * Parameter tangents made ready for many {@link jvp} calls (a step-major forward-mode pass calls it
   * every step with the same tangents): the result goes to jvp in place of `dParams`. A decorrelated
   * layer adds the fused tangent Rᵀ dW, one P×P×out product per pass rather than one per step; the
   * tensors it adds are the caller's to dispose.
   */
  prepareTangents?(dParams: ParamTensors): ParamTensors;
  /**
   * Per-neuron coefficients the neuron model reads (learned ones, by name, and a learned noise
   * scale `noiseScale`; a GRU's `recurrent` and `recurrentBias`). All are also in `params`.
   */
  readonly coefficients: Readonly<Record<string, tf.Variable | undefined>>;
  /** Names of the neuron coefficients the layer learns per neuron (`beta`, `threshold`, …; not the noise scale). */
  readonly learned: readonly string[];
  /**
   * `currents` is affine in its input and does nothing else (no input statistics sampled): the
   * currents of a weighted mean of inputs are the same weighted mean of their currents.
   */
  readonly affine?: boolean;
  /** The map mixes rows (a graph layer mixes the nodes of one sample), so a copy's rows share one loss weight. */
  readonly mixesRows?: boolean;
  /**
   * Parameters that are state, not trained (a decorrelated layer's R and input mean): saved,
   * checkpointed and handed to workers with the weights, never given a gradient by a learner.
   */
  readonly buffers?: readonly string[];
  /** The layer's input decorrelation, when it has one (updated by src/learning/decorrelation.ts). */
  readonly decorrelation?: Decorrelator;
  /** Fixed tensors the layer owns (a graph's normalised adjacency); freed with the network. */
  readonly constants?: Readonly<Record<string, tf.Variable>>;
  /**
   * A local head on the layer's time-mean output (its parameters `localWeight`, `localBias` are in
   * `params`): the layer ends a block trained on the head's loss (local-head.ts).
   */
  readonly localHead?: LocalHeadSpec;
  /** Recurrent currents from the previous step's output, `[B, …output] → [B, …current]`. */
  recurrentCurrents?(previous: tf.Tensor): tf.Tensor;
  /**
   * The matrix V `[N, N]` when the recurrent currents are exactly `previous · V` (no bias, a vector
   * layer): fused sequence ops (BPTT's recurrent LIF loop) run the recurrence themselves with it.
   */
  readonly recurrentWeight?: tf.Variable;
  /** VJP of the recurrent input for the recurrent parameters, one step: `previous` `[R, …out]`, `g` `[R, …current]`. */
  recurrentVjp?(previous: tf.Tensor, g: tf.Tensor): Record<string, tf.Tensor>;
  /** JVP of the recurrent currents, one step. */
  recurrentJvp?(previous: tf.Tensor, dPrevious: tf.Tensor | undefined, dParams: ParamTensors): tf.Tensor;
}

/** What a layer kind gets to build itself. */
export interface BuildContext {
  readonly name: string;
  /** `kind 'name'`, for messages. */
  readonly where: string;
  readonly inputShape: readonly number[];
  /** The counter-stream key of parameter slot `slot` (seeded from the network seed and layer index). */
  key(slot: number): number;
  /** The tfjs variable name of a parameter. */
  varName(param: string): string;
}

/** A layer kind: its spec's validation and how a spec is built into a {@link Layer}. */
export interface LayerKind<S extends { readonly kind: string }> {
  readonly kind: S['kind'];
  /** Validates a record from a file or config (its `neuron` already validated). */
  fromRecord(options: Readonly<Record<string, unknown>>): S;
  build(spec: S, ctx: BuildContext): Layer;
  /** How a built layer of this kind is written as NIR nodes (src/sim/nir); absent: export refuses it. */
  nir?(layer: Layer, c: NirLayerContext): NirLayerExport;
}

/** How a layer decorrelates its input. */
export interface DecorrelateOptions {
  /** Weight κ ∈ [0, 1] of the unit-variance term against the decorrelation term (default 0.5). */
  readonly kappa?: number;
  /** Learning rate η_R of R (default 1e-3). */
  readonly learningRate?: number;
  /** Fraction of the rows (samples × steps, or patches) R learns from each step (default 1/8). */
  readonly sample?: number;
  /** Subtract a running mean μ of the input first (default true: spike inputs have a non-zero mean). */
  readonly centre?: boolean;
  /** Rate of μ's running mean (default 0.1). */
  readonly meanRate?: number;
}

export type Decorrelate = Required<DecorrelateOptions>;

/** A decorrelated layer's R, μ and fused weight; built by {@link decorrelator}. */
export interface Decorrelator {
  readonly options: Decorrelate;
  /** `[P, P]`, P the input vector's size. */
  readonly R: tf.Variable;
  /** `[P]`, with centring. */
  readonly mean?: tf.Variable;
  /** The fused weight A = Rᵀ W for W `[…P-axes, out]` (its gradient reaches W as R ∂A). */
  fuse(w: tf.Tensor): tf.Tensor;
  /** −μ A `[out]` for a fused weight A (zero without centring). */
  offset(a: tf.Tensor): tf.Tensor | undefined;
  /** W's gradient from A's `gA` and the currents' adjoint summed to `[out]`: R (gA − μ ⊗ Σg). */
  weightGradient(gA: tf.Tensor, gSum: tf.Tensor | undefined): tf.Tensor;
  /**
   * While armed, keeps a strided sample (every 1/`sample`-th row) of the input vectors `[N, P]`
   * the layer sees; `positions` vectors per sample and step (a conv layer's output positions).
   * `repeats`: the vectors stand for that many steps each, time-major (a time-constant input given
   * once); the sample is the one the repeated rows would give.
   */
  capture(vectors: () => tf.Tensor, positions?: number, repeats?: number): void;
  /** Keeps samples from the next passes until `rows` sample-steps are seen (a batch's B·T); 0 stops and frees them. */
  arm(rows: number): void;
  /** The kept input vectors `[N, P]` (undefined when none), handed over: the caller disposes them. */
  take(): tf.Tensor | undefined;
  dispose(): void;
}

/** A layer's local head (local-head.ts): a linear readout of its time-mean output to the classes. */
export interface LocalHeadSpec {
  /** Classes of the head's output (the task's). */
  readonly classes: number;
}
