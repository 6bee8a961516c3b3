/**
 * Surrogate-gradient backpropagation through time, the baseline LR is compared against
 * (DESIGN.md §2): the same layers run deterministically, the spike's Heaviside keeps its forward
 * pass and takes the surrogate's derivative backwards, and tfjs autodiff unrolls the time loop.
 * Memory grows with T (every step's state is kept for the backward pass), which LR avoids.
 */
import * as tf from '@tensorflow/tfjs';
import { check, checkInteger, checkKeys } from '../../core/errors.js';
import type { Coefficients, Fire, NeuronModel, NeuronState } from '../../neurons/model.js';
import { modelOf, type NeuronParams } from '../../neurons/registry.js';
import { atan, surrogateByName, surrogateSpike, type Surrogate } from '../../neurons/surrogate.js';
import { meanReadout, outputField, passLayers, population, timeLoop } from '../../sim/loop.js';
import type { Network } from '../../sim/network.js';
import { localHeadLogits, type Layer } from '../../sim/layer.js';
import { crossEntropy } from '../losses.js';
import { timeMean } from '../../kernels/weighted-steps.js';
import type { Estimator, Method } from './types.js';
import { ratePenalty, regularizersOf } from '../regularizers.js';
import { checkDifferentiable } from '../losses.js';

export interface BPTTConfig {
  /** Surrogate derivative of the spike (default atan(α = 2), as snnTorch). */
  readonly surrogate?: Surrogate;
  /** Truncated BPTT: the state is detached every `truncate` steps, so gradients reach back at most that far. */
  readonly truncate?: number;
  /**
   * Replace the spike itself by the surrogate's smooth step S(u − ϑ), forward and backward: a
   * differentiable network whose exact gradient checks the unrolling (tests, diagnostics).
   */
  readonly smooth?: boolean;
  /**
   * The previous step's spike enters a neuron's own state update (its reset; an adaptive
   * threshold's increment) as a constant, as snnTorch's neurons detach their reset; recurrent input
   * keeps its gradient. Default false: the exact derivative of the surrogate network.
   */
  readonly detachReset?: boolean;
  /**
   * At most this many crossings of a recurrent layer's weights V on any gradient path (from one
   * unit's spike into the units it drives), each neuron's own path through its leak and reset kept
   * whole. 0: the gradient LR's unit credit estimates in a recurrent layer (`localCredit:
   * 'unit-all'`) and e-prop follows; default: every path.
   */
  readonly recurrentHops?: number;
}

/** x forward, no gradient backward. */
const stopGradient = tf.customGrad(((x: tf.Tensor) => ({ value: tf.clone(x), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) })) as unknown as Parameters<
  typeof tf.customGrad
>[0]) as unknown as (x: tf.Tensor) => tf.Tensor;

function detach(state: NeuronState): NeuronState {
  const copy = (t: tf.Tensor) => tf.tensor(t.dataSync(), t.shape, t.dtype);
  return Object.fromEntries(Object.entries(state).map(([k, v]) => [k, copy(v as tf.Tensor)])) as unknown as NeuronState;
}

/**
 * Output `[T, B, …out]` of the network on `input` `[B, T, …in]`, recorded for autodiff; `hidden`
 * collects the spikes `[T, B, N]` of the hidden spiking layers; `truncate` detaches the state every
 * that many steps; `constantInput`: every step of the input is the same (the first layer's currents
 * are computed once; the input's own gradient then reaches its first step only).
 */
export function differentiableRun(
  net: Network,
  input: tf.Tensor,
  spike: (x: tf.Tensor) => tf.Tensor,
  o: {
    readonly truncate?: number;
    readonly hidden?: { name: string; spikes: tf.Tensor }[];
    readonly constantInput?: boolean;
    /** `spike`'s surrogate, for models that run their whole loop as one op (absent: every layer unrolls its steps). */
    readonly surrogate?: Surrogate;
    /** The loss reads only the output's mean over time: a readout that allows it outputs that mean as one step (meanReadout). */
    readonly meanOutput?: boolean;
    /** The previous spike enters each neuron's own state update without gradient (BPTTConfig.detachReset). */
    readonly detachReset?: boolean;
    /** Gradient paths cross a recurrent layer's weights at most this often (BPTTConfig.recurrentHops). */
    readonly recurrentHops?: number;
    /**
     * Local losses: each layer with a local head (not the last) hands its head the time mean of its
     * output, collected here, and the next layer its output without gradient, so that no gradient
     * crosses from one block into the one before (local BPTT inside each block).
     */
    readonly heads?: { layer: Layer; mean: tf.Tensor }[];
  } = {},
): tf.Tensor {
  const { hidden } = o;
  const ends = (layer: Layer, isLast: boolean, output: tf.Tensor): { output: tf.Tensor } => {
    if (!o.heads || !layer.localHead || isLast) return { output };
    o.heads.push({ layer, mean: timeMean(output) });
    return { output: stopGradient(output) };
  };
  // truncation at T or beyond cuts nothing
  const truncate = o.truncate !== undefined && o.truncate < input.shape[1]! ? o.truncate : undefined;
  const batch = input.shape[0]!;
  // `visit.currents` is read only where used: reading it makes the currents of all T steps
  return passLayers(
    net.layers,
    net.inputShape,
    input,
    (visit) => {
      const { layer, isLast, rows } = visit;
      const mean = isLast && o.meanOutput && !truncate ? meanReadout(layer, visit.input, input.shape[1]!, rows, visit.constant) : undefined;
      if (mean) return { output: mean.output };
      const currents = visit.currents;
      const neuron = layer.neuron!;
      const model = modelOf(neuron) as NeuronModel<NeuronParams>;
      const spiking = model.role === 'spiking';
      // one op for the whole loop where the model has one (not with truncation, which acts between
      // steps, nor a recurrent input other than s_{t−1} V)
      const sequence =
        spiking && o.surrogate && !truncate && (!layer.recurrentCurrents || layer.recurrentWeight)
          ? model.surrogateSequence?.(neuron, {
              coefficients: layer.coefficients as Coefficients,
              ...(layer.recurrentWeight ? { recurrent: layer.recurrentWeight } : {}),
            })
          : undefined;
      if (sequence) {
        const spikes = sequence(currents, o.surrogate!, {
          detachReset: o.detachReset === true,
          ...(o.recurrentHops !== undefined ? { recurrentHops: o.recurrentHops } : {}),
        });
        const output = tf.reshape(spikes, [currents.shape[0]!, rows, ...layer.outputShape]);
        if (hidden && !isLast) hidden.push({ name: layer.name, spikes: output });
        return ends(layer, isLast, output);
      }
      const fire: Fire = spiking ? (u, threshold) => spike(tf.sub(u, threshold)) : model.fire(neuron, undefined, 0);
      const field = outputField(neuron);
      const pop = population(layer);
      const detachReset = o.detachReset === true && spiking;
      // step t from `state`; `previous`: the spikes its recurrent input reads, where not the state's own
      const step = (drive: tf.Tensor, state: NeuronState, t: number, previous?: tf.Tensor): NeuronState => {
        if (!detachReset && previous === undefined) return timeLoop(pop, [drive], state, { fire, firstStep: t, tape: true });
        // the recurrent input keeps its gradient; with detachReset the neuron's own update does not
        const input = pop.recurrent ? tf.add(drive, pop.recurrent(previous ?? state.spikes)) : drive;
        const own = detachReset ? { ...state, spikes: stopGradient(state.spikes) } : state;
        return timeLoop({ ...pop, recurrent: undefined }, [input], own, { fire, firstStep: t, tape: true });
      };
      // recurrentHops h: h + 1 levels of the same loop (the same values). Level 0's recurrent input is
      // its own previous spikes without gradient; level ℓ's is level ℓ − 1's spikes, so a path from
      // the output (level h) crosses V only by stepping down a level, at most h times.
      const drives = tf.unstack(currents);
      const limited = pop.recurrent !== undefined && o.recurrentHops !== undefined;
      const levels = limited ? o.recurrentHops! + 1 : 1;
      let below: tf.Tensor[] | undefined;
      let outs: tf.Tensor[] = [];
      for (let level = 0; level < levels; level++) {
        let state = model.initialState(neuron, [batch, ...layer.outputShape]);
        const spikes: tf.Tensor[] = [];
        outs = [];
        drives.forEach((drive, t) => {
          // the state is detached every `truncate` steps: gradients reach back at most that far
          const cut = truncate !== undefined && t > 0 && t % truncate === 0;
          if (cut) state = detach(state);
          let previous: tf.Tensor | undefined;
          if (limited) {
            const from = below && t > 0 ? below[t - 1]! : state.spikes;
            previous = below && t > 0 && !cut ? from : stopGradient(from);
          }
          state = step(drive, state, t, previous);
          outs.push(state[field]!);
          spikes.push(state.spikes);
        });
        below = spikes;
      }
      const output = tf.stack(outs);
      if (hidden && spiking && !isLast) hidden.push({ name: layer.name, spikes: output });
      return ends(layer, isLast, output);
    },
    { tape: true, constantInput: o.constantInput === true },
  ).output;
}

/** What to use instead of BPTT on a loss with no derivative. */
const NO_DERIVATIVE = 'train by LR (--method lr), which estimates the gradient of the expected 0-1 loss, or choose a differentiable loss such as ce-membrane';

/**
 * The trained parameters of the deterministic network: all but the noise scale, which has no role
 * without noise, and the layers' buffers (a decorrelation's R and input mean, learned by their own rule).
 */
export function deterministicParameters(net: Network): tf.Variable[] {
  return net.layers.flatMap((l) =>
    Object.entries(l.params)
      .filter(([n]) => n !== 'noiseScale' && !l.buffers?.includes(n))
      .map(([, v]) => v),
  );
}

/** Surrogate-gradient BPTT as an {@link Estimator}: exact autodiff of the surrogate network's loss. */
export function bptt(config: BPTTConfig = {}): Estimator {
  checkKeys('bptt', config, ['surrogate', 'truncate', 'smooth', 'detachReset', 'recurrentHops']);
  const surrogate = config.surrogate ?? atan();
  if (config.truncate !== undefined) checkInteger('bptt', 'truncate', config.truncate, 1);
  if (config.recurrentHops !== undefined) checkInteger('bptt', 'recurrentHops', config.recurrentHops, 0);
  check(!config.smooth || surrogate.smooth !== undefined, () => `bptt: smooth mode needs a surrogate with a smooth step; ${surrogate.name} has none`);
  const spike = config.smooth ? (x: tf.Tensor) => surrogate.smooth!(x) : surrogateSpike(surrogate);
  return {
    name: `bptt(${surrogate.name}${config.truncate ? `, truncated at ${config.truncate}` : ''}${config.smooth ? ', smooth' : ''}${config.detachReset ? ', reset detached' : ''}${config.recurrentHops !== undefined ? `, ${config.recurrentHops} recurrent hops` : ''})`,
    estimate(net, batch, loss) {
      const B = batch.input.shape[0]!;
      check(
        batch.labels.shape.length === 1 && batch.labels.shape[0] === B,
        () => `bptt: labels must have shape [${B}] (one per sample), got [${batch.labels.shape.join(', ')}]`,
      );
      checkDifferentiable(loss, 'bptt', NO_DERIVATIVE);
      check(
        config.recurrentHops === undefined || net.layers.some((l) => l.recurrentCurrents !== undefined),
        () =>
          "bptt: recurrentHops limits the gradient through a recurrent layer's weights (input s_{t−1} V), and this network has no such layer (a GRU's act inside its cell, which recurrentHops does not reach): drop recurrentHops",
      );
      const vars = deterministicParameters(net);
      const regs = regularizersOf(loss);
      const local = net.layers.some((l, i) => l.localHead && i < net.layers.length - 1);
      const objective = () => {
        const hidden: { name: string; spikes: tf.Tensor }[] = [];
        const heads: { layer: Layer; mean: tf.Tensor }[] = [];
        const out = differentiableRun(net, batch.input, spike, {
          ...(config.truncate !== undefined ? { truncate: config.truncate } : {}),
          ...(regs.length ? { hidden } : {}),
          constantInput: batch.constantInTime === true,
          ...(config.smooth ? {} : { surrogate }),
          meanOutput: loss.timeMean === true,
          detachReset: config.detachReset === true,
          ...(config.recurrentHops !== undefined ? { recurrentHops: config.recurrentHops } : {}),
          ...(local ? { heads } : {}),
        });
        const rows = loss(out, batch.labels);
        const penalty = regs.length ? ratePenalty(hidden, regs) : undefined;
        // each block's head adds its own loss; the blocks share no gradient, so each learns from its own
        const total = heads.reduce(
          (sum, h) => tf.add(sum, crossEntropy(localHeadLogits(h.layer, h.mean), tf.cast(batch.labels, 'int32'))),
          penalty ? tf.add(rows, penalty) : rows,
        );
        return tf.mean(total) as tf.Scalar;
      };
      const { value, grads } = tf.variableGrads(objective, vars);
      const lossValue = value.dataSync()[0]!;
      value.dispose();
      check(Number.isFinite(lossValue), () => 'bptt: the loss is not finite; check the inputs and the learning rate');
      const gradients = new Map(vars.map((v) => [v, grads[v.name]!] as const));
      return { gradients, loss: lossValue, dispose: () => gradients.forEach((g) => g.dispose()) };
    },
  };
}

/** `--method bptt`: snnTorch's tutorial recipe (784-1000-10 LIF, 25 rate-coded steps, Adam 5e-4, one epoch). */
export const bpttMethod = {
  name: 'bptt',
  description: 'surrogate-gradient backpropagation through time (the baseline)',
  defaults: {},
  needs: () => ({ derivative: true, instead: NO_DERIVATIVE }),
  // local BPTT inside each block, for comparison with the forward-only learners' local losses (not by default)
  localLosses: { auto: false },
  estimator: (c) =>
    bptt({
      surrogate: surrogateByName(c.surrogate, c.surrogateScale, c.surrogateFormula),
      ...(c.truncate !== null ? { truncate: c.truncate } : {}),
      detachReset: c.detachReset,
      ...(c.recurrentHops !== null ? { recurrentHops: c.recurrentHops } : {}),
    }),
} satisfies Method;
