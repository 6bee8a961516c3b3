/**
 * Adaptive-threshold LIF (ALIF, Bellec et al. 2018, "Long short-term memory and learning-to-learn
 * in networks of spiking neurons"):
 *
 *     a_t = ρ a_{t−1} + s_{t−1}
 *     ϑ_t = ϑ + b a_t
 *     u_t = β u_{t−1} + m_t I_t − ϑ_{t−1} s_{t−1}      (reset 'subtract' removes the threshold it crossed)
 *     s_t = m_t H(u_t − ϑ_t)
 *
 * The moving threshold ϑ_t is a state field (`threshold`), so a run can record it. With the spikes
 * held fixed the adaptation is fixed too: the reverse filter is LIF's.
 */
import * as tf from '@tensorflow/tfjs';
import { checkInRange, checkKeys } from '../core/errors.js';
import {
  integrateAndFire,
  LIF_KEYS,
  lifCore,
  membraneAdjoint,
  membraneAdjointFields,
  membraneBounds,
  membraneLearnable,
  membraneState,
  membraneTangent,
  openGate,
  spikeFire,
  spikeTangent,
  type LIFOptions,
  type LIFParams,
} from './lif.js';
import type { Coef, Coefficients, Fire, NeuronModel, NeuronState } from './model.js';

export interface ALIFParams extends Omit<LIFParams, 'kind'> {
  readonly kind: 'alif';
  /** Decay of the adaptation variable per step (ρ). */
  readonly rho: number;
  /** Threshold increase per unit of adaptation (b in ϑ_t = ϑ + b a_t). */
  readonly adaptation: number;
}

export function alif(options: LIFOptions & { readonly rho?: number; readonly adaptation?: number } = {}): ALIFParams {
  checkKeys('alif', options, [...LIF_KEYS, 'rho', 'adaptation']);
  const rho = options.rho ?? 0.95;
  const adaptation = options.adaptation ?? 0.2;
  checkInRange('alif', 'rho', rho, 0, 1);
  checkInRange('alif', 'adaptation', adaptation, 0, Number.MAX_VALUE);
  return { kind: 'alif', rho, adaptation, ...lifCore('alif', options) };
}

/** ALIF threshold ϑ_t = ϑ + b a_t. */
export function alifThreshold(p: ALIFParams, adaptation: tf.Tensor, base: Coef = p.threshold): tf.Tensor {
  return tf.tidy(() => tf.add(base, tf.mul(p.adaptation, adaptation)));
}

export function alifStep(current: tf.Tensor, state: NeuronState, p: ALIFParams, fire: Fire, t: number, c: Coefficients = {}): NeuronState {
  const base = c['threshold'] ?? p.threshold;
  return tf.tidy(() => {
    const previousThreshold = alifThreshold(p, state['adaptation']!, base);
    const adaptation = tf.add(tf.mul(p.rho, state['adaptation']!), state.spikes);
    const threshold = alifThreshold(p, adaptation, base);
    return { ...integrateAndFire(current, state, p, c['beta'] ?? p.beta, previousThreshold, threshold, fire, t), adaptation, threshold };
  });
}

export const alifModel = {
  kind: 'alif',
  role: 'spiking',
  fromRecord: (o) => alif(o as LIFOptions),
  fields: (p) => ['adaptation', 'threshold', ...(p.refractory > 0 ? ['refractory'] : [])],
  preset: (o) => alif(o),
  learnable: membraneLearnable,
  bounds: membraneBounds,
  initialState(p, shape) {
    const s = membraneState(p, shape, ['adaptation']);
    return { ...s, threshold: tf.fill([...shape], p.threshold) };
  },
  step: alifStep,
  fire: (_p, noise, key, scale) => spikeFire(noise, key, scale),
  decides: (p, previous) => (p.refractory > 0 ? openGate(previous) : undefined),
  adjointFields: (_p, learned) => membraneAdjointFields(learned),
  adjoint: (p, a) => membraneAdjoint(p, a),
  tangent(p, x) {
    const base = x.coefficients['threshold'] ?? p.threshold;
    const dBase = x.dCoefficients['threshold'] ?? 0;
    const da0 = x.dPrevious['adaptation'];
    const ds0 = x.dPrevious['spikes'];
    // da_t = ρ da_{t−1} + ds_{t−1}; dϑ_t = dϑ + b da_t
    const adaptation = da0 && ds0 ? tf.add(tf.mul(p.rho, da0), ds0) : (ds0 ?? (da0 ? tf.mul(p.rho, da0) : tf.zerosLike(x.next.membrane)));
    const previousThreshold = alifThreshold(p, x.previous['adaptation']!, base);
    const dPreviousThreshold = da0 ? tf.add(dBase, tf.mul(p.adaptation, da0)) : dBase;
    const dThreshold = tf.add(dBase, tf.mul(p.adaptation, adaptation));
    const membrane = membraneTangent(p, x, x.dCurrent, dPreviousThreshold, previousThreshold);
    return { adaptation, threshold: dThreshold, membrane, spikes: spikeTangent(x, membrane, x.next['threshold']!, dThreshold) };
  },
} satisfies NeuronModel<ALIFParams>;
