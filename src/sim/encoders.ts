/**
 * Encoders: static inputs `[B, …]` (intensities in [0, 1]) to spike trains `[B, T, …]`, and
 * sequences `[B, T, …]` to change spikes. Stochastic encoders draw from a counter stream keyed by
 * their seed, so the same seed gives the same spikes on every backend.
 */
import * as tf from '@tensorflow/tfjs';
import { check, checkFinite, checkInteger, checkKeys, checkOneOf, checkPositive } from '../core/errors.js';
import { streamKey, uniform } from '../core/random.js';
import { streamUniforms } from '../kernels/uniform-kernel.js';

const RATE_STREAM = 0x7a7e;

function checkUnitRange(where: string, x: tf.Tensor): void {
  const [lo, hi] = tf
    .tidy(() => [tf.min(x), tf.max(x)])
    .map((t) => {
      const v = t.dataSync()[0]!;
      t.dispose();
      return v;
    }) as [number, number];
  check(
    Number.isFinite(lo) && Number.isFinite(hi) && lo >= 0 && hi <= 1,
    () => `${where}: values must be in [0, 1] (scale intensities first, e.g. pixels / 255), got min ${lo}, max ${hi}`,
  );
}

function checkSteps(where: string, steps: number): void {
  checkInteger(where, 'steps', steps, 1);
}

/**
 * Rate (Bernoulli) coding: s_{b,t,i} ~ Bernoulli(min(1, gain·x_{b,i})), independent over t.
 * @param x `[B, …]` intensities in [0, 1].
 * @returns `[B, T, …]` float32 0/1.
 */
export function rateEncode(x: tf.Tensor, steps: number, options: { readonly seed: number; readonly gain?: number }): tf.Tensor {
  checkKeys('rateEncode', options, ['seed', 'gain']);
  checkSteps('rateEncode', steps);
  checkInteger('rateEncode', 'seed', options.seed, 0);
  const gain = options.gain ?? 1;
  checkPositive('rateEncode', 'gain', gain);
  check(x.rank >= 1, () => `rateEncode: input must be [B, …] (rank ≥ 1), got a scalar`);
  checkUnitRange('rateEncode', x);
  const [batch, ...rest] = x.shape as number[];
  const shape = [batch!, steps, ...rest],
    count = shape.reduce((a, b) => a * b, 1),
    key = streamKey(options.seed, RATE_STREAM);
  return tf.tidy(() => {
    const p = tf.expandDims(tf.clipByValue(tf.mul(x, gain), 0, 1), 1);
    // on wasm written straight into the heap, bit for bit the JavaScript stream's numbers
    const draws = streamUniforms(shape, [key], 0, count, false) ?? tf.tensor(Float32Array.from(uniform(count, key)), shape);
    // U < p exactly when p − U > 0 (distinct floats never subtract to zero): a broadcast subtraction
    // and a step, two kernels with no bool tensor in between
    return tf.step(tf.sub(p, draws));
  });
}

export const LATENCY_MODES = ['linear', 'log'] as const;
export type LatencyMode = (typeof LATENCY_MODES)[number];

/**
 * Latency (time-to-first-spike) coding: each value above `threshold` fires once, brighter earlier.
 *
 *     linear: t_f = round((1 − x)(T − 1))
 *     log:    t_f = round(τ ln(x / (x − ϑ)))    (an RC membrane with time constant τ, charged by
 *                                                  constant current x, reaching threshold ϑ)
 *
 * Values with x ≤ ϑ, or whose t_f falls past the last step, stay silent.
 * @returns `[B, T, …]` float32, at most one spike per input element.
 */
export function latencyEncode(
  x: tf.Tensor,
  steps: number,
  options: { readonly mode?: LatencyMode; readonly tau?: number; readonly threshold?: number } = {},
): tf.Tensor {
  checkKeys('latencyEncode', options, ['mode', 'tau', 'threshold']);
  checkSteps('latencyEncode', steps);
  const mode = options.mode ?? 'linear';
  checkOneOf('latencyEncode', 'mode', mode, LATENCY_MODES);
  const tau = options.tau ?? 5;
  checkPositive('latencyEncode', 'tau', tau);
  const threshold = options.threshold ?? 0.01;
  checkFinite('latencyEncode', 'threshold', threshold);
  check(threshold >= 0 && threshold < 1, () => `latencyEncode: threshold must be in [0, 1), got ${threshold}`);
  check(x.rank >= 1, () => `latencyEncode: input must be [B, …] (rank ≥ 1), got a scalar`);
  checkUnitRange('latencyEncode', x);
  return tf.tidy(() => {
    const above = tf.greater(x, threshold);
    const safe = tf.where(above, x, tf.onesLike(x)); // keeps the log finite where it is masked anyway
    const time =
      mode === 'linear'
        ? tf.round(tf.mul(tf.sub(1, safe), steps - 1))
        : tf.round(tf.mul(tau, tf.log(tf.div(safe, tf.maximum(tf.sub(safe, threshold), 1e-12)))));
    const fires = tf.logicalAnd(above, tf.lessEqual(time, steps - 1));
    const t = tf.reshape(tf.range(0, steps, 1, 'float32'), [1, steps, ...x.shape.slice(1).map(() => 1)]);
    const hit = tf.equal(tf.expandDims(time, 1), t);
    return tf.cast(tf.logicalAnd(hit, tf.expandDims(fires, 1)), 'float32');
  });
}

/**
 * Delta modulation: a spike where the input rose by at least `threshold` since the previous step
 * (and, with `offSpikes`, −1 where it fell by at least that much). The step before the first is
 * zeros (`initial: 'zero'`, so a present input spikes at once) or the first frame itself (`'first'`).
 * @param x `[B, T, …]` sequence.
 * @returns `[B, T, …]` float32 in {0, 1} (or {−1, 0, 1} with offSpikes).
 */
export function deltaEncode(
  x: tf.Tensor,
  options: { readonly threshold?: number; readonly offSpikes?: boolean; readonly initial?: 'zero' | 'first' } = {},
): tf.Tensor {
  checkKeys('deltaEncode', options, ['threshold', 'offSpikes', 'initial']);
  const threshold = options.threshold ?? 0.1;
  checkPositive('deltaEncode', 'threshold', threshold);
  const initial = options.initial ?? 'zero';
  checkOneOf('deltaEncode', 'initial', initial, ['zero', 'first'] as const);
  check(x.rank >= 2, () => `deltaEncode: input must be [B, T, …] (rank ≥ 2), got shape [${x.shape.join(', ')}]`);
  return tf.tidy(() => {
    const first = tf.slice(x, [0, 0], [-1, 1]);
    const before = tf.concat([initial === 'zero' ? tf.zerosLike(first) : first, tf.slice(x, [0, 0], [-1, x.shape[1]! - 1])], 1);
    const change = tf.sub(x, before);
    const on = tf.cast(tf.greaterEqual(change, threshold), 'float32');
    return options.offSpikes ? tf.sub(on, tf.cast(tf.lessEqual(change, -threshold), 'float32')) : on;
  });
}
