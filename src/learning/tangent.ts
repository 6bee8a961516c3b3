/**
 * Forward mode through a whole network: the output and its tangent along directions on the
 * parameters, carried step by step beside the state (no tape: memory does not grow with T). Each
 * layer contributes its map's JVP, each neuron model its tangent step; the spike takes the
 * surrogate's derivative, so the result is the directional derivative of the same surrogate network
 * BPTT differentiates. The building block of forward-gradient learners.
 */
import * as tf from '@tensorflow/tfjs';
import { check } from '../core/errors.js';
import { stateTensors, type NeuronModel, type NeuronState } from '../neurons/model.js';
import { modelOf, type NeuronParams } from '../neurons/registry.js';
import type { Surrogate } from '../neurons/surrogate.js';
import { currentShapeOf, type Layer } from '../sim/layer.js';
import { firstStepRows, outputField, passLayers, population, stepPopulation, swapBatchTime, timeLoop } from '../sim/loop.js';
import type { Network } from '../sim/network.js';
import type { Batch } from './estimators/types.js';
import type { RowLoss } from './losses.js';
import { addInto } from './running-sum.js';

/** Tangents of a layer's parameters by name, from directions keyed by variable. */
function layerDirections(layer: Layer, directions: ReadonlyMap<tf.Variable, tf.Tensor>): Record<string, tf.Tensor | undefined> {
  return Object.fromEntries(Object.entries(layer.params).map(([name, v]) => [name, directions.get(v)]));
}

const noTangent = (layer: Layer) => `forward mode: layer '${layer.name}' (${layer.spec.kind}) has no tangent; use a finite-difference estimate or LR`;

/**
 * The tangent of one step of a layer's neurons: the feed-forward current's tangent `dDrive` plus
 * the recurrent input's (from the previous output and its tangent), through the model's tangent step.
 */
function stepTangent(
  layer: Layer,
  model: NeuronModel<NeuronParams>,
  t: number,
  current: tf.Tensor,
  dDrive: tf.Tensor,
  previous: NeuronState,
  dPrevious: Record<string, tf.Tensor>,
  next: NeuronState,
  d: Record<string, tf.Tensor | undefined>,
  derivative: (x: tf.Tensor) => tf.Tensor,
): Record<string, tf.Tensor> {
  const rows = previous.spikes.shape[0]!;
  const dSpikes = dPrevious['spikes'];
  const rec =
    layer.recurrentJvp && t > 0
      ? tf.reshape(layer.recurrentJvp(tf.reshape(previous.spikes, [rows, -1]), dSpikes && tf.reshape(dSpikes, [rows, -1]), d), dDrive.shape)
      : undefined;
  const dCurrent = rec ? tf.add(dDrive, rec) : dDrive;
  return model.tangent(layer.neuron!, {
    t,
    current,
    dCurrent,
    previous,
    dPrevious,
    next,
    coefficients: layer.coefficients as never,
    dCoefficients: d,
    derivative,
  });
}

/**
 * The mean loss of `output` `[T, B, …]` and, for tangents `[K, T, B, …]`, each direction's
 * derivative split by sample: Σ over steps and units of ∂L/∂output ⊙ tangent.
 */
export function lossTangents(output: tf.Tensor, tangents: tf.Tensor, loss: RowLoss, labels: tf.Tensor): { loss: number; rows: Float32Array[] } {
  const [value, perRow] = tf.tidy(() => {
    const objective = (out: tf.Tensor) => tf.mean(loss(out, labels));
    const g = tf.grad(objective)(output);
    return [objective(output), tf.sum(tf.mul(g, tangents), [1, ...Array.from({ length: output.rank - 2 }, (_, i) => i + 3)])];
  });
  const flat = perRow!.dataSync() as Float32Array;
  const B = output.shape[1]!;
  const result = { loss: value!.dataSync()[0]!, rows: Array.from({ length: tangents.shape[0]! }, (_, k) => flat.slice(k * B, (k + 1) * B)) };
  tf.dispose([value!, perRow!]);
  return result;
}

const total = (rows: Float32Array) => rows.reduce((a, b) => a + b, 0);

/**
 * The network's output `[T, B, …out]` on `input` `[B, T, …in]` and its tangent along `directions`
 * (one tensor per variable, the variable's shape; absent: zero). The caller owns both.
 */
export interface TangentOptions {
  /** Tangents added to a layer's feed-forward currents, by layer index, `[T, B, …current]` (activity perturbation). */
  readonly currentTangents?: ReadonlyMap<number, tf.Tensor>;
  /** Sees a layer's input rows `[T·B, …in]` and output sequence `[T, B, …out]` (clone what you keep). */
  readonly observeLayer?: (index: number, input: tf.Tensor, output: tf.Tensor) => void;
}

export function tangentRun(
  net: Network,
  input: tf.Tensor,
  directions: ReadonlyMap<tf.Variable, tf.Tensor>,
  surrogate: Surrogate,
  o: TangentOptions = {},
): { output: tf.Tensor; tangent: tf.Tensor } {
  const [batch, steps] = input.shape as [number, number];
  // the input's tangent is zero; each layer's output tangent is the next layer's input tangent
  let dx: tf.Tensor | undefined;
  let tangent: tf.Tensor | undefined;
  const derivative = (x: tf.Tensor) => surrogate.derivative(x);
  const { output } = passLayers(
    net.layers,
    net.inputShape,
    input,
    ({ layer, index, isLast, input: x, currents }) => {
      const neuron = layer.neuron!;
      const model = modelOf(neuron) as NeuronModel<NeuronParams>;
      check(layer.jvp !== undefined, () => noTangent(layer));
      const d = layerDirections(layer, directions);
      const extra = o.currentTangents?.get(index);
      const dCurrents = tf.tidy(() => {
        const mapped = tf.reshape(layer.jvp!(x, dx, d), [steps, batch, ...currentShapeOf(layer)]);
        return extra ? tf.add(mapped, extra) : mapped;
      });
      dx?.dispose();
      const dDrives = tf.unstack(dCurrents);
      dCurrents.dispose();
      const field = outputField(neuron);
      const pop = population(layer);
      const outs: tf.Tensor[] = [],
        dOuts: tf.Tensor[] = [];
      let dState: Record<string, tf.Tensor> = {};
      const last = timeLoop(pop, tf.unstack(currents), model.initialState(neuron, [batch, ...layer.outputShape]), {
        fire: model.fire(neuron, undefined, 0),
        observe: (t, current, previous: NeuronState, next: NeuronState) => {
          // dDrives[t] is freed below: a tangent that is the drive's itself must be a copy
          const dNext = tf.tidy(() => stepTangent(layer, model, t, current, dDrives[t]!.clone(), previous, dState, next, d, derivative));
          tf.dispose(Object.values(dState));
          dDrives[t]!.dispose();
          dState = dNext;
          outs.push(next[field]!);
          dOuts.push((dNext[field] ?? tf.zerosLike(next[field]!)).clone());
          return [next[field]!];
        },
      });
      const out = tf.stack(outs);
      o.observeLayer?.(index, x, out);
      const kept = new Set(outs);
      for (const t of stateTensors(last)) if (!kept.has(t)) t.dispose();
      tf.dispose([...outs, ...Object.values(dState)]);
      const dOut = tf.stack(dOuts);
      tf.dispose(dOuts);
      if (isLast) tangent = dOut;
      else {
        dx = tf.reshape(dOut, [steps * batch, ...layer.outputShape]);
        dOut.dispose();
      }
      return { output: out };
    },
    {
      mapped: (layer, x) => {
        check(layer.jvp !== undefined, () => noTangent(layer));
        const next = dx ? layer.jvp!(x, dx, {}) : undefined;
        dx?.dispose();
        dx = next;
      },
    },
  );
  if (!tangent) {
    // the last layer was stateless: its input tangent, mapped, is the output's
    tangent = tf.reshape(dx ?? tf.zerosLike(output), output.shape);
    dx?.dispose();
  }
  return { output, tangent };
}

/**
 * The mean loss over the batch and its directional derivative ∇L · v along `directions` (and the
 * activity tangents of `o`), in one forward pass: the output's tangent contracted with the loss's
 * own gradient at the output. `rows` splits the derivative by sample (what each row's output
 * tangent contributes; they sum to `derivative`).
 */
export function directionalDerivative(
  net: Network,
  batch: Batch,
  loss: RowLoss,
  directions: ReadonlyMap<tf.Variable, tf.Tensor>,
  surrogate: Surrogate,
  o: TangentOptions = {},
): { loss: number; derivative: number; rows: Float32Array } {
  const { output, tangent } = tangentRun(net, batch.input, directions, surrogate, o);
  const one = tf.expandDims(tangent, 0);
  const r = lossTangents(output, one, loss, batch.labels);
  tf.dispose([output, tangent, one]);
  return { loss: r.loss, derivative: total(r.rows[0]!), rows: r.rows[0]! };
}

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
): { output: tf.Tensor; tangents: tf.Tensor; taps: Map<number, Tap> } {
  const [batch, steps] = input.shape as [number, number];
  const K = directions.length;
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
      return { states: nextStates, tangents: nextTangents, out: x, dOut: dx.map((d) => d ?? tf.zerosLike(x)) };
    });
    // keep only the new step's state and tangents
    const keep = new Set<tf.Tensor>([...step.states.flatMap((s) => (s ? stateTensors(s) : [])), ...step.tangents.flat().flatMap((d) => Object.values(d))]);
    for (const s of states) if (s) for (const v of stateTensors(s)) if (!keep.has(v)) v.dispose();
    for (const d of tangents.flat()) for (const v of Object.values(d)) if (!keep.has(v)) v.dispose();
    states = step.states;
    tangents = step.tangents;
    outs.push(keep.has(step.out) ? step.out.clone() : step.out);
    step.dOut.forEach((d, k) => dOuts[k]!.push(keep.has(d) ? d.clone() : d));
  }
  frames?.dispose();
  if (fixed) tf.dispose([fixed.x, fixed.drive, ...fixedTangents]);
  tf.dispose(prepared);
  for (const s of states) if (s) tf.dispose(stateTensors(s));
  tf.dispose(tangents.flat().flatMap((d) => Object.values(d)));
  const output = tf.stack(outs);
  const stacked = tf.tidy(() => (K > 0 ? tf.stack(dOuts.map((d) => tf.stack(d))) : tf.zeros([0, ...output.shape])));
  tf.dispose([...outs, ...dOuts.flat()]);
  return { output, tangents: stacked, taps: new Map([...tapSums].map(([i, sum]) => [i, { sum, tangents: tapTangents.get(i)! }])) };
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
  const { output, tangents } = tangentSteps(net, batch.input, directions, surrogate, { constantInput: batch.constantInTime === true });
  const r = lossTangents(output, tangents, loss, batch.labels);
  tf.dispose([output, tangents]);
  return { loss: r.loss, derivatives: r.rows.map(total), rows: r.rows };
}
