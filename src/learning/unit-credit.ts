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
import { groupCount, groupOf, type CopyPlan } from './sampling.js';

/**
 * The weights `[K·B, …N]` (copy-major rows) of unit credit from the rows' time-mean output `s̄` and
 * credit ∂L_r/∂s̄ `[K·B, …N]`: ḡ^{−k}(s̄^k − s̄^{−k})/(K·B), the means over the other groups of copies.
 */
export function unitWeights(mean: tf.Tensor, credit: tf.Tensor, plan: CopyPlan, batch: number): tf.Tensor {
  const K = plan.copies;
  check(
    groupCount(plan) > 1,
    () =>
      `unit credit: needs at least two independent groups of copies to compare each copy with; ${K} copies with sampling '${plan.sampling}' make ${groupCount(plan)}`,
  );
  check(
    mean.shape[0] === K * batch && credit.shape.join() === mean.shape.join(),
    () => `unit credit: mean output [${mean.shape.join(', ')}] and credit [${credit.shape.join(', ')}] must both be [${K * batch}, …units]`,
  );
  // others[k][k'] = 1 where k' is in another group than k: the leave-one-group-out means are one product
  const others = new Float32Array(K * K);
  for (let k = 0; k < K; k++) {
    let n = 0;
    for (let m = 0; m < K; m++) if (groupOf(plan, m) !== groupOf(plan, k)) n++;
    for (let m = 0; m < K; m++) if (groupOf(plan, m) !== groupOf(plan, k)) others[k * K + m] = 1 / n;
  }
  return tf.tidy(() => {
    const o = tf.tensor2d(others, [K, K]);
    const rows = (t: tf.Tensor) => tf.reshape(t, [K, -1]);
    const s = rows(mean);
    const looS = tf.matMul(o, s),
      looG = tf.matMul(o, rows(credit));
    return tf.reshape(tf.mul(looG, tf.sub(s, looS)).div(K * batch), mean.shape);
  });
}
