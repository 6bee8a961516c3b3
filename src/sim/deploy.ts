/**
 * Deployment transforms: what a network becomes on digital neuromorphic hardware, applied in the
 * forward pass so that any learner trains through it.
 *
 * - **Weight quantization** (`weightBits`, 2–8): per output channel, symmetric — the channel's
 *   weights on the grid s_c·{−L, …, L} with L = 2^(b−1) − 1 and s_c = max|w_c|/L, rounded to
 *   nearest (half up). Applied to the network's weight matrices (feed-forward and recurrent; biases
 *   stay as they are) for the duration of a forward pass, the float weights kept for the learner's
 *   updates ({@link quantizedWeights}): every learner's gradient is then taken at the quantized
 *   weights and applied to the float ones — the straight-through estimator for the weight grid, for
 *   LR as for BPTT and forward gradients (LR's estimate is unbiased for the gradient with respect to
 *   the quantized weights; the grid itself is taken as the identity).
 * - **Fixed-point neuron state, fixed-point decay and device mismatch**: a neuron wrapper
 *   (src/neurons/deployed.ts) put around every layer's neurons ({@link deploySpecs}), so the
 *   deployed network is an ordinary network and its model file says how it was deployed.
 */
import * as tf from '@tensorflow/tfjs';
import { check, checkInteger, checkKeys, show, SpikelrError } from '../core/errors.js';
import {
  checkDecayBits,
  checkFixedPoint,
  checkRelative,
  deployedNeuron,
  hasCoefficient,
  isDeployed,
  ROUNDINGS,
  type FixedPoint,
  type Rounding,
} from '../neurons/deployed.js';
import type { NeuronParams } from '../neurons/registry.js';
import type { LayerSpec } from './layer.js';
import { Network } from './network.js';
import { streamKey } from '../core/random.js';

export interface Deployment {
  /** Bits of the per-channel symmetric weight grid (2–8), or null: float weights. */
  readonly weightBits: number | null;
  /** Fixed-point neuron state, or null: float state. */
  readonly state: FixedPoint | null;
  /** Fraction bits of the decay β, or null: float decay. */
  readonly decayBits: number | null;
  /** Relative standard deviations of per-neuron threshold and decay (0: none). */
  readonly thresholdMismatch: number;
  readonly decayMismatch: number;
  /** Seed of the mismatch pattern (each layer's own pattern derives from it). */
  readonly mismatchSeed: number;
}

export const MIN_WEIGHT_BITS = 2;
export const MAX_WEIGHT_BITS = 8;

/** Parameters quantized as weights: feed-forward and recurrent matrices (rank ≥ 2), output channel last. */
const WEIGHT_PARAMS = ['weight', 'recurrent'];

/** What {@link deployment} takes: any key may be left out (the state's rounding defaults to nearest). */
export type DeploymentOptions = Partial<Omit<Deployment, 'state'>> & {
  readonly state?: (Omit<FixedPoint, 'rounding'> & { readonly rounding?: Rounding }) | null;
};

/** Checks a deployment record (from a config file or the constructor); errors name the key. */
export function deployment(o: DeploymentOptions, where = 'deploy'): Deployment {
  check(
    typeof o === 'object' && o !== null && !Array.isArray(o),
    () => `${where}: expected an object such as { weightBits: 4, state: { bits: 16, fraction: 8 } }, got ${show(o)}`,
  );
  checkKeys(where, o, ['weightBits', 'state', 'decayBits', 'thresholdMismatch', 'decayMismatch', 'mismatchSeed']);
  const weightBits = o.weightBits ?? null;
  if (weightBits !== null) {
    checkInteger(where, 'weightBits', weightBits, MIN_WEIGHT_BITS);
    check(
      weightBits <= MAX_WEIGHT_BITS,
      () =>
        `${where}: weightBits must be ${MIN_WEIGHT_BITS}–${MAX_WEIGHT_BITS} (per-channel symmetric integers), got ${weightBits}; for float weights leave it out`,
    );
  }
  const state = o.state === undefined || o.state === null ? null : checkFixedPoint(where, o.state);
  const decayBits = o.decayBits ?? null;
  if (decayBits !== null) checkDecayBits(where, decayBits);
  const relative = (k: 'thresholdMismatch' | 'decayMismatch') => {
    const v = o[k] ?? 0;
    checkRelative(where, k, v);
    return v;
  };
  const mismatchSeed = o.mismatchSeed ?? 0;
  checkInteger(where, 'mismatchSeed', mismatchSeed, 0);
  return { weightBits, state, decayBits, thresholdMismatch: relative('thresholdMismatch'), decayMismatch: relative('decayMismatch'), mismatchSeed };
}

/** Whether the deployment changes the neurons (rather than the weights alone). */
export function deploysNeurons(d: Deployment): boolean {
  return d.state !== null || d.decayBits !== null || d.thresholdMismatch > 0 || d.decayMismatch > 0;
}

/**
 * The command line's deployment: comma-separated settings, e.g.
 * `weights=4,state=16.8,decay=12,rounding=floor,mismatch=0.05,decay-mismatch=0.02,mismatch-seed=3`
 * (`state=BITS.FRACTION`; `mismatch` is the threshold's). `none`: no deployment.
 */
export function parseDeployment(text: string, where = '--deploy'): Deployment | null {
  if (text.trim() === 'none') return null;
  const o: Record<string, unknown> = {};
  let rounding: Rounding | undefined, stateText: string | undefined;
  const usage = `write comma-separated settings, e.g. 'weights=4,state=16.8,decay=12,mismatch=0.05' (keys: weights, state, rounding, decay, mismatch, decay-mismatch, mismatch-seed)`;
  for (const part of text.split(',')) {
    const [key, value, extra] = part.split('=').map((x) => x.trim());
    if (!key || value === undefined || value === '' || extra !== undefined) throw new SpikelrError(`${where}: '${part}' is not KEY=VALUE; ${usage}`);
    const num = () => {
      const n = Number(value);
      if (!Number.isFinite(n)) throw new SpikelrError(`${where}: ${key} must be a number, got '${value}'`);
      return n;
    };
    switch (key) {
      case 'weights':
        o['weightBits'] = num();
        break;
      case 'state':
        stateText = value;
        break;
      case 'rounding':
        if (!(ROUNDINGS as readonly string[]).includes(value))
          throw new SpikelrError(`${where}: rounding must be one of ${ROUNDINGS.join(', ')}, got '${value}'`);
        rounding = value as Rounding;
        break;
      case 'decay':
        o['decayBits'] = num();
        break;
      case 'mismatch':
        o['thresholdMismatch'] = num();
        break;
      case 'decay-mismatch':
        o['decayMismatch'] = num();
        break;
      case 'mismatch-seed':
        o['mismatchSeed'] = num();
        break;
      default:
        throw new SpikelrError(`${where}: unknown setting '${key}'; ${usage}`);
    }
  }
  if (stateText !== undefined) {
    const m = /^(\d+)\.(\d+)$/.exec(stateText);
    if (!m) throw new SpikelrError(`${where}: state must be BITS.FRACTION, e.g. 16.8 (16-bit integers, 8 of them fraction bits), got '${stateText}'`);
    o['state'] = { bits: Number(m[1]), fraction: Number(m[2]), ...(rounding ? { rounding } : {}) };
  } else if (rounding) throw new SpikelrError(`${where}: rounding applies to the fixed-point state; give state=BITS.FRACTION too`);
  return deployment(o as DeploymentOptions, where);
}

/**
 * The layer specs with every layer's neurons deployed (fixed point, decay bits, mismatch; each
 * layer's mismatch pattern from its own seed). Layers without neurons pass unchanged.
 */
export function deploySpecs(layers: readonly LayerSpec[], d: Deployment): LayerSpec[] {
  if (!deploysNeurons(d)) return [...layers];
  return layers.map((spec, i) => {
    const neuron = (spec as { neuron?: NeuronParams }).neuron;
    if (!neuron) return spec;
    const name = (spec as { name?: string }).name ?? `layer ${i}`;
    // each layer takes what its model has: a readout has a decay but no threshold
    const threshold = hasCoefficient(neuron, 'threshold') ? d.thresholdMismatch : 0;
    const beta = hasCoefficient(neuron, 'beta') ? d.decayMismatch : 0;
    try {
      const wrapped = deployedNeuron(neuron, {
        ...(d.state ? { state: d.state } : {}),
        ...(d.decayBits !== null && hasCoefficient(neuron, 'beta') ? { decayBits: d.decayBits } : {}),
        ...(threshold > 0 || beta > 0 ? { mismatch: { threshold, beta, seed: streamKey(d.mismatchSeed, i) } } : {}),
      });
      return { ...spec, neuron: wrapped } as unknown as LayerSpec;
    } catch (err) {
      throw new SpikelrError(`deploy: layer '${name}': ${(err as Error).message}`);
    }
  });
}

/**
 * A trained network as deployed: the same layers with deployed neurons and the same parameters
 * (copied; weight quantization happens in the forward pass, {@link withQuantizedWeights}). A
 * network already deployed is refused: deploy the float one.
 */
export function deployNetwork(net: Network, d: Deployment): Network {
  for (const l of net.layers)
    check(
      !(l.neuron && isDeployed(l.neuron)),
      () => `deploy: layer '${l.name}' is deployed already (its model file came from a deployed run); deploy the float model it was fine-tuned from`,
    );
  if (d.weightBits !== null) checkQuantizable(net);
  const out = new Network({
    input: net.inputShape,
    layers: deploySpecs(
      net.layers.map((l) => l.spec as LayerSpec),
      d,
    ),
    seed: net.seed,
  });
  out.layers.forEach((l, i) => {
    for (const [p, v] of Object.entries(l.params)) v.assign(net.layers[i]!.params[p]!);
  });
  return out;
}

/**
 * Per-output-channel symmetric quantization of `w` (channel = last axis): s_c = max|w_c|/L,
 * Q(w) = s_c · round(w/s_c), L = 2^(bits−1) − 1. A channel of zeros stays zero. Idempotent: the
 * largest weight of a channel is on its grid, so Q(Q(w)) = Q(w).
 */
export function quantizeChannels(w: tf.Tensor, bits: number): tf.Tensor {
  return tf.tidy(() => {
    const levels = 2 ** (bits - 1) - 1;
    const channels = w.shape[w.rank - 1]!;
    const flat = tf.reshape(w, [-1, channels]);
    const peak = tf.max(tf.abs(flat), 0);
    const scale = tf.where(tf.greater(peak, 0), tf.div(peak, levels), tf.onesLike(peak));
    const k = tf.clipByValue(tf.floor(tf.add(tf.div(flat, scale), 0.5)), -levels, levels);
    return tf.reshape(tf.mul(k, scale), w.shape);
  });
}

/** The network's quantized weights: `[layer, parameter name, variable]` of every weight matrix. */
function weightVariables(net: Network): tf.Variable[] {
  return net.layers.flatMap((l) =>
    WEIGHT_PARAMS.flatMap((name) => {
      const v = l.params[name];
      return v && v.rank >= 2 && !l.buffers?.includes(name) ? [v] : [];
    }),
  );
}

/** Refuses weight quantization on a layer that computes with other weights than its own (a decorrelated layer's W R). */
export function checkQuantizable(net: Network): void {
  for (const l of net.layers) {
    check(
      !l.decorrelation,
      () =>
        `deploy: layer '${l.name}' decorrelates its input, so it computes with the fused weights W R, not the W that weightBits quantizes; deploy a network trained without decorrelation, or leave weightBits out`,
    );
  }
}

/**
 * Puts the quantized weights into the network's variables and returns the function that puts the
 * float ones back: `const restore = quantizedWeights(net, 4); try { … } finally { restore(); }`.
 */
export function quantizedWeights(net: Network, bits: number): () => void {
  const saved = weightVariables(net).map((v) => {
    const float = tf.keep(v.clone());
    const q = quantizeChannels(v, bits);
    v.assign(q);
    q.dispose();
    return [v, float] as const;
  });
  return () => {
    for (const [v, float] of saved) {
      v.assign(float);
      float.dispose();
    }
  };
}

/** Runs `f` with the network's weights quantized to `bits` (none: as they are), the float weights back after. */
export function withQuantizedWeights<T>(net: Network, bits: number | null, f: () => T): T {
  if (bits === null) return f();
  const restore = quantizedWeights(net, bits);
  try {
    return f();
  } finally {
    restore();
  }
}

/** The same for an asynchronous `f` (serializing the deployed network). */
export async function withQuantizedWeightsAsync<T>(net: Network, bits: number | null, f: () => Promise<T>): Promise<T> {
  if (bits === null) return f();
  const restore = quantizedWeights(net, bits);
  try {
    return await f();
  } finally {
    restore();
  }
}
