/**
 * Current-based LIF, the update of snnTorch's `Synaptic`: an exponentially decaying synaptic current
 * feeds the LIF membrane,
 *
 *     i_t = α i_{t−1} + I_t,   then the LIF update (lif.ts) with i_t as its input current.
 *
 * Reverse filter: the LIF membrane adjoint, filtered once more through the synapse,
 * μ_t = m_t λ_t + α μ_{t+1}; μ_t is the input current's adjoint.
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
  membraneNir,
  membraneState,
  membraneTangent,
  openGate,
  spikeFire,
  spikeTangent,
  timeConstants,
  type LIFOptions,
  type LIFParams,
} from './lif.js';
import { f64, nirNode } from './nir.js';
import type { Coefficients, Fire, NeuronModel, NeuronState } from './model.js';

export interface SynapticParams extends Omit<LIFParams, 'kind'> {
  readonly kind: 'synaptic';
  /** Decay of the synaptic current per step. */
  readonly alpha: number;
}

export function synaptic(options: LIFOptions & { readonly alpha?: number } = {}): SynapticParams {
  checkKeys('synaptic', options, [...LIF_KEYS, 'alpha']);
  const alpha = options.alpha ?? 0.9;
  checkInRange('synaptic', 'alpha', alpha, 0, 1);
  return { kind: 'synaptic', alpha, ...lifCore('synaptic', options) };
}

export function synapticStep(current: tf.Tensor, state: NeuronState, p: SynapticParams, fire: Fire, t: number, c: Coefficients = {}): NeuronState {
  const threshold = c['threshold'] ?? p.threshold;
  return tf.tidy(() => {
    const synaptic = tf.add(tf.mul(p.alpha, state['synaptic']!), current);
    return { ...integrateAndFire(synaptic, state, p, c['beta'] ?? p.beta, threshold, threshold, fire, t), synaptic };
  });
}

export const synapticModel = {
  kind: 'synaptic',
  role: 'spiking',
  fromRecord: (o) => synaptic(o as LIFOptions),
  fields: (p) => ['synaptic', ...(p.refractory > 0 ? ['refractory'] : [])],
  preset: (o) => synaptic(o),
  learnable: membraneLearnable,
  bounds: membraneBounds,
  initialState: (p, shape) => membraneState(p, shape, ['synaptic']),
  step: synapticStep,
  fire: (_p, noise, key, scale) => spikeFire(noise, key, scale),
  decides: (p, previous) => (p.refractory > 0 ? openGate(previous) : undefined),
  adjointFields: (_p, learned) => membraneAdjointFields(learned),
  adjoint(p, a) {
    const m = membraneAdjoint(p, a);
    const muNext = a.carry?.[1];
    const mu = muNext === undefined ? m.current : tf.add(m.current, tf.mul(p.alpha, muNext));
    return { current: mu, carry: [m.lambda, mu], coefficients: m.coefficients };
  },
  tangent(p, x) {
    const threshold = x.coefficients['threshold'] ?? p.threshold;
    const dThreshold = x.dCoefficients['threshold'] ?? 0;
    const di = x.dPrevious['synaptic'];
    const synaptic = di ? tf.add(tf.mul(p.alpha, di), x.dCurrent) : x.dCurrent;
    const membrane = membraneTangent(p, x, synaptic, dThreshold, threshold);
    return { synaptic, membrane, spikes: spikeTangent(x, membrane, threshold, dThreshold) };
  },
  // NIR's CubaLIF: α = 1 − dt/τ_syn, β = 1 − dt/τ_mem; w_in = τ_syn/dt and R = τ_mem/dt leave the input unscaled
  nir(p, c) {
    const { v_threshold, metadata } = membraneNir(p, c);
    const beta = c.perNeuron('beta', p.beta);
    if (beta.some((b) => b >= 1) || p.alpha >= 1) c.refuse('CubaLIF needs decays below 1 (β and α); NIR has no current-based integrate-and-fire');
    const mem = timeConstants(beta, c.dt),
      syn = timeConstants(new Float64Array(beta.length).fill(p.alpha), c.dt);
    const zeros = new Float64Array(beta.length);
    return nirNode(
      'CubaLIF',
      {
        tau_syn: f64(c.shape, syn.tau),
        tau_mem: f64(c.shape, mem.tau),
        r: f64(c.shape, mem.r),
        v_leak: f64(c.shape, zeros),
        v_threshold,
        w_in: f64(c.shape, syn.r),
      },
      metadata,
    );
  },
} satisfies NeuronModel<SynapticParams>;
