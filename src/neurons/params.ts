/**
 * Neuron parameter records: small, immutable, validated once at construction, serialisable.
 *
 * Each constructor has defaults a researcher would expect and rejects what no model means
 * (β outside [0, 1], a threshold ≤ 0, an unknown reset mode) with a message naming the fix.
 */
import { check, checkInRange, checkInteger, checkKeys, checkOneOf, checkPositive } from '../errors.js';

export const RESET_MODES = ['subtract', 'zero', 'none'] as const;
/** What a spike does to the membrane at the next step: subtract the threshold, set it to zero, or nothing. */
export type ResetMode = (typeof RESET_MODES)[number];

/** Leaky integrate-and-fire; `beta = 1` is integrate-and-fire. */
export interface LIFParams {
  readonly kind: 'lif';
  readonly beta: number;
  readonly threshold: number;
  readonly reset: ResetMode;
  /** Steps after a spike during which the neuron neither integrates input nor fires. */
  readonly refractory: number;
}

/** Current-based LIF: an exponentially decaying synaptic current feeds the LIF membrane. */
export interface SynapticParams extends Omit<LIFParams, 'kind'> {
  readonly kind: 'synaptic';
  readonly alpha: number;
}

/** Adaptive-threshold LIF (Bellec et al. 2018): each spike raises the threshold, which decays back. */
export interface ALIFParams extends Omit<LIFParams, 'kind'> {
  readonly kind: 'alif';
  /** Decay of the adaptation variable per step (ρ). */
  readonly rho: number;
  /** Threshold increase per unit of adaptation (b in ϑ_t = ϑ + b a_t). */
  readonly adaptation: number;
}

/** Non-spiking leaky integrator; its output is its membrane. */
export interface ReadoutParams {
  readonly kind: 'readout';
  readonly beta: number;
}

export const ACTIVATIONS = ['relu', 'tanh', 'sigmoid', 'identity'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

/**
 * A memoryless analog unit, the building block of conventional (non-spiking) layers: its output
 * is φ(I_t), with noise σε_t added to the pre-activation I_t when trained by LR.
 */
export interface AnalogParams {
  readonly kind: 'analog';
  readonly activation: Activation;
}

/**
 * Gated recurrent unit (Cho et al. 2014, PyTorch's convention), the cell of a `gru` layer:
 *
 *     r = σ(a_r),  z = σ(a_z),  n = tanh(a_n),  h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}
 *     a_r = x W_r + b_r + h_{t−1} U_r + c_r,   a_z likewise,   a_n = x W_n + b_n + r ⊙ (h_{t−1} U_n + c_n)
 *
 * In LR training noise σε is added to each of the three pre-activations.
 */
export interface GRUParams {
  readonly kind: 'gru';
}

export type SpikingParams = LIFParams | SynapticParams | ALIFParams;
/** Units a hidden layer can have, and that carry noise in LR training. */
export type UnitParams = SpikingParams | AnalogParams | GRUParams;
export type NeuronParams = UnitParams | ReadoutParams;
export const NEURON_KINDS = ['lif', 'synaptic', 'alif', 'readout', 'analog', 'gru'] as const;

export interface LIFOptions {
  readonly beta?: number;
  readonly threshold?: number;
  readonly reset?: ResetMode;
  readonly refractory?: number;
}

const LIF_KEYS = ['beta', 'threshold', 'reset', 'refractory'];

function lifCore(where: string, o: LIFOptions): Omit<LIFParams, 'kind'> {
  const p = { beta: o.beta ?? 0.95, threshold: o.threshold ?? 1, reset: o.reset ?? 'subtract', refractory: o.refractory ?? 0 };
  checkInRange(where, 'beta', p.beta, 0, 1);
  checkPositive(where, 'threshold', p.threshold);
  checkOneOf(where, 'reset mode', p.reset, RESET_MODES);
  checkInteger(where, 'refractory', p.refractory, 0);
  return p;
}

/**
 * Leaky integrate-and-fire, the discrete update of snnTorch's `Leaky`:
 *
 *     u_t = β u_{t−1} + I_t − ϑ s_{t−1}          reset 'subtract'
 *     u_t = β (1 − s_{t−1}) u_{t−1} + I_t          reset 'zero'
 *     u_t = β u_{t−1} + I_t                        reset 'none'
 *     s_t = H(u_t − ϑ)                             (H(0) = 0)
 *
 * @example lif({ beta: 0.9, threshold: 1, reset: 'zero', refractory: 2 })
 */
export function lif(options: LIFOptions = {}): LIFParams {
  checkKeys('lif', options, LIF_KEYS);
  return { kind: 'lif', ...lifCore('lif', options) };
}

/** Integrate-and-fire: LIF with no leak (β = 1). */
export function ifNeuron(options: Omit<LIFOptions, 'beta'> = {}): LIFParams {
  checkKeys('if', options, ['threshold', 'reset', 'refractory']);
  return { kind: 'lif', ...lifCore('if', { ...options, beta: 1 }) };
}

/**
 * Current-based LIF, the update of snnTorch's `Synaptic`:
 *
 *     i_t = α i_{t−1} + I_t,   then the LIF update with i_t as its input current.
 */
export function synaptic(options: LIFOptions & { readonly alpha?: number } = {}): SynapticParams {
  checkKeys('synaptic', options, [...LIF_KEYS, 'alpha']);
  const alpha = options.alpha ?? 0.9;
  checkInRange('synaptic', 'alpha', alpha, 0, 1);
  return { kind: 'synaptic', alpha, ...lifCore('synaptic', options) };
}

/**
 * Adaptive-threshold LIF (ALIF, Bellec et al. 2018, "Long short-term memory and learning-to-learn
 * in networks of spiking neurons"):
 *
 *     a_t = ρ a_{t−1} + s_{t−1}
 *     ϑ_t = ϑ + b a_t
 *     u_t = β u_{t−1} + I_t − ϑ_{t−1} s_{t−1}      (reset 'subtract' removes the threshold it crossed)
 *     s_t = H(u_t − ϑ_t)
 */
export function alif(options: LIFOptions & { readonly rho?: number; readonly adaptation?: number } = {}): ALIFParams {
  checkKeys('alif', options, [...LIF_KEYS, 'rho', 'adaptation']);
  const rho = options.rho ?? 0.95;
  const adaptation = options.adaptation ?? 0.2;
  checkInRange('alif', 'rho', rho, 0, 1);
  checkInRange('alif', 'adaptation', adaptation, 0, Number.MAX_VALUE);
  return { kind: 'alif', rho, adaptation, ...lifCore('alif', options) };
}

/** Non-spiking leaky readout: u_t = β u_{t−1} + I_t; the output is u_t. */
export function readoutNeuron(options: { readonly beta?: number } = {}): ReadoutParams {
  checkKeys('readout', options, ['beta']);
  const beta = options.beta ?? 0.95;
  checkInRange('readout', 'beta', beta, 0, 1);
  return { kind: 'readout', beta };
}

/** A memoryless analog unit with activation φ (relu, tanh, sigmoid or identity). */
export function analog(options: { readonly activation?: Activation } = {}): AnalogParams {
  checkKeys('analog', options, ['activation']);
  const activation = options.activation ?? 'relu';
  checkOneOf('analog', 'activation', activation, ACTIVATIONS);
  return { kind: 'analog', activation };
}

/** Validates a neuron record that came from a file or a config (not from the constructors above). */
export function neuronFromRecord(record: unknown, where = 'neuron'): NeuronParams {
  check(typeof record === 'object' && record !== null, () => `${where}: expected an object with a 'kind', got ${JSON.stringify(record)}`);
  const { kind, ...rest } = record as { kind?: unknown } & Record<string, unknown>;
  checkOneOf(where, 'neuron kind', kind, NEURON_KINDS);
  switch (kind) {
    case 'lif':
      return lif(rest as LIFOptions);
    case 'synaptic':
      return synaptic(rest as LIFOptions);
    case 'alif':
      return alif(rest as LIFOptions);
    case 'readout':
      return readoutNeuron(rest as { beta?: number });
    case 'analog':
      return analog(rest as { activation?: Activation });
    case 'gru':
      checkKeys(where, rest, []);
      return { kind: 'gru' };
  }
}

export function isSpiking(p: NeuronParams): p is SpikingParams {
  return p.kind === 'lif' || p.kind === 'synaptic' || p.kind === 'alif';
}

/** Units that take noise in LR training: spiking neurons and analog units (not the readout). */
export function isUnit(p: NeuronParams): p is UnitParams {
  return p.kind !== 'readout';
}
