/**
 * Which weights each noisy layer of an LR pass takes. Local heads (local-head.ts) cut a network into
 * blocks: a block's layers are weighted by its head's per-row losses, the layers after the last
 * head by the network's own, so no block's estimate carries another block's noise or loss (the
 * local-module training of the ULR paper and of Ren et al. 2022). With unit credit
 * (unit-credit.ts) the layer a head reads — and the layer a readout reads by its mean — takes a
 * weight per unit instead of per row.
 */
import * as tf from '@tensorflow/tfjs';
import { check } from '../../core/errors.js';
import type { LocalCredit } from '../config.js';
import { blockEnds } from '../../sim/layer.js';
import { localHeadStep } from '../local-heads.js';
import { meanReadoutOutput, meanReadoutPlan } from '../../sim/loop.js';
import type { Network } from '../../sim/network.js';
import type { CopyForward, LayerTrace } from '../forward.js';
import type { RowLoss } from '../losses.js';
import { regularizersOf } from '../regularizers.js';
import { groupCount, type CopyPlan } from '../sampling.js';
import { disposeUnits, unitCredit, unitWeights, type UnitWeights } from '../unit-credit.js';
import { copyLabels, noisyGradients, traceGradients } from './lr-gradients.js';

export { LOCAL_CREDITS, type LocalCredit } from '../config.js';

/** The indices of the layers that end a block with a local head (never the last layer, whose loss is the network's). */
export function headLayers(net: Network): number[] {
  return net.layers.flatMap((l, i) => (l.localHead && i < net.layers.length - 1 ? [i] : []));
}

/** What the network's own loss gives the layers of its last block (those after the last head). */
export interface FinalWeights {
  /** Each row's weight `[K·B]`. */
  readonly rows: Float32Array;
  /** Unit credit of the layer the readout reads by its mean (unit credit only; the caller owns it). */
  readonly units?: UnitWeights;
}

export interface BlockOptions {
  readonly credit: LocalCredit;
  /** Unit credit step by step (unit-credit.ts UnitCredit) rather than constant over the run. */
  readonly causal: boolean;
  readonly plan: CopyPlan;
  /** Samples B of the pass. */
  readonly batch: number;
  /** Row weights `[K·B]` of per-row losses, with the estimator's baseline. */
  readonly weightsOf: (losses: Float32Array) => Float32Array;
  /** Also the heads' own (exact) gradients; false for a pass that trains only its noisy layers. */
  readonly trainHeads: boolean;
  /** The pass's share of the estimate (a pipeline's micro-batch: B_m/B), on the heads' gradients and unit weights; `weightsOf` applies its own. */
  readonly scale?: number;
}

/**
 * The gradients of a pass's noisy layers `traces` (and, with `trainHeads`, of the heads it tapped):
 * a layer whose block ends at a head takes that head's losses — the head's own layer its unit
 * weights with unit credit — and a layer of the last block `final(units)`, asked for only where the
 * pass has such a layer (`units`: it has the layer the readout reads). `labels` `[B]`.
 */
export function blockGradients(
  net: Network,
  fwd: CopyForward,
  traces: readonly LayerTrace[],
  labels: tf.Tensor,
  o: BlockOptions,
  final: (units: boolean) => FinalWeights,
): Map<tf.Variable, tf.Tensor> {
  const ends = blockEnds(net.layers);
  const last = net.layers.length - 1;
  for (const t of traces) {
    const end = ends[t.index]!;
    check(
      end < 0 || fwd.taps.has(end),
      () =>
        `lr: layer '${t.layer.name}' is in the block of the local head on '${net.layers[end]!.name}', which this pass does not run (a block cut across pipeline stages); put a head on the stage's last layer or split the stages at the heads`,
    );
  }
  const gradients = new Map<tf.Variable, tf.Tensor>();
  const add = (g: Map<tf.Variable, tf.Tensor>) => g.forEach((v, k) => gradients.set(k, v));
  const scale = o.scale ?? 1;
  const scaled = (t: tf.Tensor) => {
    if (scale === 1) return t;
    const out = tf.mul(t, scale);
    t.dispose();
    return out;
  };
  try {
    for (const [h, tap] of fwd.taps) {
      const block = traces.filter((t) => ends[t.index] === h);
      const labelsOf = copyLabels(labels, tap.shape[0]! / o.batch);
      const step = localHeadStep(net.layers[h]!, tap, labelsOf);
      labelsOf.dispose();
      if (o.trainHeads) step.gradients.forEach((g, v) => gradients.set(v, scaled(g)));
      else step.gradients.forEach((g) => g.dispose());
      try {
        const unit = o.credit !== 'loss' ? block.find((t) => t.index === h && (o.credit === 'unit-all' || independentUnits(t))) : undefined;
        if (unit) {
          // the head reads the plain time mean: every step's output weighs 1/T
          const w: UnitWeights = o.causal
            ? unitCredit(step.credit, o.plan, o.batch, new Array<number>(unit.steps).fill(1 / unit.steps), scale)
            : scaled(unitWeights(tap, step.credit, o.plan, o.batch));
          try {
            add(traceGradients(unit, w));
          } finally {
            disposeUnits(w);
          }
        }
        const rest = block.filter((t) => t !== unit);
        if (rest.length) add(noisyGradients(rest, o.weightsOf(step.losses)));
      } finally {
        step.credit.dispose();
      }
    }
    const tail = traces.filter((t) => ends[t.index]! < 0);
    if (tail.length) {
      // the layer the readout reads, where unit credit can take it
      const read = o.credit !== 'loss' ? tail.find((t) => t.index === last - 1 && (o.credit === 'unit-all' || independentUnits(t))) : undefined;
      const f = final(read !== undefined);
      const unit = f.units ? read : undefined;
      if (unit) add(traceGradients(unit, f.units!));
      const rest = tail.filter((t) => t !== unit);
      if (rest.length) add(noisyGradients(rest, f.rows));
    }
    return gradients;
  } catch (err) {
    gradients.forEach((g) => g.dispose());
    throw err;
  }
}

/**
 * Whether a layer's units fire independently given its input, as unit credit needs: not where
 * recurrent weights carry one unit's spikes into the others' currents (such a layer takes its
 * block's loss, exact LR).
 */
function independentUnits(t: LayerTrace): boolean {
  return t.layer.recurrentCurrents === undefined;
}

/**
 * Unit-credit weights `[K·B, …N]` of the layer before a readout read by its time mean, from the
 * readout's trace in `fwd`: its input x̄ (the leak-weighted mean the readout reads) and each row's
 * ∂L_r/∂x̄ through the readout's mean map, scaled by `scale`. Undefined where the readout is not
 * read by its mean, where the layer it reads is recurrent (its units are not independent), where
 * rows interact (graph layers), or where a rate penalty makes the loss more than the readout's.
 */
export function meanReadoutCredit(
  net: Network,
  fwd: CopyForward,
  loss: RowLoss,
  rowLabels: tf.Tensor,
  plan: CopyPlan,
  batch: number,
  scale = 1,
  /** Credit coupled (recurrent) units too ('unit-all'). */
  coupled = false,
  /** Step by step (a {@link unitCredit}) rather than constant over the run. */
  causal = false,
): UnitWeights | undefined {
  const last = net.layers.length - 1;
  const trace = fwd.traces.find((t) => t.index === last && t.kind === 'local' && t.seedScale !== undefined);
  const reads = net.layers[last - 1];
  if (
    !trace ||
    !reads ||
    (reads.recurrentCurrents && !coupled) ||
    trace.input.shape[0] !== fwd.rows ||
    regularizersOf(loss).length ||
    net.layers.some((l) => l.mixesRows) ||
    groupCount(plan) < 2
  )
    return undefined;
  const readout = net.layers[last]!;
  // the readout's time weights over the pass's steps (a trace without them — none today — takes the whole-run weights: unbiased too)
  const times = causal && trace.meanSteps !== undefined ? meanReadoutPlan(readout, trace.meanSteps)?.weights : undefined;
  const credit = tf.tidy(() => tf.grad((x: tf.Tensor) => tf.mul(scale, tf.sum(loss(meanReadoutOutput(readout, x, trace.seedScale!), rowLabels))))(trace.input));
  try {
    if (times) {
      const shaped = tf.reshape(credit, [fwd.rows, ...reads.outputShape]);
      try {
        return unitCredit(shaped, plan, batch, times);
      } finally {
        shaped.dispose();
      }
    }
    return tf.tidy(() => tf.reshape(unitWeights(trace.input, credit, plan, batch), [fwd.rows, ...reads.outputShape]));
  } finally {
    credit.dispose();
  }
}
