/**
 * Forward mode step by step (activity perturbation's pass): every layer advances one time step
 * before the next, carrying K tangents beside one shared primal state, so memory is flat in T; and
 * the directional derivatives of the loss it gives.
 */
import * as tf from '@tensorflow/tfjs';
import { layerDirections, lossTangents, noTangent, stepTangent, total } from './tangent.js';
import { check } from '../core/errors.js';
import { stateTensors, type NeuronModel, type NeuronState } from '../neurons/model.js';
import { modelOf, type NeuronParams } from '../neurons/registry.js';
import type { Surrogate } from '../neurons/surrogate.js';
import { firstStepRows, meanReadoutOutput, meanReadoutPlan, outputField, population, stepPopulation, swapBatchTime } from '../sim/loop.js';
import type { Network } from '../sim/network.js';
import type { Batch } from './estimators/types.js';
import type { RowLoss } from './losses.js';
import { addInto } from './running-sum.js';

/**
 * Forward mode step by step: all layers advance one time step before the next, carrying K
 * tangents (one per direction map) beside one shared primal state. Only the current step's state
 * and tangents are held, and the last layer's output sequence: memory is flat in T but for the
 * output the loss reads. Returns the output `[T, B, …out]` and its tangents `[K, T, B, …out]`.
 * `constantInput`: every step of `input` is the same, so the layers up to the first with neurons
 * compute their currents and the K tangents of those once, not once a step.
 */
export interface StepsOptions {
  readonly constantInput?: boolean;
  /**
   * Activity tangents: direction k's tangent gets `at(k, t)` `[B, …current]` added to layer
   * `layers[k]`'s feed-forward current tangent at every step t (−1: none); the caller owns it.
   */
  readonly currentTangents?: { readonly layers: readonly number[]; readonly at: (direction: number, t: number) => tf.Tensor };
  /**
   * Sees each layer with neurons at every step: its input rows `[B, …in]` (a time-constant input's
   * first layer: the same rows every step) and its output `[B, …out]`; runs inside the step's tidy,
   * so what it holds on to it keeps (tf.keep).
   */
  readonly observe?: (layer: number, t: number, input: tf.Tensor, output: tf.Tensor) => void;
  /**
   * Local losses: layer i → time weights w `[T]`; the result's `taps` holds Σ_t w_t out_t `[B, …out]`
   * of each such layer and, for each activity direction k on it, Σ_t w_t ∂out_t along k.
   */
  readonly taps?: ReadonlyMap<number, readonly number[]>;
  /** Activity directions whose tangent ends at their own layer (a block's end): nothing after it sees them. */
  readonly stops?: ReadonlySet<number>;
  /**
   * The last layer is a readout the loss reads by its time mean ({@link meanReadoutPlan}): it is not
   * stepped; its input's leak-weighted mean x̄ and each direction's tangent of it are summed instead,
   * and the output is the mean as one step, `[1, B, …out]` = c·(x̄ A + b), its tangents c·J(x̄; dx̄, dθ)
   * (exact: the map is affine in x̄ and in θ). The result's `readoutInput` is x̄.
   */
  readonly meanReadout?: { readonly weights: readonly number[]; readonly scale: number };
}

/**
 * The mean-readout plan of `net` for a step-major pass of `steps` steps, or undefined where the loss
 * does not read the output by its time mean, the readout's mean is not one map, or the readout is the
 * first layer with neurons (its input is then the network's own).
 */
export function stepsMeanReadout(net: Network, loss: RowLoss, steps: number): StepsOptions['meanReadout'] {
  const last = net.layers.length - 1;
  if (!loss.timeMean || last < 1 || !net.layers.slice(0, last).some((l) => l.neuron !== undefined)) return undefined;
  return meanReadoutPlan(net.layers[last]!, steps);
}

/** A tapped layer's weighted time sum and, by direction, its tangent (StepsOptions.taps). */
export interface Tap {
  readonly sum: tf.Tensor;
  readonly tangents: Map<number, tf.Tensor>;
}

export function tangentSteps(
  net: Network,
  input: tf.Tensor,
  directions: readonly ReadonlyMap<tf.Variable, tf.Tensor>[],
  surrogate: Surrogate,
  o: StepsOptions = {},
): { output: tf.Tensor; tangents: tf.Tensor; taps: Map<number, Tap>; readoutInput?: tf.Tensor } {
  const [batch, steps] = input.shape as [number, number];
  const K = directions.length;
  // the readout read by its mean: its input's weighted sum and the directions' tangents of it
  const meanAt = o.meanReadout ? net.layers.length - 1 : -1;
  let meanSum: tf.Tensor | undefined;
  const meanTangents: (tf.Tensor | undefined)[] = directions.map(() => undefined);
  // local losses' running sums: each tapped layer's weighted output, and each of its directions' tangents
  const tapSums = new Map<number, tf.Tensor>();
  const tapTangents = new Map<number, Map<number, tf.Tensor>>();
  const tapInto = (i: number, t: number, out: tf.Tensor, dOut: readonly (tf.Tensor | undefined)[]) => {
    const w = o.taps?.get(i)?.[t];
    if (w === undefined) return;
    tapSums.set(i, addInto(tapSums.get(i), tf.mul(w, out)));
    const tangents = tapTangents.get(i) ?? new Map<number, tf.Tensor>();
    tapTangents.set(i, tangents);
    o.currentTangents?.layers.forEach((layer, k) => {
      if (layer === i && dOut[k]) tangents.set(k, addInto(tangents.get(k), tf.mul(w, dOut[k]!)));
    });
  };
  const derivative = (x: tf.Tensor) => surrogate.derivative(x);
  for (const l of net.layers) check(l.jvp !== undefined, () => noTangent(l));
  // tangents in the form each layer's jvp takes them every step (a decorrelated layer fuses Rᵀ dW once)
  const perLayer = net.layers.map((l) =>
    directions.map((d) => {
      const p = layerDirections(l, d);
      return l.prepareTangents ? l.prepareTangents(p) : p;
    }),
  );
  const given = new Set(directions.flatMap((d) => [...d.values()]));
  const prepared = perLayer
    .flat()
    .flatMap((d) => Object.values(d))
    .filter((t): t is tf.Tensor => t !== undefined && !given.has(t));
  const pops = net.layers.map((l) => (l.neuron ? population(l) : undefined));
  const models = net.layers.map((l) => (l.neuron ? (modelOf(l.neuron) as NeuronModel<NeuronParams>) : undefined));
  const fires = net.layers.map((l, i) => (l.neuron ? models[i]!.fire(l.neuron, undefined, 0) : undefined));
  let states = net.layers.map((l, i) => (l.neuron ? models[i]!.initialState(l.neuron, [batch, ...l.outputShape]) : undefined));
  let tangents: Record<string, tf.Tensor>[][] = net.layers.map(() => directions.map(() => ({})));
  const outs: tf.Tensor[] = [],
    dOuts: tf.Tensor[][] = directions.map(() => []);
  const inShape = input.shape.slice(2);
  // a time-constant input: the first layer with neurons gets the same drive and tangents every step
  const first = o.constantInput === true && steps > 1 ? net.layers.findIndex((l) => l.neuron !== undefined) : -1;
  // a tangent is zero (undefined) while nothing has fed it: no input tangent, no parameter tangents here, no state tangent
  const mappedTangent = (i: number, k: number, x: tf.Tensor, dx: tf.Tensor | undefined) =>
    dx || Object.keys(perLayer[i]![k]!).length > 0 ? net.layers[i]!.jvp!(x, dx, perLayer[i]![k]!) : undefined;
  const fixed =
    first < 0
      ? undefined
      : tf.tidy(() => {
          let x = firstStepRows(input, inShape);
          let dx: (tf.Tensor | undefined)[] = directions.map(() => undefined);
          for (let i = 0; i < first; i++) {
            const layer = net.layers[i]!;
            dx = directions.map((_, k) => mappedTangent(i, k, x, dx[k]));
            x = layer.currents(x, steps);
          }
          const layer = net.layers[first]!;
          return { x, drive: layer.currents(x, steps), dDrive: directions.map((_, k) => mappedTangent(first, k, x, dx[k])) };
        });
  const fixedTangents = fixed ? fixed.dDrive.filter((d): d is tf.Tensor => d !== undefined) : [];
  // time-major, so that a step's input is one contiguous slice (the wasm Slice is then a view)
  const frames = fixed ? undefined : tf.tidy(() => swapBatchTime(input));
  for (let t = 0; t < steps; t++) {
    const step = tf.tidy(() => {
      // (with a constant input x is first set by the first layer with neurons, from its fixed drive)
      let x = frames ? tf.reshape(tf.slice(frames, [t, ...input.shape.slice(1).map(() => 0)], [1, batch, ...inShape]), [batch, ...inShape]) : fixed!.drive;
      let dx: (tf.Tensor | undefined)[] = directions.map(() => undefined);
      const nextStates: (NeuronState | undefined)[] = [],
        nextTangents: Record<string, tf.Tensor>[][] = [];
      net.layers.forEach((layer, i) => {
        if (i < first) {
          nextStates.push(undefined);
          nextTangents.push(directions.map(() => ({})));
          return;
        }
        const layerInput = i === first ? fixed!.x : x;
        if (i === meanAt) {
          const w = o.meanReadout!.weights[t]!;
          meanSum = addInto(meanSum, tf.mul(w, layerInput));
          dx.forEach((d, k) => {
            if (d) meanTangents[k] = addInto(meanTangents[k], tf.mul(w, d));
          });
          nextStates.push(undefined);
          nextTangents.push(directions.map(() => ({})));
          return;
        }
        const drive = i === first ? fixed!.drive.clone() : layer.currents(x);
        const dDrive = directions.map((_, k) => {
          const mapped = i === first ? fixed!.dDrive[k]?.clone() : mappedTangent(i, k, x, dx[k]);
          const extra = o.currentTangents?.layers[k] === i ? o.currentTangents.at(k, t) : undefined;
          return mapped && extra ? tf.add(mapped, extra) : (mapped ?? extra?.clone());
        });
        if (!layer.neuron) {
          x = drive;
          dx = dDrive;
          nextStates.push(undefined);
          nextTangents.push(directions.map(() => ({})));
          return;
        }
        const previous = states[i]!;
        const { input: current, next } = stepPopulation(pops[i]!, drive, previous, fires[i]!, t);
        const dNext = directions.map((_, k) => {
          const dPrevious = tangents[i]![k]!;
          if (!dDrive[k] && Object.keys(dPrevious).length === 0 && Object.keys(perLayer[i]![k]!).length === 0) return {};
          return stepTangent(layer, models[i]!, t, current, dDrive[k] ?? tf.zerosLike(drive), previous, dPrevious, next, perLayer[i]![k]!, derivative);
        });
        const field = outputField(layer.neuron);
        o.observe?.(i, t, layerInput, next[field]!);
        x = next[field]!;
        dx = dNext.map((d) => d[field]);
        tapInto(i, t, x, dx);
        // a direction that ends its block here reaches no later layer
        dx = dx.map((d, k) => (o.stops?.has(k) && o.currentTangents?.layers[k] === i ? undefined : d));
        nextStates.push(next);
        nextTangents.push(dNext);
      });
      if (meanAt >= 0) return { states: nextStates, tangents: nextTangents, out: undefined, dOut: [] };
      return { states: nextStates, tangents: nextTangents, out: x, dOut: dx.map((d) => d ?? tf.zerosLike(x)) };
    });
    // keep only the new step's state and tangents
    const keep = new Set<tf.Tensor>([...step.states.flatMap((s) => (s ? stateTensors(s) : [])), ...step.tangents.flat().flatMap((d) => Object.values(d))]);
    for (const s of states) if (s) for (const v of stateTensors(s)) if (!keep.has(v)) v.dispose();
    for (const d of tangents.flat()) for (const v of Object.values(d)) if (!keep.has(v)) v.dispose();
    states = step.states;
    tangents = step.tangents;
    if (step.out) outs.push(keep.has(step.out) ? step.out.clone() : step.out);
    step.dOut.forEach((d, k) => dOuts[k]!.push(keep.has(d) ? d.clone() : d));
  }
  frames?.dispose();
  if (fixed) tf.dispose([fixed.x, fixed.drive, ...fixedTangents]);
  // the readout's mean as one step, and its tangents (before the prepared parameter tangents go)
  const mean =
    meanSum &&
    tf.tidy(() => {
      const output = meanReadoutOutput(net.layers[meanAt]!, meanSum!, o.meanReadout!.scale);
      const one = (k: number) => {
        const d = mappedTangent(meanAt, k, meanSum!, meanTangents[k]);
        return d ? tf.reshape(tf.mul(o.meanReadout!.scale, d), output.shape) : tf.zerosLike(output);
      };
      return { output, tangents: K > 0 ? tf.stack(directions.map((_, k) => one(k))) : tf.zeros([0, ...output.shape]) };
    });
  tf.dispose(meanTangents.filter((t): t is tf.Tensor => t !== undefined));
  tf.dispose(prepared);
  for (const s of states) if (s) tf.dispose(stateTensors(s));
  tf.dispose(tangents.flat().flatMap((d) => Object.values(d)));
  const taps = new Map([...tapSums].map(([i, sum]) => [i, { sum, tangents: tapTangents.get(i)! }]));
  if (mean) return { ...mean, taps, readoutInput: meanSum! };
  const output = tf.stack(outs);
  const stacked = tf.tidy(() => (K > 0 ? tf.stack(dOuts.map((d) => tf.stack(d))) : tf.zeros([0, ...output.shape])));
  tf.dispose([...outs, ...dOuts.flat()]);
  return { output, tangents: stacked, taps };
}

/**
 * The mean loss and its directional derivatives along K direction maps, in one step-major pass
 * (memory flat in T): `derivatives[k]` = ∇L · v_k, `rows[k]` its split by sample.
 */
export function directionalDerivatives(
  net: Network,
  batch: Batch,
  loss: RowLoss,
  directions: readonly ReadonlyMap<tf.Variable, tf.Tensor>[],
  surrogate: Surrogate,
): { loss: number; derivatives: number[]; rows: Float32Array[] } {
  const meanReadout = stepsMeanReadout(net, loss, batch.input.shape[1]!);
  const { output, tangents, readoutInput } = tangentSteps(net, batch.input, directions, surrogate, {
    constantInput: batch.constantInTime === true,
    ...(meanReadout ? { meanReadout } : {}),
  });
  const r = lossTangents(output, tangents, loss, batch.labels);
  tf.dispose([output, tangents, ...(readoutInput ? [readoutInput] : [])]);
  return { loss: r.loss, derivatives: r.rows.map(total), rows: r.rows };
}
