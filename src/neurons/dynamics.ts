/**
 * Neuron dynamics as pure step functions (Norse's pattern): `step(current, state, params, fire, t)`
 * returns the next state and never mutates or disposes its inputs. Each model's step lives in its
 * own file; these two entry points dispatch through the registry. One generic time loop
 * (`src/sim/loop.ts`) runs any of them over a sequence.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Coefficients, Fire, NeuronState } from './model.js';
import { modelOf, type NeuronParams } from './registry.js';

export type { NeuronState, Coefficients } from './model.js';
export { stateTensors } from './model.js';
export { lifStep } from './lif.js';
export { synapticStep } from './synaptic.js';
export { alifStep, alifThreshold } from './alif.js';
export { readoutStep } from './readout.js';
export { gruStep } from './gru.js';
export { equationStep } from './equation.js';

/** The resting state for a batch of neurons of shape `[B, …N]`. */
export function initialState(params: NeuronParams, shape: readonly number[]): NeuronState {
  return modelOf(params).initialState(params, shape);
}

/** One step of whichever model `params` describes. */
export function neuronStep(current: tf.Tensor, state: NeuronState, params: NeuronParams, fire: Fire, t: number, c: Coefficients = {}): NeuronState {
  return modelOf(params).step(current, state, params, fire, t, c);
}

/** How a unit fires without noise, and with it (`scale`: a learned per-neuron log noise scale). */
export function fireFor(params: NeuronParams, noise?: import('./noise.js').EscapeNoise, key = 0, scale?: tf.Tensor): Fire {
  return modelOf(params).fire(params, noise, key, scale);
}
