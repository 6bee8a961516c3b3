/**
 * The one time loop every neuron model runs in (multi-step mode, SpikingJelly's fast path), and the
 * one pass over a network's layers. The simulator, the monitors, LR's noisy forward pass, BPTT's
 * differentiable run and forward-mode passes all use these two, with hooks where they observe or
 * perturb; what is per-learner stays in the learner, what is per-neuron in the neuron model.
 *
 * The feed-forward currents of all T steps arrive precomputed (one matmul, DESIGN.md §4.1); only
 * the neuron recurrence, elementwise, loops over t. Each step's temporaries are freed before the
 * next; what is kept is only what a hook asked for.
 */
import * as tf from '@tensorflow/tfjs';
import { check } from '../core/errors.js';
import { stateTensors, type Coefficients, type Fire, type NeuronState } from '../neurons/model.js';
import { modelOf, type NeuronParams } from '../neurons/registry.js';
import { currentShapeOf } from './layers/registry.js';
import type { Layer } from './layers/types.js';
import { weightedSteps } from '../kernels/weighted-steps.js';

/** Swaps the first two axes: `[B, T, …]` ↔ `[T, B, …]`. */
export function swapBatchTime(x: tf.Tensor): tf.Tensor {
  return tf.transpose(x, [1, 0, ...x.shape.slice(2).map((_, i) => i + 2)]);
}

/** The first step of `[B, T, …shape]` input as rows `[B, …shape]` (an input constant in time). */
export function firstStepRows(input: tf.Tensor, shape: readonly number[]): tf.Tensor {
  return tf.tidy(() => tf.reshape(tf.slice(input, [0, 0], [-1, 1]), [input.shape[0]!, ...shape]));
}

/** `[B, T, …shape]` input as time-major rows `[T·B, …shape]`: step t is rows t·B … t·B + B − 1. */
export function timeMajorRows(input: tf.Tensor, shape: readonly number[]): tf.Tensor {
  return tf.tidy(() => tf.reshape(swapBatchTime(input), [input.shape[1]! * input.shape[0]!, ...shape]));
}

/** Disposes the tensors of `old` that `next` does not carry over and nobody kept. */
export function release(old: NeuronState, next: NeuronState, kept: ReadonlySet<tf.Tensor> = new Set()): void {
  const live = new Set(stateTensors(next));
  for (const t of stateTensors(old)) if (!live.has(t) && !kept.has(t)) t.dispose();
}

/** The dynamics one population runs: its model, coefficients and recurrent input. */
export interface Population {
  readonly neuron: NeuronParams;
  readonly coefficients?: Coefficients;
  /** Recurrent input added to step t's current, from the previous step's output (the state's `spikes`). */
  readonly recurrent?: (previous: tf.Tensor) => tf.Tensor;
}

/** The population a layer's neurons form; recurrent currents reshaped for any leading axes (copies). */
export function population(layer: Layer): Population {
  const rec = layer.recurrentCurrents;
  const out = layer.outputShape,
    cur = currentShapeOf(layer);
  return {
    neuron: layer.neuron!,
    coefficients: layer.coefficients as Coefficients,
    ...(rec
      ? {
          recurrent: (previous: tf.Tensor) => {
            const lead = previous.shape.slice(0, previous.rank - out.length);
            return tf.reshape(rec(tf.reshape(previous, [-1, ...out])), [...lead, ...cur]);
          },
        }
      : {}),
  };
}

/**
 * After step t: its input current (feed-forward plus recurrent), the state before and after.
 * Return the tensors to keep (not freed by the loop); the observer owns them.
 */
// biome-ignore lint/suspicious/noConfusingVoidType: an observer that keeps nothing is a plain side effect (returns nothing)
export type StepObserver = (t: number, input: tf.Tensor, previous: NeuronState, next: NeuronState) => readonly tf.Tensor[] | void;

export interface LoopOptions {
  readonly fire: Fire;
  /** Index of the first step, for the noise stream. */
  readonly firstStep?: number;
  /** Called before step t with the state before it (a learner reads what it needs, e.g. a refractory gate). */
  readonly before?: (t: number, previous: NeuronState) => void;
  readonly observe?: StepObserver;
  /** Inside autodiff: free nothing (the tape holds every step). */
  readonly tape?: boolean;
  /** A fused step (state_t from the total input current I_t and state_{t−1}) in place of the model's step and `fire`. */
  readonly step?: (input: tf.Tensor, state: NeuronState, t: number) => NeuronState;
}

/** One step of a population: the recurrent input added to `drive`, then the model's step (or a fused one). */
export function stepPopulation(
  pop: Population,
  drive: tf.Tensor,
  state: NeuronState,
  fire: Fire,
  t: number,
  fused?: LoopOptions['step'],
): { input: tf.Tensor; next: NeuronState } {
  const input = pop.recurrent ? tf.tidy(() => tf.add(drive, pop.recurrent!(state.spikes))) : drive;
  return { input, next: fused ? fused(input, state, t) : modelOf(pop.neuron).step(input, state, pop.neuron, fire, t, pop.coefficients ?? {}) };
}

/**
 * Runs a population over per-step drives (consumed, unless `tape`) from `state` (consumed) and
 * returns the last state (the caller owns it).
 */
export function timeLoop(pop: Population, drives: readonly tf.Tensor[], state: NeuronState, o: LoopOptions): NeuronState {
  const first = o.firstStep ?? 0;
  // what observers keep is theirs for good: never freed when a later step replaces it
  const kept = new Set<tf.Tensor>();
  for (let t = 0; t < drives.length; t++) {
    const drive = drives[t]!;
    o.before?.(t, state);
    const { input, next } = stepPopulation(pop, drive, state, o.fire, first + t, o.step);
    for (const k of o.observe?.(t, input, state, next) ?? []) kept.add(k);
    if (!o.tape) {
      if (!kept.has(input)) input.dispose();
      if (input !== drive && !kept.has(drive)) drive.dispose();
      release(state, next, kept);
    }
    state = next;
  }
  return state;
}

export interface SequenceOptions {
  /** Keep s_t for every step and return them stacked as `[T, B, …N]`. */
  readonly keepSpikes: boolean;
  /** Keep u_t for every step and return them stacked as `[T, B, …N]`. */
  readonly keepMembrane: boolean;
  /** Keep these state fields for every step (`synaptic`, `threshold`, …), stacked as `[T, B, …N]`. */
  readonly keepFields?: readonly string[];
  /** Recurrent input added to step t's current, from the previous step's spikes (`[B, …N]`). */
  readonly recurrent?: (previousSpikes: tf.Tensor) => tf.Tensor;
  /** Index of the first step, for the noise stream. */
  readonly firstStep?: number;
  /** Learnable per-neuron coefficients, overriding the record's numbers. */
  readonly coefficients?: Coefficients;
}

export interface SequenceResult {
  readonly spikes?: tf.Tensor;
  readonly membrane?: tf.Tensor;
  /** Stacked `keepFields`. */
  readonly fields: Readonly<Record<string, tf.Tensor>>;
  /** State after the last step; the caller owns it. */
  readonly state: NeuronState;
}

/**
 * Runs a population over `currents` (`[T, B, …N]`, not consumed; or one drive per step, consumed) from `state` (consumed), keeping
 * the state fields named in `fields` at every step, stacked as `[T, B, …N]` (the caller owns them
 * and the last state).
 */
export function runFields(
  pop: Population,
  currents: tf.Tensor | tf.Tensor[],
  state: NeuronState,
  fire: Fire,
  fields: readonly string[],
  firstStep?: number,
): { fields: Record<string, tf.Tensor>; state: NeuronState } {
  const kept: Record<string, tf.Tensor[]> = Object.fromEntries(fields.map((f) => [f, []]));
  const last = timeLoop(pop, Array.isArray(currents) ? currents : tf.unstack(currents), state, {
    fire,
    ...(firstStep !== undefined ? { firstStep } : {}),
    observe: (_t, _input, _previous, next) =>
      fields.map((f) => {
        const v = next[f]!;
        kept[f]!.push(v);
        return v;
      }),
  });
  const stacked: Record<string, tf.Tensor> = {};
  const live = new Set(stateTensors(last));
  for (const f of fields) {
    stacked[f] = tf.stack(kept[f]!);
    for (const t of kept[f]!) if (!live.has(t)) t.dispose();
  }
  return { fields: stacked, state: last };
}

/**
 * Runs `params`'s dynamics over `currents` (`[T, B, …N]`, not consumed) from `state` (consumed),
 * keeping the fields asked for.
 */
export function runSequence(params: NeuronParams, currents: tf.Tensor, state: NeuronState, fire: Fire, options: SequenceOptions): SequenceResult {
  const wanted = [...new Set([...(options.keepSpikes ? ['spikes'] : []), ...(options.keepMembrane ? ['membrane'] : []), ...(options.keepFields ?? [])])];
  const pop: Population = {
    neuron: params,
    ...(options.coefficients ? { coefficients: options.coefficients } : {}),
    ...(options.recurrent ? { recurrent: options.recurrent } : {}),
  };
  const r = runFields(pop, currents, state, fire, wanted, options.firstStep);
  const { spikes, membrane, ...fields } = r.fields;
  return { ...(options.keepSpikes ? { spikes: spikes! } : {}), ...(options.keepMembrane ? { membrane: membrane! } : {}), fields, state: r.state };
}

/** What a learner or the simulator does with one layer that has neurons. */
export interface LayerVisit {
  readonly layer: Layer;
  readonly index: number;
  readonly isLast: boolean;
  /** The layer's input as time-major rows `[T·rows, …in]`, or `[rows, …in]` when {@link constant}. */
  readonly input: tf.Tensor;
  readonly rows: number;
  /** The input is the same at every step and given once (the pass's `constantInput`, first layer with neurons). */
  readonly constant: boolean;
  /** Its feed-forward currents `[T, rows, …current]` (made on first use; freed by the pass). */
  readonly currents: tf.Tensor;
  /**
   * The same currents as one tensor per step `[rows, …current]`, owned by the caller (a time loop
   * consumes them); for a {@link constant} input, T handles on one tensor instead of T copies.
   */
  drives(): tf.Tensor[];
}

export interface VisitResult {
  /** The layer's output sequence `[T, rows', …out]` (owned by the pass from here on). */
  readonly output: tf.Tensor;
  /** Rows of the output when they differ from the input's (copies begin here). */
  readonly rows?: number;
  /** The visitor keeps the input (and frees it itself). */
  readonly keepInput?: boolean;
}

/**
 * The one pass over a network's layers: time-major rows in, each stateless layer (pooling,
 * flatten) mapped directly, each layer with neurons handed to `visit` with its currents. Returns the
 * last layer's output `[T, rows, …out]` and its rows. `tape`: inside autodiff, free nothing.
 * `constantInput`: every step of `input` is the same, so the layers up to the first with neurons
 * map one step's rows and that layer's currents are computed once and repeated over the T steps
 * (its visit sees `constant` and one step of input); for visitors that read only the currents, or
 * that know the form.
 */
export function passLayers(
  layers: readonly Layer[],
  inputShape: readonly number[],
  input: tf.Tensor,
  visit: (v: LayerVisit) => VisitResult,
  o: {
    readonly tape?: boolean;
    /** Sees each stateless layer's input and output rows (before the input is freed). */
    readonly mapped?: (layer: Layer, input: tf.Tensor, output: tf.Tensor) => void;
    readonly constantInput?: boolean;
    /** `input` is already time-major, `[T, rows, …inputShape]` (a previous stage's output), not `[B, T, …]`. */
    readonly timeMajor?: boolean;
  } = {},
): { output: tf.Tensor; rows: number } {
  const free = (t: tf.Tensor) => !o.tape && t.dispose();
  const steps = input.shape[o.timeMajor ? 0 : 1]!;
  let rows = input.shape[o.timeMajor ? 1 : 0]!;
  let constant = o.constantInput === true && steps > 1;
  check(!constant || o.mapped === undefined, () => 'passLayers: a constant input gives stateless layers one step of rows; the mapped hook expects T');
  check(!constant || !o.timeMajor, () => "passLayers: a time-major input is a previous stage's output, not a constant input");
  let x = o.timeMajor ? tf.reshape(input, [steps * rows, ...inputShape]) : constant ? firstStepRows(input, inputShape) : timeMajorRows(input, inputShape);
  let last: tf.Tensor | undefined;
  layers.forEach((layer, index) => {
    const isLast = index === layers.length - 1;
    const repeats = constant ? steps : 1;
    if (!layer.neuron) {
      const y = layer.currents(x, repeats);
      o.mapped?.(layer, x, y);
      free(x);
      x = y;
      return;
    }
    // on first use: a visitor may map the input otherwise (meanReadout)
    let flatCurrents: tf.Tensor | undefined;
    const input = x;
    const flat = () => (flatCurrents ??= layer.currents(input, repeats));
    const shape = [steps, rows, ...currentShapeOf(layer)];
    const isConstant = constant;
    let currents: tf.Tensor | undefined;
    const materialise = () => {
      if (currents) return currents;
      if (!isConstant) return (currents = tf.reshape(flat(), shape));
      // repeated as rank 3 (tfjs differentiates Tile up to rank 4; a conv layer's currents are rank 5)
      const once = tf.reshape(flat(), [1, rows, -1]);
      const repeated = tf.broadcastTo(once, [steps, rows, once.shape[2]!]);
      currents = tf.reshape(repeated, shape);
      free(once);
      free(repeated);
      return currents;
    };
    const r = visit({
      layer,
      index,
      isLast,
      input: x,
      rows,
      constant: isConstant,
      get currents() {
        return materialise();
      },
      drives: () => (isConstant ? Array.from({ length: steps }, () => tf.reshape(flat(), shape.slice(1))) : tf.unstack(materialise())),
    });
    constant = false;
    if (flatCurrents) free(flatCurrents);
    if (currents) free(currents);
    if (!r.keepInput) free(x);
    rows = r.rows ?? rows;
    if (isLast) last = r.output;
    else {
      x = tf.reshape(r.output, [steps * rows, ...layer.outputShape]);
      free(r.output);
    }
  });
  const output = last ?? tf.reshape(x, [steps, rows, ...layers[layers.length - 1]!.outputShape]);
  if (!last) free(x);
  return { output, rows };
}

/** The field a layer's neurons hand to the next layer: a readout's membrane, otherwise its spikes slot. */
export function outputField(neuron: NeuronParams): 'membrane' | 'spikes' {
  return modelOf(neuron).role === 'readout' ? 'membrane' : 'spikes';
}

/**
 * The mean over time of a readout's output from rest, as one step `[1, rows, …out]`, for a loss
 * that reads only that mean: when the neuron model is linear in its current (its `meanWeights` v_τ)
 * and the layer's map affine, mean_t y_t = Σ_τ v_τ (A x_τ + b) = c (A x̄ + b) with c = Σ_τ v_τ and
 * x̄ = Σ_τ v_τ x_τ / c — one map of the time-weighted input `x̄` `[rows, …in]` instead of T. `x` is the
 * layer's input as a pass gives it (`[T·rows, …in]`, or `[rows, …in]` when `constant`; x̄ is then
 * `x` itself). Undefined where this does not hold (the caller runs the T steps).
 */
export function meanReadout(
  layer: Layer,
  x: tf.Tensor,
  steps: number,
  rows: number,
  constant: boolean,
): { readonly output: tf.Tensor; readonly input: tf.Tensor; readonly scale: number } | undefined {
  const plan = meanReadoutPlan(layer, steps);
  if (!plan) return undefined;
  const input = constant ? x : tf.tidy(() => tf.reshape(weightedSteps(tf.reshape(x, [steps, -1]), plan.weights), [rows, ...x.shape.slice(1)]));
  return { output: meanReadoutOutput(layer, input, plan.scale), input, scale: plan.scale };
}

/**
 * {@link meanReadout}'s pieces, for a caller that forms x̄ itself (step by step, LR's time chunks):
 * the weights v_τ / c of x̄ and the scale c, or undefined where the readout's mean is not one map.
 */
export function meanReadoutPlan(layer: Layer, steps: number): { readonly weights: number[]; readonly scale: number } | undefined {
  const neuron = layer.neuron;
  const v =
    neuron && layer.affine && !layer.recurrentCurrents && Object.keys(layer.coefficients).length === 0
      ? modelOf(neuron).meanWeights?.(neuron, steps)
      : undefined;
  if (!v) return undefined;
  const scale = v.reduce((a, b) => a + b, 0);
  return { weights: Array.from(v, (x) => x / scale), scale };
}

/** The readout's time mean `[1, rows, …out]` from its time-weighted input x̄ `[rows, …in]` and the scale c. */
export function meanReadoutOutput(layer: Layer, input: tf.Tensor, scale: number): tf.Tensor {
  return tf.tidy(() => tf.reshape(tf.mul(scale, layer.currents(input)), [1, input.shape[0]!, ...layer.outputShape]));
}
