/**
 * Gated recurrent unit (Cho et al. 2014, PyTorch's convention), the cell of a `gru` layer:
 *
 *     r = σ(a_r),  z = σ(a_z),  n = tanh(a_n),  h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}
 *     a_r = x W_r + b_r + h_{t−1} U_r + c_r,   a_z likewise,   a_n = x W_n + b_n + r ⊙ (h_{t−1} U_n + c_n)
 *
 * `current` is x W + b for the three gates `[…, 3U]`; the recurrent weights U and bias c come as
 * coefficients `recurrent` and `recurrentBias`. In LR training the pre-activations are perturbed by
 * σε (kept in `membrane`); h is the `spikes` slot. Reverse filter: the pre-activations' adjoint is
 * the seed itself; the recurrent input's is (ψ_r, ψ_z, r ⊙ ψ_n).
 */
import * as tf from '@tensorflow/tfjs';
import { checkKeys } from '../core/errors.js';
import { activationFire, noisyActivationFire } from './firing.js';
import type { Coefficients, Fire, NeuronModel, NeuronState } from './model.js';

export interface GRUParams {
  readonly kind: 'gru';
}

const split3 = (x: tf.Tensor) => tf.split(x, 3, -1) as [tf.Tensor, tf.Tensor, tf.Tensor];

/** h U + c for the three gates, `[…, 3U]`. */
function recurrentDrive(h: tf.Tensor, u: tf.Tensor, c: tf.Tensor | undefined): tf.Tensor {
  const units = h.shape[h.rank - 1]!;
  const rec = tf.reshape(tf.matMul(tf.reshape(h, [-1, units]), u), [...h.shape.slice(0, -1), 3 * units]);
  return c ? tf.add(rec, c) : rec;
}

export function gruStep(current: tf.Tensor, state: NeuronState, _p: GRUParams, fire: Fire, t: number, c: Coefficients): NeuronState {
  return tf.tidy(() => {
    const h = state.spikes;
    const rec = recurrentDrive(h, c['recurrent'] as tf.Tensor, c['recurrentBias'] as tf.Tensor | undefined);
    const drive = tf.add(current, tf.zerosLike(rec)); // broadcast shared currents to the state's shape
    const perturbation = fire(tf.zerosLike(rec), 0, t);
    const [dr, dz, dn] = split3(drive);
    const [rr, rz, rn] = split3(rec);
    const [er, ez, en] = split3(perturbation);
    const ar = tf.add(tf.add(dr, rr), er);
    const az = tf.add(tf.add(dz, rz), ez);
    const r = tf.sigmoid(ar);
    const an = tf.add(tf.add(dn, tf.mul(r, rn)), en);
    const z = tf.sigmoid(az);
    const hNext = tf.add(tf.mul(tf.sub(1, z), tf.tanh(an)), tf.mul(z, h));
    return { membrane: tf.concat([ar, az, an], -1), spikes: hNext };
  });
}

export const gruModel = {
  kind: 'gru',
  role: 'analog',
  fromRecord(o, where) {
    checkKeys(where, o, []);
    return { kind: 'gru' };
  },
  fields: () => [],
  learnable: () => ({}),
  initialState: (_p, shape) => ({ membrane: tf.zeros([...shape.slice(0, -1), 3 * shape[shape.length - 1]!]), spikes: tf.zeros([...shape]) }),
  step: gruStep,
  fire: (_p, noise, key, scale) => (noise ? noisyActivationFire('identity', noise, key, scale) : activationFire('identity')),
  adjointFields: () => ['membrane'],
  adjoint(_p, a) {
    const units = a.seed.shape[a.seed.rank - 1]! / 3;
    const [pr, pz, pn] = split3(a.seed);
    // a_n holds r ⊙ (h U_n + c_n): its recurrent seed is r_t ⊙ ψ_n, with r_t = σ(a_r) as sampled
    const r = tf.sigmoid(tf.slice(a.trace.at('membrane', a.t), [0, 0], [-1, units]));
    return { current: a.seed, recurrent: tf.concat([pr, pz, tf.mul(r, pn)], -1), carry: [], coefficients: {} };
  },
  tangent(_p, x) {
    const h = x.previous.spikes,
      dh = x.dPrevious['spikes'];
    const u = x.coefficients['recurrent'] as tf.Tensor;
    const du = x.dCoefficients['recurrent'],
      dc = x.dCoefficients['recurrentBias'];
    // d(h U + c) = dh U + h dU + dc
    const terms = [dh ? recurrentDrive(dh, u, undefined) : undefined, du ? recurrentDrive(h, du, undefined) : undefined, dc].filter(
      (v): v is tf.Tensor => v !== undefined,
    );
    const dRec = terms.reduce((a, b) => tf.add(a, b), tf.zerosLike(x.next.membrane));
    const rec = recurrentDrive(h, u, x.coefficients['recurrentBias'] as tf.Tensor | undefined);
    const [ar, az, an] = split3(x.next.membrane);
    const [dDr, dDz, dDn] = split3(tf.add(x.dCurrent, tf.zerosLike(dRec)));
    const [dRr, dRz, dRn] = split3(dRec);
    const [, , rn] = split3(rec);
    const r = tf.sigmoid(ar),
      z = tf.sigmoid(az),
      n = tf.tanh(an);
    const dar = tf.add(dDr, dRr);
    const daz = tf.add(dDz, dRz);
    const dr = tf.mul(tf.mul(r, tf.sub(1, r)), dar);
    const dan = tf.add(dDn, tf.add(tf.mul(dr, rn), tf.mul(r, dRn)));
    const dz = tf.mul(tf.mul(z, tf.sub(1, z)), daz);
    const dn = tf.mul(tf.sub(1, tf.square(n)), dan);
    // h_t = (1 − z) n + z h_{t−1}
    let dhNext = tf.add(tf.mul(tf.sub(1, z), dn), tf.mul(dz, tf.sub(h, n)));
    if (dh) dhNext = tf.add(dhNext, tf.mul(z, dh));
    return { membrane: tf.concat([dar, daz, dan], -1), spikes: dhNext };
  },
} satisfies NeuronModel<GRUParams>;
