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
import { outputField, passLayers, population, timeLoop } from '../sim/loop.js';
import type { Network } from '../sim/network.js';
import type { Batch } from './estimators/types.js';
import type { RowLoss } from './losses.js';

/** Tangents of a layer's parameters by name, from directions keyed by variable. */
export function layerDirections(layer: Layer, directions: ReadonlyMap<tf.Variable, tf.Tensor>): Record<string, tf.Tensor | undefined> {
  return Object.fromEntries(Object.entries(layer.params).map(([name, v]) => [name, directions.get(v)]));
}

export const noTangent = (layer: Layer) => `forward mode: layer '${layer.name}' (${layer.spec.kind}) has no tangent; use a finite-difference estimate or LR`;

/**
 * The tangent of one step of a layer's neurons: the feed-forward current's tangent `dDrive` plus
 * the recurrent input's (from the previous output and its tangent), through the model's tangent step.
 */
export function stepTangent(
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

export const total = (rows: Float32Array) => rows.reduce((a, b) => a + b, 0);

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
