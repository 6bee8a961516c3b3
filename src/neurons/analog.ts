/**
 * A memoryless analog unit, the building block of conventional (non-spiking) layers: its output is
 * φ(I_t), or φ(I_t + σε_t) with noise in LR training. Its membrane holds the pre-activation I_t;
 * its output sits in the `spikes` slot, which is what the next layer and recurrent weights read.
 * With no memory, its reverse filter is its seed.
 */
import * as tf from '@tensorflow/tfjs';
import { checkKeys, checkOneOf } from '../core/errors.js';
import { ACTIVATIONS, activationFire, noisyActivationFire, type Activation } from './firing.js';
import type { NeuronModel, NeuronState } from './model.js';

export { ACTIVATIONS, type Activation } from './firing.js';

export interface AnalogParams {
  readonly kind: 'analog';
  readonly activation: Activation;
}

export function analog(options: { readonly activation?: Activation } = {}): AnalogParams {
  checkKeys('analog', options, ['activation']);
  const activation = options.activation ?? 'relu';
  checkOneOf('analog', 'activation', activation, ACTIVATIONS);
  return { kind: 'analog', activation };
}

/** φ'(x) for the tangent. */
function slope(activation: Activation, x: tf.Tensor): tf.Tensor {
  switch (activation) {
    case 'relu':
      return tf.step(x);
    case 'tanh':
      return tf.sub(1, tf.square(tf.tanh(x)));
    case 'sigmoid': {
      const s = tf.sigmoid(x);
      return tf.mul(s, tf.sub(1, s));
    }
    case 'identity':
      return tf.onesLike(x);
  }
}

/** Currents shared by the noise copies (`[B, …N]` against a `[K, B, …N]` state) broadcast here. */
function broadcast(current: tf.Tensor, state: NeuronState): tf.Tensor {
  return current.shape.length === state.membrane.shape.length ? current.clone() : tf.broadcastTo(current, state.membrane.shape);
}

export const analogModel = {
  kind: 'analog',
  role: 'analog',
  fromRecord: (o) => analog(o as { activation?: Activation }),
  fields: () => [],
  learnable: () => ({}),
  initialState: (_p, shape) => ({ membrane: tf.zeros([...shape]), spikes: tf.zeros([...shape]) }),
  step(current, state, _p, fire, t) {
    const membrane = broadcast(current, state);
    return { membrane, spikes: fire(membrane, 0, t) };
  },
  fire: (p, noise, key, scale) => (noise ? noisyActivationFire(p.activation, noise, key, scale) : activationFire(p.activation)),
  adjointFields: () => [],
  adjoint: (_p, a) => ({ current: a.seed, carry: [], coefficients: {} }),
  tangent: (p, x) => ({ membrane: x.dCurrent, spikes: tf.mul(slope(p.activation, x.current), x.dCurrent) }),
} satisfies NeuronModel<AnalogParams>;
