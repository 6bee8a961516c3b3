/**
 * Non-spiking leaky readout: u_t = β u_{t−1} + I_t; the layer's output is u_t. It carries no noise
 * and is trained by the exact derivative of the loss with respect to its membrane, filtered back
 * through its leak: λ_t = ∂L/∂u_t + β λ_{t+1}.
 */
import * as tf from '@tensorflow/tfjs';
import { checkInRange, checkKeys } from '../core/errors.js';
import { heaviside } from './firing.js';
import { membraneAdjoint, membraneFusedAdjoint, membraneState, membraneTangent, timeConstants, type MembraneParams } from './lif.js';
import { f64, nirNode } from './nir.js';
import type { Coefficients, NeuronModel, NeuronState } from './model.js';

export interface ReadoutParams {
  readonly kind: 'readout';
  readonly beta: number;
}

export function readoutNeuron(options: { readonly beta?: number } = {}): ReadoutParams {
  checkKeys('readout', options, ['beta']);
  const beta = options.beta ?? 0.95;
  checkInRange('readout', 'beta', beta, 0, 1);
  return { kind: 'readout', beta };
}

/** A leaky integrator with no reset: the LIF membrane core with reset 'none'. */
const leaky = (p: ReadoutParams): MembraneParams => ({ beta: p.beta, threshold: 1, reset: 'none', refractory: 0 });

export function readoutStep(current: tf.Tensor, state: NeuronState, p: ReadoutParams, c: Coefficients = {}): NeuronState {
  // The (all-zero) spikes tensor is carried over, not copied: the time loop disposes by identity.
  return { membrane: tf.tidy(() => tf.add(tf.mul(c['beta'] ?? p.beta, state.membrane), current)), spikes: state.spikes };
}

export const readoutModel = {
  kind: 'readout',
  role: 'readout',
  fromRecord: (o) => readoutNeuron(o as { beta?: number }),
  fields: () => [],
  learnable: () => ({}),
  initialState: (p, shape) => membraneState(leaky(p), shape),
  step: (current, state, p, _fire, _t, c) => readoutStep(current, state, p, c),
  fire: () => heaviside,
  adjointFields: () => [],
  // u_t = Σ_{τ≤t} β^(t−τ) I_τ, so mean_t u_t = Σ_τ I_τ (1/T) Σ_{k<T−τ} β^k
  meanWeights(p, steps) {
    const v = new Float64Array(steps);
    for (let tau = steps - 1, sum = 0, power = 1; tau >= 0; tau--, power *= p.beta) v[tau] = (sum += power) / steps;
    return v;
  },
  adjoint: (p, a) => membraneAdjoint(leaky(p), a),
  fusedAdjoint: (p, o) => membraneFusedAdjoint(leaky(p), o),
  tangent: (p, x) => ({ membrane: membraneTangent(leaky(p), x, x.dCurrent, 0, 0) }),
  // β < 1: NIR's leaky integrator LI (β = 0: τ = dt, the output is the input); β = 1: the integrator I, R = 1
  nir(p, c) {
    const beta = c.perNeuron('beta', p.beta);
    if (beta.every((b) => b === 1)) return nirNode('I', { r: f64(c.shape, beta) });
    const { tau, r } = timeConstants(beta, c.dt);
    return nirNode('LI', { tau: f64(c.shape, tau), r: f64(c.shape, r), v_leak: f64(c.shape, new Float64Array(tau.length)) });
  },
} satisfies NeuronModel<ReadoutParams>;
