/**
 * Unit credit: LR's row weights for a layer whose block ends in a linear read of its time-mean
 * output s̄ (a local head, or the readout read by its mean), one weight per row and unit.
 *
 * Exact LR weights every score of a layer by the whole block's loss, L − b, so each unit's estimate
 * also carries the noise of every other unit in the layer: its variance grows with the layer's width.
 * Given the layer's input, its units fire independently (each has its own noise, no recurrence), so
 * with the loss linearised in s̄ around the copies' operating point, L ≈ L₀ + Σ_j ḡ_j s̄_j, unit j's
 * weights need only its own term:
 *
 *     ∇θ_j ≈ E[ ḡ_j^{−k} (s̄_j^k − s̄_j^{−k}) ∇θ_j log p(s^k_j) ]
 *
 * with ḡ^{−k} and s̄^{−k} the means of ∂L/∂s̄ and s̄ over the sample's other independent copies.
 * Both are independent of copy k's noise, so the estimate is unbiased for E[ḡ]·∂E[s̄]/∂θ (tested by
 * exact enumeration): the gradient of the block's loss through its expected output, exact for a loss
 * linear in s̄, and without the other units' noise in any unit's estimate. The spikes are still never
 * differentiated; only the (deterministic, linear) read of s̄ is.
 */
import * as tf from '@tensorflow/tfjs';
import { check } from '../core/errors.js';
import { creditStep } from '../kernels/credit-kernel.js';
import { groupCount, groupOf, type CopyPlan } from './sampling.js';

/** Unit credit compares each copy with the copies of the other groups: there must be at least two. */
function checkGroups(plan: CopyPlan): void {
  check(
    groupCount(plan) > 1,
    () =>
      `unit credit: needs at least two independent groups of copies to compare each copy with; ${plan.copies} copies with sampling '${plan.sampling}' make ${groupCount(plan)}`,
  );
}

/**
 * The weights `[K·B, …N]` (copy-major rows) of unit credit from the rows' time-mean output `s̄` and
 * credit ∂L_r/∂s̄ `[K·B, …N]`: ḡ^{−k}(s̄^k − s̄^{−k})/(K·B), the means over the other groups of copies.
 */
export function unitWeights(mean: tf.Tensor, credit: tf.Tensor, plan: CopyPlan, batch: number): tf.Tensor {
  const K = plan.copies;
  checkGroups(plan);
  check(
    mean.shape[0] === K * batch && credit.shape.join() === mean.shape.join(),
    () => `unit credit: mean output [${mean.shape.join(', ')}] and credit [${credit.shape.join(', ')}] must both be [${K * batch}, …units]`,
  );
  // others[k][k'] = 1/n where k' is in another group than k: the leave-one-group-out means are one product
  const others = othersMatrix(groupsOf(plan));
  return tf.tidy(() => {
    const o = tf.tensor2d(others, [K, K]);
    const rows = (t: tf.Tensor) => tf.reshape(t, [K, -1]);
    const s = rows(mean);
    const looS = tf.matMul(o, s),
      looG = tf.matMul(o, rows(credit));
    return tf.reshape(tf.mul(looG, tf.sub(s, looS)).div(K * batch), mean.shape);
  });
}

/**
 * Unit credit taken step by step, each spike's score weighted only by what its layer outputs from
 * that step on (causality: a decision at step t cannot change an earlier output, so the earlier
 * terms of s̄ − s̄′ have zero mean against its score and only add variance — REINFORCE's
 * reward-to-go). With s̄ = Σ_τ a_τ s_τ the read's time weights, step t's weight is
 * ḡ^{−k}(R_t^k − R_t^{−k}) with R_t = Σ_{τ≥t} a_τ s_τ: the same expectation as {@link unitWeights},
 * whose weight is step 0's at every step.
 */
export interface UnitCredit {
  /** ḡ^{−k}/(K·B), times the pass's share `[K·B, …N]` (copy-major rows). */
  readonly factor: tf.Tensor;
  /** a_τ: the weight of step τ's output in the mean the read takes (one per step of the layer). */
  readonly timeWeights: readonly number[];
  /** Each copy's group of independent copies (k's weights are centred on the copies of the other groups). */
  readonly groups: Int32Array;
}

/** What a layer read by a linear map takes with unit credit: weights constant over time, or step by step. */
export type UnitWeights = tf.Tensor | UnitCredit;

/** Frees a {@link UnitWeights}. */
export function disposeUnits(u: UnitWeights | undefined): void {
  if (u) (isStepped(u) ? u.factor : u).dispose();
}

/** Whether unit weights are a {@link UnitCredit} (step by step) rather than one tensor. */
export function isStepped(u: UnitWeights): u is UnitCredit {
  return 'timeWeights' in u;
}

/** The `[K, K]` matrix whose row k averages the copies of the groups other than k's (`groups`: each copy's). */
function othersMatrix(groups: ArrayLike<number>): Float32Array {
  const K = groups.length;
  const others = new Float32Array(K * K);
  for (let k = 0; k < K; k++) {
    let n = 0;
    for (let m = 0; m < K; m++) if (groups[m] !== groups[k]) n++;
    for (let m = 0; m < K; m++) if (groups[m] !== groups[k]) others[k * K + m] = 1 / n;
  }
  return others;
}

/** Each copy's group under `plan`. */
function groupsOf(plan: CopyPlan): Int32Array {
  return Int32Array.from({ length: plan.copies }, (_, k) => groupOf(plan, k));
}

/** {@link UnitCredit} from the rows' credit ∂L_r/∂s̄ `[K·B, …N]` and the read's time weights. */
export function unitCredit(credit: tf.Tensor, plan: CopyPlan, batch: number, timeWeights: readonly number[], scale = 1): UnitCredit {
  const K = plan.copies;
  checkGroups(plan);
  check(credit.shape[0] === K * batch, () => `unit credit: credit [${credit.shape.join(', ')}] must be [${K * batch}, …units]`);
  const groups = groupsOf(plan);
  const factor = tf.tidy(() =>
    tf.reshape(tf.mul(tf.matMul(tf.tensor2d(othersMatrix(groups), [K, K]), tf.reshape(credit, [K, -1])), scale / (K * batch)), credit.shape),
  );
  return { factor, timeWeights, groups };
}

/**
 * Step t's weights of a {@link UnitCredit}, asked for from the last step to the first with the
 * layer's output at each: the running sum R_t = R_{t+1} + a_t s_t, centred on the other groups' mean,
 * times the credit — and times the step's scores `seed` where given (one pass on wasm: credit-kernel.ts).
 */
export function creditSteps(c: UnitCredit): {
  readonly steps: number;
  at(t: number, output: tf.Tensor, seed?: tf.Tensor): tf.Tensor;
  dispose(): void;
} {
  const K = c.groups.length;
  let others: tf.Tensor | undefined;
  let sum: tf.Tensor | undefined;
  let next = c.timeWeights.length - 1;
  return {
    steps: c.timeWeights.length,
    at(t, output, seed) {
      check(t === next, () => `unit credit: step ${t} asked for where step ${next} was due (the steps run from the last to the first)`);
      next--;
      const a = c.timeWeights[t]!;
      const fused = creditStep(sum, output, a, c.factor, c.groups, seed);
      if (fused) {
        sum?.dispose();
        sum = fused[0];
        return fused[1];
      }
      const r = tf.tidy(() => {
        const term = tf.mul(output, a);
        return sum ? tf.add(sum, term) : term;
      });
      sum?.dispose();
      sum = r;
      others ??= tf.tensor2d(othersMatrix(c.groups), [K, K]);
      const o = others;
      return tf.tidy(() => {
        const rows = tf.reshape(r, [K, -1]);
        const w = tf.mul(c.factor, tf.reshape(tf.sub(rows, tf.matMul(o, rows)), r.shape));
        return seed ? tf.mul(w, seed) : w;
      });
    },
    dispose() {
      sum?.dispose();
      others?.dispose();
    },
  };
}
