/**
 * A neuron as a digital neuromorphic chip runs it: any model of the registry, wrapped, with
 *
 * - **fixed-point state**: every state field but the spikes (membrane, synaptic current, adaptation)
 *   held on the grid k·2^−f, k an integer of `bits` bits (sign included), saturating at the ends.
 *   Each step's result is rounded once, after the update and before the neuron fires:
 *   u_t = Q(β u_{t−1} + I_t − ϑ s_{t−1}), s_t = H(u_t − ϑ) — with I_t and ϑ on the grid this is
 *   the integer arithmetic of an accumulator, Q rounding the decay's product;
 * - **fixed-point decay**: β on the grid of `decayBits` fraction bits (Loihi: 12), rounded to nearest;
 * - **device mismatch**: per-neuron β_i = β(1 + σ_β ε_i) and ϑ_i = ϑ(1 + σ_ϑ η_i) with ε, η standard
 *   normal, a fixed pattern drawn from the record's seed (one pattern per layer, the same every run;
 *   per unit of the state's last axis: a dense layer's neurons, a conv layer's channels, which share
 *   their coefficients in spikelr as learned ones do).
 *
 * The wrapped model does the dynamics; this file only feeds it the deployed coefficients, rounds
 * what it returns and makes it fire on the rounded membrane. Rounding has no derivative: BPTT and
 * the forward-mode tangent pass its gradient straight through where the value is not saturated
 * (the straight-through estimator), and LR's reverse filter is the wrapped model's, run on the
 * deployed coefficients and the recorded (rounded) state — the one place where the rounding is
 * skipped in LR, local to one layer and one step; every other layer's rounding, quantized weights
 * and mismatch reach LR's estimate exactly, through the loss.
 */
import * as tf from '@tensorflow/tfjs';
import { checkDecayBits, checkFixedPoint, quantizeFraction, quantizeNumber, quantizeState, type FixedPoint } from './fixed-point.js';

export { checkDecayBits, checkFixedPoint, MAX_STATE_BITS, quantizeState, ROUNDINGS, type FixedPoint, type Rounding } from './fixed-point.js';
import { check, checkInteger, checkKeys, show } from '../core/errors.js';
import { streamKey } from '../core/random.js';
import type { AdjointInput, AdjointStep, Coef, Coefficients, Fire, NeuronModel, NeuronState, Role, TangentInput } from './model.js';
import { sampleNoise, type EscapeNoise } from './noise.js';

/** A neuron record of any registered kind (the model a deployment wraps). */
type NeuronParams = { readonly kind: string };

/**
 * How a deployment reaches the models it wraps: the neuron registry, which lists this model too and
 * hands itself in when it loads (registry.ts), so that this file needs nothing from it.
 */
export interface NeuronRegistry {
  modelOf(params: NeuronParams): NeuronModel<NeuronParams>;
  neuronFromRecord(record: unknown, where: string): NeuronParams;
}
let registry: NeuronRegistry | undefined;
export function useNeuronRegistry(r: NeuronRegistry): void {
  registry = r;
}
function registered(): NeuronRegistry {
  if (!registry) throw new Error('deployed neurons need the neuron registry: import neurons/registry.js (the package index does)');
  return registry;
}
const modelOf = (p: NeuronParams) => registered().modelOf(p);
const neuronFromRecord = (record: unknown, where: string) => registered().neuronFromRecord(record, where);

export interface Mismatch {
  /** Relative standard deviation of the per-neuron threshold. */
  readonly threshold: number;
  /** Relative standard deviation of the per-neuron decay. */
  readonly beta: number;
  /** Seed of the fixed pattern. */
  readonly seed: number;
}

export interface DeployedParams {
  readonly kind: 'deployed';
  /** The wrapped model's record (any kind but 'deployed'). */
  readonly neuron: { readonly kind: string };
  /** Fixed-point state, or null for float state. */
  readonly state: FixedPoint | null;
  /** Fraction bits of the decay β, or null for a float decay. */
  readonly decayBits: number | null;
  readonly mismatch: Mismatch | null;
}

export interface DeployedOptions {
  readonly state?: Partial<FixedPoint> & { readonly bits: number; readonly fraction: number };
  readonly decayBits?: number;
  readonly mismatch?: Partial<Mismatch>;
}

/** The coefficients a deployment can perturb and quantize, where the wrapped model has them. */
const MISMATCHED = ['beta', 'threshold'] as const;

/** Checks a relative standard deviation of mismatch (0.05 = 5%). */
export function checkRelative(where: string, name: string, v: unknown): asserts v is number {
  check(typeof v === 'number' && v >= 0 && v <= 1, () => `${where}: ${name} is a relative standard deviation in [0, 1] (0.05 = 5%), got ${show(v)}`);
}

/** Whether the model has a decay β or threshold ϑ for a deployment to perturb and quantize. */
export function hasCoefficient(inner: NeuronParams, name: 'beta' | 'threshold'): boolean {
  return baseValue(inner, name) !== undefined;
}

/** The model's own value of a mismatched coefficient, if it has it (a number in its record, or learnable). */
function baseValue(inner: NeuronParams, name: string): number | undefined {
  const learnable = modelOf(inner).learnable(inner as never)[name];
  if (learnable !== undefined) return learnable;
  const own = (inner as unknown as Record<string, unknown>)[name];
  return typeof own === 'number' ? own : undefined;
}

/**
 * `inner` as deployed.
 * @example deployedNeuron(lif({ beta: 0.9 }), { state: { bits: 16, fraction: 8 }, decayBits: 12, mismatch: { threshold: 0.05, seed: 1 } })
 */
export function deployedNeuron(inner: NeuronParams, o: DeployedOptions = {}): DeployedParams {
  const where = 'deployedNeuron';
  checkKeys(where, o, ['state', 'decayBits', 'mismatch']);
  check(
    typeof inner === 'object' && inner !== null && typeof (inner as { kind?: unknown }).kind === 'string',
    () => `${where}: neuron must be a neuron record such as lif(), got ${show(inner)}`,
  );
  check(inner.kind !== 'deployed', () => `${where}: the neuron is deployed already; deploy the model it wraps`);
  const state = o.state === undefined ? null : checkFixedPoint(where, o.state);
  if (o.decayBits !== undefined) checkDecayBits(where, o.decayBits);
  let mismatch: Mismatch | null = null;
  if (o.mismatch !== undefined) {
    check(typeof o.mismatch === 'object' && o.mismatch !== null, () => `${where}: mismatch must be { threshold, beta, seed }, got ${show(o.mismatch)}`);
    checkKeys(`${where}: mismatch`, o.mismatch, ['threshold', 'beta', 'seed']);
    const m = { threshold: o.mismatch.threshold ?? 0, beta: o.mismatch.beta ?? 0, seed: o.mismatch.seed ?? 0 };
    for (const k of MISMATCHED) checkRelative(where, `mismatch ${k}`, m[k]);
    checkInteger(where, 'mismatch seed', m.seed, 0);
    if (m.threshold > 0 || m.beta > 0) mismatch = m;
  }
  if (mismatch) {
    for (const name of MISMATCHED) {
      check(
        mismatch[name] === 0 || hasCoefficient(inner, name),
        () =>
          `${where}: a '${inner.kind}' neuron has no ${name === 'beta' ? 'decay' : 'threshold'} for mismatch to perturb; set the ${name} mismatch to 0 for it`,
      );
    }
  }
  check(o.decayBits === undefined || hasCoefficient(inner, 'beta'), () => `${where}: a '${inner.kind}' neuron has no decay β for decayBits to quantize`);
  return { kind: 'deployed', neuron: inner, state, decayBits: o.decayBits ?? null, mismatch };
}

/** Whether a neuron record is a deployed one. */
export function isDeployed(p: { readonly kind: string }): p is DeployedParams {
  return p.kind === 'deployed';
}

const innerOf = (p: DeployedParams) => p.neuron;
const innerModel = (p: DeployedParams) => modelOf(innerOf(p));

const patterns = new Map<string, Float32Array>();

/**
 * The fixed mismatch pattern 1 + σ ε of one coefficient, `[…shape]` (per neuron): ε standard normal
 * from the counter stream of (seed, coefficient), so a layer's pattern is a function of its seed and
 * shape alone. Kept as numbers (not tensors) between calls.
 */
export function mismatchPattern(m: Mismatch, name: (typeof MISMATCHED)[number], shape: readonly number[]): Float32Array {
  const key = `${m.seed}:${name}:${m[name]}:${shape.join('x')}`;
  let out = patterns.get(key);
  if (!out) {
    const n = shape.reduce((a, b) => a * b, 1);
    const eps = sampleNoise('gaussian', n, streamKey(m.seed, name === 'beta' ? 0xbe7a : 0x7e5d), 0);
    out = eps.map((e) => 1 + m[name] * e);
    if (patterns.size > 256) patterns.clear();
    patterns.set(key, out);
  }
  return out;
}

interface Effective {
  readonly coefficients: Coefficients;
  /** ∂(deployed coefficient)/∂(coefficient) where it is not 1: the mismatch factor. */
  readonly factors: Readonly<Record<string, tf.Tensor>>;
}

/**
 * The coefficients the wrapped model runs with: β and ϑ (from the layer's learned values or the
 * record) times the mismatch pattern, β clipped to [0, 1] and on its fraction grid, ϑ on the state
 * grid and at least one grid step. Others pass unchanged.
 */
function effective(p: DeployedParams, c: Coefficients, shape: readonly number[]): Effective {
  const inner = innerOf(p);
  const out: Record<string, Coef | undefined> = { ...c };
  const factors: Record<string, tf.Tensor> = {};
  for (const name of MISMATCHED) {
    const base = c[name] ?? baseValue(inner, name);
    if (base === undefined) continue;
    const sigma = p.mismatch?.[name] ?? 0;
    const bits = name === 'beta' ? p.decayBits : null;
    const grid = name === 'threshold' ? p.state : null;
    if (sigma === 0 && bits === null && grid === null) continue;
    if (typeof base === 'number' && sigma === 0) {
      // a number stays a number: one scalar, as in the wrapped model
      let v = base;
      if (bits !== null) v = Math.floor(Math.min(Math.max(v, 0), 1) * 2 ** bits + 0.5) / 2 ** bits;
      if (grid !== null) v = Math.max(quantizeNumber(v, grid), 2 ** -grid.fraction);
      out[name] = v;
      continue;
    }
    let v: tf.Tensor = typeof base === 'number' ? tf.scalar(base) : base;
    if (sigma > 0) {
      const factor = tf.tensor(mismatchPattern(p.mismatch!, name, shape), [...shape]);
      factors[name] = factor;
      v = tf.mul(v, factor);
    }
    if (name === 'beta') v = tf.clipByValue(v, 0, 1);
    if (bits !== null) v = quantizeFraction(v, bits);
    if (name === 'threshold') v = tf.maximum(grid !== null ? quantizeState(v, grid) : v, grid !== null ? 2 ** -grid.fraction : 1e-6);
    out[name] = v;
  }
  return { coefficients: out, factors };
}

/**
 * The units a pattern covers: the state's last axis — a dense layer's neurons, a conv layer's
 * channels (whose neurons share their coefficients in spikelr, as learned coefficients do).
 */
const unitsOf = (state: tf.Tensor): number[] => [state.shape[state.rank - 1]!];

/** Fields held in fixed point: all but the spikes and an integer refractory counter. */
const rounded = (field: string) => field !== 'spikes' && field !== 'refractory';

function deployedStep(current: tf.Tensor, state: NeuronState, p: DeployedParams, fire: Fire, t: number, c: Coefficients): NeuronState {
  return tf.tidy(() => {
    const { coefficients } = effective(p, c, unitsOf(state.membrane));
    const fp = p.state;
    if (!fp) return innerModel(p).step(current, state, innerOf(p), fire, t, coefficients);
    // the neuron fires on the rounded membrane, and the state holds it rounded (the same values,
    // rounded again here: a tensor kept past the wrapped step's tidy would escape a BPTT tape's)
    const onGrid: Fire = (membrane, threshold, step) => fire(quantizeState(membrane, fp), threshold, step);
    const next = innerModel(p).step(current, state, innerOf(p), onGrid, t, coefficients);
    const out: Record<string, tf.Tensor> = {};
    for (const [field, v] of Object.entries(next)) if (v) out[field] = rounded(field) ? quantizeState(v, fp) : v;
    return out as unknown as NeuronState;
  });
}

function deployedAdjoint(p: DeployedParams, a: AdjointInput): AdjointStep {
  const { coefficients, factors } = effective(p, a.coefficients, unitsOf(a.seed));
  const step = innerModel(p).adjoint(innerOf(p), { ...a, coefficients });
  const terms: Record<string, tf.Tensor> = {};
  for (const [name, term] of Object.entries(step.coefficients)) terms[name] = factors[name] ? tf.mul(term, factors[name]!) : term;
  return { ...step, coefficients: terms };
}

function deployedTangent(p: DeployedParams, x: TangentInput): Record<string, tf.Tensor> {
  const { coefficients, factors } = effective(p, x.coefficients, unitsOf(x.previous.membrane));
  const d: Record<string, tf.Tensor | undefined> = { ...x.dCoefficients };
  for (const [name, factor] of Object.entries(factors)) if (d[name]) d[name] = tf.mul(d[name]!, factor);
  return innerModel(p).tangent(innerOf(p), { ...x, coefficients, dCoefficients: d });
}

const deployedParts = {
  kind: 'deployed',
  fromRecord(o: Readonly<Record<string, unknown>>, where: string): DeployedParams {
    checkKeys(where, o, ['neuron', 'state', 'decayBits', 'mismatch']);
    const inner = neuronFromRecord(o['neuron'], `${where}: neuron`);
    return deployedNeuron(inner, {
      ...(o['state'] !== null && o['state'] !== undefined ? { state: o['state'] as FixedPoint } : {}),
      ...(o['decayBits'] !== null && o['decayBits'] !== undefined ? { decayBits: o['decayBits'] as number } : {}),
      ...(o['mismatch'] !== null && o['mismatch'] !== undefined ? { mismatch: o['mismatch'] as Mismatch } : {}),
    });
  },
  fields: (p: DeployedParams) => innerModel(p).fields(innerOf(p)),
  learnable: (p: DeployedParams) => innerModel(p).learnable(innerOf(p)),
  bounds: (p: DeployedParams, minThreshold: number) => innerModel(p).bounds?.(innerOf(p), minThreshold) ?? {},
  initialState: (p: DeployedParams, shape: readonly number[]) => innerModel(p).initialState(innerOf(p), shape),
  step: deployedStep,
  fire: (p: DeployedParams, noise: EscapeNoise | undefined, key: number, scale?: tf.Tensor) => innerModel(p).fire(innerOf(p), noise, key, scale),
  decides: (p: DeployedParams, previous: NeuronState) => innerModel(p).decides?.(innerOf(p), previous),
  adjointFields: (p: DeployedParams, learned: ReadonlySet<string>) => innerModel(p).adjointFields(innerOf(p), learned),
  adjoint: deployedAdjoint,
  tangent: deployedTangent,
};

const byRole = new Map<Role, NeuronModel<DeployedParams>>();

/** The deployed model with the role of the model it wraps (a deployed readout is still the readout). */
export function deployedModelOf(p: DeployedParams): NeuronModel<DeployedParams> {
  const role = innerModel(p).role;
  let model = byRole.get(role);
  if (!model) byRole.set(role, (model = { ...deployedParts, kind: 'deployed', role } satisfies NeuronModel<DeployedParams>));
  return model;
}

/** The registry's entry: the record's own model comes from {@link deployedModelOf}. */
export const deployedModel: NeuronModel<DeployedParams> = { ...deployedParts, kind: 'deployed', role: 'spiking' };
