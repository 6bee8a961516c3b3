/**
 * Leaky integrate-and-fire, the discrete update of snnTorch's `Leaky`:
 *
 *     u_t = β u_{t−1} + m_t I_t − ϑ s_{t−1}          reset 'subtract'
 *     u_t = β (1 − s_{t−1}) u_{t−1} + m_t I_t          reset 'zero'
 *     u_t = β u_{t−1} + m_t I_t                        reset 'none'
 *     s_t = m_t H(u_t − ϑ)                             (H(0) = 0)
 *
 * m_t = 0 while the neuron is refractory (it spiked within the last `refractory` steps): it neither
 * integrates input nor fires. The membrane core here is shared by the synaptic and adaptive models.
 *
 * Reverse filter (spikes held fixed): λ_t = ψ_t + c_t λ_{t+1}, c_t = ∂u_{t+1}/∂u_t = β (β(1 − s_t)
 * with zero reset); the input current's adjoint is m_t λ_t.
 */
import * as tf from '@tensorflow/tfjs';
import { checkInRange, checkInteger, checkKeys, checkOneOf, checkPositive } from '../core/errors.js';
import { escapeFire, heaviside } from './firing.js';
import { fusedKernelsActive, lifAdjointStep, noisyLifStep } from '../kernels/noisy-lif-kernel.js';
import { lifRecurrentSequence } from '../kernels/lif-recurrent-sequence.js';
import { lifSequence, lifSequenceActive } from '../kernels/lif-sequence.js';
import type { AdjointInput, AdjointStep, Coef, Coefficients, Fire, NeuronModel, NeuronState, TangentInput } from './model.js';
import type { EscapeNoise } from './noise.js';
import type { NirArray, NirValue } from './nir.js';
import { f64, nirNode } from './nir.js';
import type { NirNeuronContext } from './nir.js';

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

export interface LIFOptions {
  readonly beta?: number;
  readonly threshold?: number;
  readonly reset?: ResetMode;
  readonly refractory?: number;
}

/** The parameters every LIF-family model shares. */
export type MembraneParams = Omit<LIFParams, 'kind'>;

export const LIF_KEYS = ['beta', 'threshold', 'reset', 'refractory'] as const;

export function lifCore(where: string, o: LIFOptions): MembraneParams {
  const p = { beta: o.beta ?? 0.95, threshold: o.threshold ?? 1, reset: o.reset ?? 'subtract', refractory: o.refractory ?? 0 };
  checkInRange(where, 'beta', p.beta, 0, 1);
  checkPositive(where, 'threshold', p.threshold);
  checkOneOf(where, 'reset mode', p.reset, RESET_MODES);
  checkInteger(where, 'refractory', p.refractory, 0);
  return p;
}

/** @example lif({ beta: 0.9, threshold: 1, reset: 'zero', refractory: 2 }) */
export function lif(options: LIFOptions = {}): LIFParams {
  checkKeys('lif', options, [...LIF_KEYS]);
  return { kind: 'lif', ...lifCore('lif', options) };
}

const coef = (c: Coefficients, name: string, fallback: number): Coef => c[name] ?? fallback;

/** The resting state of a LIF-family population, with a refractory counter when it has one. */
export function membraneState(p: MembraneParams, shape: readonly number[], extra: readonly string[] = []): NeuronState {
  // fill, not zeros: tf.zeros builds the values in JavaScript and copies them in (megabytes a step for K·B rows)
  const zeros = () => tf.fill([...shape], 0);
  const state: Record<string, tf.Tensor> = { membrane: zeros(), spikes: zeros() };
  for (const f of extra) state[f] = zeros();
  if (p.refractory > 0) state['refractory'] = zeros();
  return state as unknown as NeuronState;
}

/**
 * 1 where the refractory counter is out (≤ 0). The counter is discrete: no derivative flows through
 * the gate (tfjs has no gradient for LessEqual and would refuse the whole BPTT tape).
 */
const gateOf = tf.customGrad(((refractory: tf.Tensor) => ({
  value: tf.cast(tf.lessEqual(refractory, 0), 'float32'),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (refractory: tf.Tensor) => tf.Tensor;

/** 1 where the neuron is not refractory at this step. */
export function openGate(previous: NeuronState): tf.Tensor {
  return gateOf(previous['refractory']!);
}

/** The membrane update and firing shared by every LIF-family model, given the effective input current. */
export function integrateAndFire(
  current: tf.Tensor,
  state: NeuronState,
  p: MembraneParams,
  beta: Coef,
  previousThreshold: Coef,
  threshold: Coef,
  fire: Fire,
  t: number,
): { membrane: tf.Tensor; spikes: tf.Tensor; refractory?: tf.Tensor } {
  const refractory = state['refractory'];
  const open = refractory ? gateOf(refractory) : undefined;
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
  if (!open || !refractory) return { membrane, spikes: fired };
  const spikes = tf.mul(open, fired);
  const left = tf.add(tf.mul(spikes, p.refractory), tf.mul(tf.sub(1, spikes), tf.relu(tf.sub(refractory, 1))));
  return { membrane, spikes, refractory: left };
}

/** Deterministic or escape-noise firing of a threshold-crossing model. */
export function spikeFire(noise: EscapeNoise | undefined, key: number, scale?: tf.Tensor): Fire {
  return noise ? escapeFire(noise, key, scale) : heaviside;
}

/**
 * The membrane adjoint of a LIF-family model at step t: λ_t = ψ_t + c_t λ_{t+1} and the gated
 * input-current adjoint m_t λ_t, with the learned decay's and base threshold's terms
 *
 *     ∂/∂β: λ_t g_t u_{t−1} (g_t = 1 − s_{t−1} for zero reset, else 1)
 *     ∂/∂ϑ: −ψ_t − λ_t s_{t−1} (subtract reset), −ψ_t otherwise.
 */
export function membraneAdjoint(p: MembraneParams, a: AdjointInput): AdjointStep & { readonly lambda: tf.Tensor } {
  const beta = coef(a.coefficients, 'beta', p.beta);
  const next = a.carry?.[0];
  const zero = p.reset === 'zero';
  const lambda = next === undefined ? a.seed : tf.add(a.seed, tf.mul(zero ? tf.mul(beta, tf.sub(1, a.trace.at('spikes', a.t))) : beta, next));
  const current = a.trace.has('open') ? tf.mul(a.trace.at('open', a.t), lambda) : lambda;
  const coefficients: Record<string, tf.Tensor> = {};
  if (a.learned.has('threshold')) {
    coefficients['threshold'] = p.reset === 'subtract' ? tf.sub(tf.neg(a.seed), tf.mul(lambda, a.trace.at('spikes', a.t - 1))) : tf.neg(a.seed);
  }
  if (a.learned.has('beta')) {
    const u = a.trace.at('membrane', a.t - 1);
    coefficients['beta'] = tf.mul(lambda, zero ? tf.mul(tf.sub(1, a.trace.at('spikes', a.t - 1)), u) : u);
  }
  return { lambda, current, carry: [lambda], coefficients };
}

/**
 * Tangent of a LIF-family membrane: du_t from du_{t−1}, ds_{t−1}, the effective input's tangent
 * dJ and the coefficients' tangents; dϑprev is the tangent of the threshold s_{t−1} crossed.
 */
export function membraneTangent(
  p: MembraneParams,
  x: TangentInput,
  dInput: tf.Tensor,
  dPreviousThreshold: tf.Tensor | number,
  previousThreshold: Coef,
): tf.Tensor {
  const beta = coef(x.coefficients, 'beta', p.beta);
  const dBeta = x.dCoefficients['beta'];
  const u = x.previous.membrane,
    s = x.previous.spikes;
  const du = x.dPrevious['membrane'],
    ds = x.dPrevious['spikes'];
  const open = x.previous['refractory'] ? openGate(x.previous) : undefined;
  let d: tf.Tensor = open ? tf.mul(open, dInput) : dInput;
  const keep = p.reset === 'zero' ? tf.sub(1, s) : undefined;
  if (du) d = tf.add(d, tf.mul(keep ? tf.mul(beta, keep) : beta, du));
  if (dBeta) d = tf.add(d, tf.mul(dBeta, keep ? tf.mul(keep, u) : u));
  if (ds && p.reset === 'zero') d = tf.sub(d, tf.mul(tf.mul(beta, ds), u));
  if (p.reset === 'subtract') {
    if (ds) d = tf.sub(d, tf.mul(previousThreshold, ds));
    d = tf.sub(d, tf.mul(dPreviousThreshold, s));
  }
  return d;
}

/** ds_t = m_t S'(u_t − ϑ_t)(du_t − dϑ_t): the surrogate's derivative of the spike. */
export function spikeTangent(x: TangentInput, dMembrane: tf.Tensor, threshold: Coef, dThreshold: tf.Tensor | number): tf.Tensor {
  const slope = x.derivative(tf.sub(x.next.membrane, threshold));
  const ds = tf.mul(slope, tf.sub(dMembrane, dThreshold));
  return x.previous['refractory'] ? tf.mul(openGate(x.previous), ds) : ds;
}

/** The fused reverse-filter step of a LIF-family membrane with subtract or no reset and fixed coefficients (see NeuronModel.fusedAdjoint). */
export function membraneFusedAdjoint(
  p: MembraneParams,
  o: { readonly learned: ReadonlySet<string>; readonly coefficients: Coefficients; readonly gated: boolean },
) {
  const beta = o.coefficients['beta'] ?? p.beta;
  if (!fusedKernelsActive() || p.reset === 'zero' || o.gated || o.learned.size > 0 || typeof beta !== 'number') return undefined;
  return (seed: tf.Tensor, weights: tf.Tensor | undefined, next: tf.Tensor | undefined, inputRows: number) =>
    lifAdjointStep(seed, weights, next, beta, inputRows);
}

/**
 * β and ϑ as the fused LIF kernels take them, numbers: undefined where either is learned per neuron
 * or a refractory period gates the neurons (those run the separate ops).
 */
function kernelCoefficients(p: LIFParams, c: Coefficients): { readonly beta: number; readonly threshold: number } | undefined {
  const { beta = p.beta, threshold = p.threshold } = c;
  return p.refractory === 0 && typeof beta === 'number' && typeof threshold === 'number' ? { beta, threshold } : undefined;
}

/** The learnable coefficients of a LIF-family model. */
export function membraneLearnable(p: MembraneParams): Record<string, number> {
  return { beta: p.beta, threshold: p.threshold };
}

/** Decay in [0, 1], threshold at least `minThreshold`. */
export function membraneBounds(_p: MembraneParams, minThreshold: number): Record<string, readonly [number, number]> {
  return { beta: [0, 1], threshold: [minThreshold, Number.MAX_VALUE] };
}

export function membraneAdjointFields(learned: ReadonlySet<string>): string[] {
  return learned.has('beta') ? ['membrane'] : [];
}

export function lifStep(current: tf.Tensor, state: NeuronState, p: LIFParams, fire: Fire, t: number, c: Coefficients = {}): NeuronState {
  const threshold = coef(c, 'threshold', p.threshold);
  return tf.tidy(() => integrateAndFire(current, state, p, coef(c, 'beta', p.beta), threshold, threshold, fire, t)) as NeuronState;
}

/**
 * The NIR parts every LIF-family model shares: refuses what NIR's reset-to-v_reset neurons cannot
 * say (refractoriness, no reset, and, unless asked for, reset by subtraction), and gives the
 * thresholds and the node's metadata. v_reset is left out: zero is its default in the reference
 * reader, and readers before NIR 1.0.5 refuse the key.
 */
export function membraneNir(p: MembraneParams, c: NirNeuronContext): { v_threshold: NirArray; metadata: Record<string, NirValue> } {
  if (p.refractory > 0) c.refuse(`a refractory period (${p.refractory} steps) has no NIR primitive; NIR's neurons are never refractory`);
  if (p.reset === 'none') c.refuse("reset 'none' has no NIR primitive: NIR's spiking neurons always reset");
  if (p.reset === 'subtract' && c.subtractReset === 'error') {
    c.refuse(
      "reset by subtraction has no NIR primitive (NIR's neurons reset to v_reset, as spikelr's reset 'zero' does): train with reset 'zero' (--reset zero), or export with --reset-metadata to write NIR's reset-to-zero neuron with reset 'subtract' in its metadata (spikelr reads it back; snnTorch, Norse and chips will reset to zero)",
    );
  }
  return { v_threshold: f64(c.shape, c.perNeuron('threshold', p.threshold)), metadata: p.reset === 'subtract' ? { reset: 'subtract' } : {} };
}

/** τ = dt/(1 − β) and R = τ/dt of decays β < 1 (the input enters unscaled under forward Euler). */
export function timeConstants(beta: Float64Array, dt: number): { tau: Float64Array; r: Float64Array } {
  const tau = beta.map((b) => dt / (1 - b));
  return { tau, r: tau.map((t) => t / dt) };
}

export const lifModel = {
  kind: 'lif',
  role: 'spiking',
  fromRecord: (o) => lif(o as LIFOptions),
  fields: (p) => (p.refractory > 0 ? ['refractory'] : []),
  preset: (o) => lif(o),
  learnable: membraneLearnable,
  bounds: membraneBounds,
  initialState: (p, shape) => membraneState(p, shape),
  step: lifStep,
  fire: (_p, noise, key, scale) => spikeFire(noise, key, scale),
  decides: (p, previous) => (p.refractory > 0 ? openGate(previous) : undefined),
  adjointFields: (_p, learned) => membraneAdjointFields(learned),
  adjoint: (p, a) => membraneAdjoint(p, a),
  fusedAdjoint: (p, o) => membraneFusedAdjoint(p, o),
  fusedNoisyStep(p, o) {
    const fixed = kernelCoefficients(p, o.coefficients);
    if (!fixed || !fusedKernelsActive() || o.noise.kind !== 'logistic') return undefined;
    const settings = { ...fixed, sigma: o.noise.sigma, reset: p.reset, score: o.score };
    return (current, state, uniforms) => {
      const r = noisyLifStep(current, state.membrane, state.spikes, uniforms, settings);
      return { state: { membrane: r.membrane, spikes: r.spikes }, ...(r.score ? { score: r.score } : {}) };
    };
  },
  surrogateSequence(p, o) {
    const fixed = kernelCoefficients(p, o.coefficients);
    if (!fixed) return undefined;
    const recurrent = o.recurrent;
    if (recurrent) return (currents, surrogate, g) => lifRecurrentSequence(currents, recurrent, { ...fixed, reset: p.reset, surrogate, ...g });
    if (!lifSequenceActive()) return undefined;
    return (currents, surrogate, g) => lifSequence(currents, { ...fixed, reset: p.reset, surrogate, detachReset: g.detachReset });
  },
  tangent(p, x) {
    const threshold = coef(x.coefficients, 'threshold', p.threshold);
    const dThreshold = x.dCoefficients['threshold'] ?? 0;
    const membrane = membraneTangent(p, x, x.dCurrent, dThreshold, threshold);
    return { membrane, spikes: spikeTangent(x, membrane, threshold, dThreshold) };
  },
  // β < 1: NIR's LIF; β = 1 (integrate-and-fire): IF, one step adding R I with R = 1
  nir(p, c) {
    const { v_threshold, metadata } = membraneNir(p, c);
    const beta = c.perNeuron('beta', p.beta);
    if (beta.every((b) => b === 1)) return nirNode('IF', { r: f64(c.shape, beta), v_threshold }, metadata);
    if (beta.some((b) => b === 1)) c.refuse('some neurons have β = 1 and some not: NIR has no node mixing LIF and IF');
    const { tau, r } = timeConstants(beta, c.dt);
    return nirNode('LIF', { tau: f64(c.shape, tau), r: f64(c.shape, r), v_leak: f64(c.shape, new Float64Array(tau.length)), v_threshold }, metadata);
  },
} satisfies NeuronModel<LIFParams>;
