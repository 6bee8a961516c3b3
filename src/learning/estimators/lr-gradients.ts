/**
 * LR's gradients from a pass's traces (DESIGN.md §1–2): the row weights of the copies' losses, each
 * noisy layer's reverse filter seeded by its weighted scores and its local VJP, and a deterministic
 * readout's exact local gradient. lr.ts runs the passes; lr-blocks.ts says which weights each layer takes.
 */
import * as tf from '@tensorflow/tfjs';
import type { Baseline } from '../config.js';
import type { Coefficients, NeuronModel } from '../../neurons/model.js';
import { modelOf, type NeuronParams } from '../../neurons/registry.js';
import { currentShapeOf } from '../../sim/layer.js';
import { sumToLast } from '../../sim/layers/common.js';
import type { LayerTrace } from '../forward.js';
import { check } from '../../core/errors.js';
import { checkDifferentiable, type RowLoss } from '../losses.js';
import { addInto } from '../running-sum.js';
import { groupCount, groupOf, type CopyPlan } from '../sampling.js';
import { creditSteps, isStepped, type UnitCredit } from '../unit-credit.js';

export { BASELINES, type Baseline } from '../config.js';

/**
 * Per-row weights (L_r − b_r)/(K·B) from per-row losses `[K·B]`; coupled: every row of copy k
 * gets (L̄_k − b_k)/K with L̄_k the copy's mean loss over its rows.
 */
export function rowWeights(
  losses: Float32Array,
  plan: CopyPlan,
  batch: number,
  baseline: Baseline,
  noiseFree: Float32Array | undefined,
  coupled: boolean,
): Float32Array {
  const K = plan.copies;
  if (coupled) {
    // one "sample" per copy: its mean loss over all rows, then every row of the copy shares its weight
    const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / batch;
    const copyLoss = Float32Array.from({ length: K }, (_, k) => mean(losses.subarray(k * batch, (k + 1) * batch)));
    const perCopy = rowWeights(copyLoss, plan, 1, baseline, noiseFree ? Float32Array.of(mean(noiseFree)) : undefined, false);
    const w = new Float32Array(K * batch);
    perCopy.forEach((v, k) => w.fill(v, k * batch, (k + 1) * batch));
    return w;
  }
  const w = new Float32Array(K * batch);
  const groups = groupCount(plan);
  for (let b = 0; b < batch; b++) {
    const groupSums = new Float64Array(groups);
    const groupSizes = new Float64Array(groups);
    let total = 0;
    for (let k = 0; k < K; k++) {
      const g = groupOf(plan, k);
      groupSums[g]! += losses[k * batch + b]!;
      groupSizes[g]! += 1;
      total += losses[k * batch + b]!;
    }
    for (let k = 0; k < K; k++) {
      const g = groupOf(plan, k);
      const base = baseline === 'loo' ? (total - groupSums[g]!) / (K - groupSizes[g]!) : baseline === 'noise-free' ? noiseFree![b]! : 0;
      w[k * batch + b] = (losses[k * batch + b]! - base) / (K * batch);
    }
  }
  return w;
}

/** Broadcasts per-row weights `[R]` against `[R, …N]`. */
function rowColumn(w: tf.Tensor, like: tf.Tensor): tf.Tensor {
  return tf.reshape(w, [w.shape[0]!, ...like.shape.slice(1).map(() => 1)]);
}

/**
 * Gradients of one trained layer from its trace and weighted seeds. The neuron model's reverse
 * filter runs backwards in time one step at a time: each step's terms go into running sums at once
 * and only the input-current adjoint, summed over copies, is kept for the layer's own map (its
 * local VJP) — so the working memory is one step of the copies plus T steps of the (K times
 * smaller) contracted adjoint. `given`: row weights `[R]`, unit weights `[R, …N]` constant over
 * time, or a {@link UnitCredit} whose weights are formed step by step in the same loop. `carry`: the
 * filter's carry from the step after the trace (the next
 * time chunk; consumed); the carry at its first step is returned for the chunk before.
 */
export function layerGradients(
  tr: LayerTrace,
  given: tf.Tensor | UnitCredit | undefined,
  carry?: readonly tf.Tensor[],
): { gradients: Map<tf.Variable, tf.Tensor>; carry: readonly tf.Tensor[] | undefined } {
  const stepped = given !== undefined && isStepped(given) ? creditSteps(given) : undefined;
  try {
    return filterBack(tr, stepped ? undefined : (given as tf.Tensor | undefined), stepped, carry);
  } finally {
    stepped?.dispose();
  }
}

function filterBack(
  tr: LayerTrace,
  weights: tf.Tensor | undefined,
  stepped: ReturnType<typeof creditSteps> | undefined,
  carry?: readonly tf.Tensor[],
): { gradients: Map<tf.Variable, tf.Tensor>; carry: readonly tf.Tensor[] | undefined } {
  const layer = tr.layer;
  const neuron = layer.neuron!;
  const model = modelOf(neuron) as NeuronModel<NeuronParams>;
  const steps = tr.regenerate ? tr.steps : tr.seeds.length;
  const copies = tr.rows / tr.inputRows;
  check(!stepped || stepped.steps === steps, () => `lr: unit credit of layer '${layer.name}' has ${stepped!.steps} time weights for its ${steps} steps`);
  // row weights `[R]` or a weight per row and neuron `[R, …N]` (unit credit) constant over time, or
  // unit credit step by step (`stepped`: each step's weights from the layer's output from then on)
  const perUnit = stepped !== undefined || (weights !== undefined && weights.rank > 1);
  const coefficients = layer.coefficients as Coefficients;
  const contracted: tf.Tensor[] = new Array(steps);
  // per-neuron coefficient terms (summed over rows at the end) and recurrent-weight gradients
  const sums: Record<string, tf.Tensor> = {},
    recurrentSums: Record<string, tf.Tensor> = {};
  // LIF and the readout without learned coefficients, gates or recurrence: one kernel a step (wasm)
  const fused =
    !tr.regenerate && !coefficients['noiseScale'] && !layer.recurrentVjp
      ? model.fusedAdjoint?.(neuron, { learned: tr.learned, coefficients, gated: tr.trace.has('open') })
      : undefined;
  for (let t = steps - 1; t >= 0; t--) {
    if (fused) {
      // the filter is linear: weighting the seeds by a unit's weight is weighting λ (row weights go into the kernel)
      const seed = stepped ? stepped.at(t, tr.trace.at('spikes', t), tr.seeds[t]!) : perUnit ? tf.mul(weights!, tr.seeds[t]!) : tr.seeds[t]!;
      const r = fused(seed, perUnit ? undefined : weights, carry?.[0], tr.inputRows);
      if (perUnit) seed.dispose();
      if (carry) tf.dispose([...carry]);
      carry = [r.lambda];
      contracted[t] = r.contracted;
      continue;
    }
    const unitW = stepped ? stepped.at(t, tr.trace.at('spikes', t)) : perUnit ? weights : undefined;
    const weigh = (s: tf.Tensor) => (unitW ? tf.mul(unitW, s) : weights ? tf.mul(rowColumn(weights, s), s) : s);
    const kept = tf.tidy(() => {
      const regenerated = tr.regenerate?.(t);
      const seed = weigh(regenerated ? regenerated.seed : tr.seeds[t]!);
      const step = model.adjoint(neuron, { t, seed, trace: tr.trace, carry, coefficients, learned: tr.learned });
      const current = step.current;
      const terms: Record<string, tf.Tensor> = { ...step.coefficients };
      const sigmaSeed = regenerated ? regenerated.sigmaSeed : tr.sigmaSeeds[t];
      // σ only sets each step's firing probability: no filtering through the dynamics
      if (coefficients['noiseScale'] && sigmaSeed) terms['noiseScale'] = weigh(sigmaSeed);
      return {
        carry: step.carry.map((c) => c.clone()),
        contracted: copies > 1 ? tf.sum(tf.reshape(current, [copies, tr.inputRows, ...current.shape.slice(1)]), 0) : current.clone(),
        terms,
        recurrent: layer.recurrentVjp?.(tr.trace.at('spikes', t - 1), step.recurrent ?? current) ?? {},
      };
    });
    if (stepped) unitW!.dispose();
    if (carry) tf.dispose([...carry]);
    carry = kept.carry;
    contracted[t] = kept.contracted;
    for (const [name, term] of Object.entries(kept.terms)) sums[name] = addInto(sums[name], term);
    for (const [name, term] of Object.entries(kept.recurrent)) recurrentSums[name] = addInto(recurrentSums[name], term);
  }
  const out = new Map<tf.Variable, tf.Tensor>();
  tf.tidy(() => {
    // a VJP is linear in its adjoint: with the same input at every step, Σ_t VJP(x; ĝ_t) = VJP(x; Σ_t ĝ_t)
    const g = tr.constantInput ? tf.addN(contracted) : tf.reshape(tf.stack(contracted), [steps * tr.inputRows, ...currentShapeOf(layer)]);
    const set = (v: tf.Variable | undefined, grad: tf.Tensor) => v && out.set(v, tf.keep(grad));
    // the local VJP of the layer's own map
    for (const [name, grad] of Object.entries(layer.vjp(tr.input, g))) set(layer.params[name], grad);
    for (const [name, sum] of Object.entries(recurrentSums)) set(layer.params[name], sum.clone());
    for (const [name, sum] of Object.entries(sums)) set(layer.params[name], sumToLast(sum));
  });
  tf.dispose([...contracted, ...Object.values(sums), ...Object.values(recurrentSums)]);
  return { gradients: out, carry };
}

/** A layer's gradients from a whole run's trace (no chunk after it). */
export function traceGradients(tr: LayerTrace, weights: tf.Tensor | UnitCredit | undefined): Map<tf.Variable, tf.Tensor> {
  const r = layerGradients(tr, weights);
  if (r.carry) tf.dispose([...r.carry]);
  return r.gradients;
}
/** The labels of each row of a pass with `copies` copies per sample (copy-major). */
export function copyLabels(labels: tf.Tensor, copies: number): tf.Tensor {
  return copies > 1 ? tf.tidy(() => tf.tile(labels, [copies])) : labels.clone();
}

/** Gradients of the noisy layers' traces for row weights `w` (`[K·B]`). */
export function noisyGradients(traces: readonly LayerTrace[], w: Float32Array): Map<tf.Variable, tf.Tensor> {
  const gradients = new Map<tf.Variable, tf.Tensor>();
  const weights = tf.tensor1d(w);
  try {
    for (const tr of traces) for (const [v, g] of traceGradients(tr, weights)) gradients.set(v, g);
  } finally {
    weights.dispose();
  }
  return gradients;
}

/**
 * Gradients of a deterministic readout (the last layer) of a pass whose output is `output`: its
 * filter seeded with the exact ∂(scale · mean loss)/∂u_t — the loss's own derivative, local to it.
 */
export function readoutGradients(trace: LayerTrace, output: tf.Tensor, loss: RowLoss, rowLabels: tf.Tensor, scale = 1): Map<tf.Variable, tf.Tensor> {
  const dOut = readoutSeeds(trace.layer.name, output, loss, rowLabels, scale * (trace.seedScale ?? 1));
  trace.seeds = tf.unstack(dOut);
  dOut.dispose();
  return traceGradients(trace, undefined);
}

/** ∂(scale · mean loss)/∂output `[T, rows, …]`: what a deterministic readout's filter is seeded with. */
export function readoutSeeds(name: string, output: tf.Tensor, loss: RowLoss, rowLabels: tf.Tensor, scale: number): tf.Tensor {
  checkDifferentiable(
    loss,
    'lr',
    `its deterministic readout '${name}' learns by the loss's derivative; end the network in a spiking output layer (noisy, so LR estimates its gradient too)`,
  );
  return tf.tidy(() => {
    const d = tf.grad((o: tf.Tensor) => tf.mean(loss(o, rowLabels)))(output);
    return scale === 1 ? d : tf.mul(d, scale);
  });
}
