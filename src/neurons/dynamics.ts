/**
 * Neuron dynamics as pure step functions (Norse's pattern): `step(current, state, params, fire, t)`
 * returns the next state and never mutates or disposes its inputs. One generic time loop
 * (`src/sim/loop.ts`) runs any of them over a sequence.
 *
 * State tensors all have the shape of the layer's output for one step, `[B, …N]`.
 */
import * as tf from '@tensorflow/tfjs';
import type { ALIFParams, AnalogParams, GRUParams, LIFParams, NeuronParams, ReadoutParams, SynapticParams } from './params.js';
import type { Coef, Fire } from './firing.js';

export interface NeuronState {
  /** u_t, before the reset that s_t will cause at step t + 1. */
  readonly membrane: tf.Tensor;
  /** s_t (zeros for a readout). */
  readonly spikes: tf.Tensor;
  /** i_t, synaptic current (current-based LIF only). */
  readonly synaptic?: tf.Tensor;
  /** a_t, adaptation (ALIF only). */
  readonly adaptation?: tf.Tensor;
  /** Steps of refractoriness left after step t (only when `refractory > 0`). */
  readonly refractory?: tf.Tensor;
}

/**
 * Per-neuron coefficients that override the record's numbers (learnable decay and threshold):
 * tensors broadcastable against the state, e.g. `[N]` for a dense layer, `[C]` for a conv layer.
 */
export interface Coefficients {
  readonly beta?: Coef;
  readonly threshold?: Coef;
  /** GRU: recurrent weights U `[units, 3·units]` and their bias c `[3·units]` (gates r, z, n). */
  readonly recurrent?: tf.Tensor;
  readonly recurrentBias?: tf.Tensor;
}

/** The resting state for a batch of neurons of shape `[B, …N]`. */
export function initialState(params: NeuronParams, shape: readonly number[]): NeuronState {
  const zeros = () => tf.zeros([...shape]);
  const state: { -readonly [K in keyof NeuronState]: NeuronState[K] } = { membrane: zeros(), spikes: zeros() };
  if (params.kind === 'synaptic') state.synaptic = zeros();
  if (params.kind === 'alif') state.adaptation = zeros();
  if ((params.kind === 'lif' || params.kind === 'synaptic' || params.kind === 'alif') && params.refractory > 0) state.refractory = zeros();
  return state;
}

/** Every tensor a state holds (for disposal). */
export function stateTensors(state: NeuronState): tf.Tensor[] {
  return [state.membrane, state.spikes, state.synaptic, state.adaptation, state.refractory].filter(
    (t): t is tf.Tensor => t !== undefined,
  );
}

/**
 * The LIF membrane update shared by every spiking model, given the effective input current:
 *
 *     subtract: u_t = β u_{t−1} + m_t I_t − ϑ_{t−1} s_{t−1}
 *     zero:     u_t = β (1 − s_{t−1}) u_{t−1} + m_t I_t
 *     none:     u_t = β u_{t−1} + m_t I_t
 *     s_t = m_t · fire(u_t, ϑ_t)
 *
 * where m_t = 1 unless the neuron is refractory (it spiked within the last `refractory` steps),
 * in which case it neither integrates input nor fires.
 */
function integrateAndFire(
  current: tf.Tensor,
  state: NeuronState,
  p: Omit<LIFParams, 'kind'>,
  beta: Coef,
  previousThreshold: Coef,
  threshold: Coef,
  fire: Fire,
  t: number,
): { membrane: tf.Tensor; spikes: tf.Tensor; refractory?: tf.Tensor } {
  const open = state.refractory ? tf.cast(tf.lessEqual(state.refractory, 0), 'float32') : undefined;
  const input = open ? tf.mul(open, current) : current;
  let membrane: tf.Tensor;
  switch (p.reset) {
    case 'subtract':
      membrane = tf.sub(tf.add(tf.mul(beta, state.membrane), input), tf.mul(previousThreshold, state.spikes));
      break;
    case 'zero':
      membrane = tf.add(tf.mul(tf.mul(beta, tf.sub(1, state.spikes)), state.membrane), input);
      break;
    case 'none':
      membrane = tf.add(tf.mul(beta, state.membrane), input);
      break;
  }
  const fired = fire(membrane, threshold, t);
  if (!open || !state.refractory) return { membrane, spikes: fired };
  const spikes = tf.mul(open, fired);
  const left = tf.add(tf.mul(spikes, p.refractory), tf.mul(tf.sub(1, spikes), tf.relu(tf.sub(state.refractory, 1))));
  return { membrane, spikes, refractory: left };
}

/** Leaky integrate-and-fire (see {@link lif} for the equations). */
export function lifStep(current: tf.Tensor, state: NeuronState, p: LIFParams, fire: Fire, t: number, c: Coefficients = {}): NeuronState {
  const threshold = c.threshold ?? p.threshold;
  return tf.tidy(() => integrateAndFire(current, state, p, c.beta ?? p.beta, threshold, threshold, fire, t));
}

/** Current-based LIF: i_t = α i_{t−1} + I_t drives the LIF membrane. */
export function synapticStep(current: tf.Tensor, state: NeuronState, p: SynapticParams, fire: Fire, t: number, c: Coefficients = {}): NeuronState {
  const threshold = c.threshold ?? p.threshold;
  return tf.tidy(() => {
    const synaptic = tf.add(tf.mul(p.alpha, state.synaptic!), current);
    return { ...integrateAndFire(synaptic, state, p, c.beta ?? p.beta, threshold, threshold, fire, t), synaptic };
  });
}

/** ALIF threshold ϑ_t = ϑ + b a_t. */
export function alifThreshold(p: ALIFParams, adaptation: tf.Tensor, base: Coef = p.threshold): tf.Tensor {
  return tf.tidy(() => tf.add(base, tf.mul(p.adaptation, adaptation)));
}

/** Adaptive-threshold LIF: a_t = ρ a_{t−1} + s_{t−1}, ϑ_t = ϑ + b a_t. */
export function alifStep(current: tf.Tensor, state: NeuronState, p: ALIFParams, fire: Fire, t: number, c: Coefficients = {}): NeuronState {
  const base = c.threshold ?? p.threshold;
  return tf.tidy(() => {
    const previousThreshold = alifThreshold(p, state.adaptation!, base);
    const adaptation = tf.add(tf.mul(p.rho, state.adaptation!), state.spikes);
    const threshold = alifThreshold(p, adaptation, base);
    return { ...integrateAndFire(current, state, p, c.beta ?? p.beta, previousThreshold, threshold, fire, t), adaptation };
  });
}

/** Non-spiking leaky readout: u_t = β u_{t−1} + I_t. */
export function readoutStep(current: tf.Tensor, state: NeuronState, p: ReadoutParams, c: Coefficients = {}): NeuronState {
  // The (all-zero) spikes tensor is carried over, not copied: the time loop disposes by identity.
  return { membrane: tf.tidy(() => tf.add(tf.mul(c.beta ?? p.beta, state.membrane), current)), spikes: state.spikes };
}

/**
 * Analog unit: membrane = I_t (its pre-activation), output (in the `spikes` slot, which is what
 * the next layer and the recurrent weights read) = fire(I_t): φ(I_t), or φ(I_t + σε_t) with noise.
 */
export function analogStep(current: tf.Tensor, _state: NeuronState, _p: AnalogParams, fire: Fire, t: number): NeuronState {
  return { membrane: current.clone(), spikes: fire(current, 0, t) };
}

/**
 * GRU cell step. `current` is x W + b for the three gates `[…, 3U]`; the pre-activations a_r, a_z,
 * a_n are perturbed by fire(0) (σε with noise, zero without) and kept in `membrane`; h is `spikes`.
 */
export function gruStep(current: tf.Tensor, state: NeuronState, _p: GRUParams, fire: Fire, t: number, c: Coefficients): NeuronState {
  return tf.tidy(() => {
    const h = state.spikes;
    const units = h.shape[h.rank - 1]!;
    const lead = h.shape.slice(0, -1);
    let rec = tf.reshape(tf.matMul(tf.reshape(h, [-1, units]), c.recurrent!), [...lead, 3 * units]);
    if (c.recurrentBias) rec = tf.add(rec, c.recurrentBias);
    const drive = tf.add(current, tf.zerosLike(rec)); // broadcast shared currents to the state's shape
    const perturbation = fire(tf.zerosLike(rec), 0, t);
    const [dr, dz, dn] = tf.split(drive, 3, -1) as [tf.Tensor, tf.Tensor, tf.Tensor];
    const [rr, rz, rn] = tf.split(rec, 3, -1) as [tf.Tensor, tf.Tensor, tf.Tensor];
    const [er, ez, en] = tf.split(perturbation, 3, -1) as [tf.Tensor, tf.Tensor, tf.Tensor];
    const ar = tf.add(tf.add(dr, rr), er);
    const az = tf.add(tf.add(dz, rz), ez);
    const r = tf.sigmoid(ar);
    const an = tf.add(tf.add(dn, tf.mul(r, rn)), en);
    const z = tf.sigmoid(az);
    const hNext = tf.add(tf.mul(tf.sub(1, z), tf.tanh(an)), tf.mul(z, h));
    return { membrane: tf.concat([ar, az, an], -1), spikes: hNext };
  });
}

/** One step of whichever model `params` describes. */
export function neuronStep(
  current: tf.Tensor,
  state: NeuronState,
  params: NeuronParams,
  fire: Fire,
  t: number,
  c: Coefficients = {},
): NeuronState {
  switch (params.kind) {
    case 'lif':
      return lifStep(current, state, params, fire, t, c);
    case 'synaptic':
      return synapticStep(current, state, params, fire, t, c);
    case 'alif':
      return alifStep(current, state, params, fire, t, c);
    case 'readout':
      return readoutStep(current, state, params, c);
    case 'analog':
      return analogStep(current, state, params, fire, t);
    case 'gru':
      return gruStep(current, state, params, fire, t, c);
  }
}
