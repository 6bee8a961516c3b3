/**
 * A compare's gradient diagnostics: each method's per-layer cosine to BPTT's gradient on fixed
 * batches, and the cosine and variance against the number of samples K.
 */
import type * as tf from '@tensorflow/tfjs';
import type { CompareOptions } from './compare-arms.js';
import type { Batch, Estimator } from '../learning/estimators/lr.js';
import { cosine, gradientDiagnostics, type DiagnosticsRow } from '../learning/diagnostics.js';
import type { RowLoss } from '../learning/losses.js';
import { parameterNames } from '../learning/trainer.js';
import type { Network } from '../sim/network.js';
import { streamKey } from '../core/random.js';
import type { TrainConfig } from './config.js';
import { methodOf } from '../learning/estimators/registry.js';
import { estimatorOf } from './recipe.js';
export interface LayerCosine {
  readonly parameter: string;
  readonly mean: number;
  readonly sd: number;
  /** ‖LR‖ / ‖BPTT‖, mean over batches. */
  readonly normRatio: number;
}

export const norm = (a: ArrayLike<number>) => {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * a[i]!;
  return Math.sqrt(sum);
};

export const meanSd = (x: number[]) => {
  const m = x.reduce((a, b) => a + b, 0) / x.length;
  return { mean: m, sd: Math.sqrt(x.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, x.length - 1)) };
};

/** Per-parameter cosine of `a`'s and `b`'s gradients of `net` on the given batches. */
export async function gradientCosines(net: Network, a: Estimator, b: Estimator, batches: Batch[], loss: RowLoss, seed: number): Promise<LayerCosine[]> {
  const names = parameterNames(net);
  const per = new Map<string, { cos: number[]; ratio: number[] }>();
  batches.forEach((batch, i) => {
    const ea = a.estimate(net, batch, loss, streamKey(seed, 0xc05, i));
    const eb = b.estimate(net, batch, loss, streamKey(seed, 0xc05, i));
    for (const [v, ga] of ea.gradients) {
      const gb = eb.gradients.get(v);
      if (!gb) continue;
      const [x, y] = [ga.dataSync(), gb.dataSync()];
      const cos = cosine(x, y),
        ratio = norm(x) / (norm(y) || 1);
      const name = names.get(v) ?? v.name;
      const entry = per.get(name) ?? { cos: [], ratio: [] };
      entry.cos.push(cos);
      entry.ratio.push(ratio);
      per.set(name, entry);
    }
    ea.dispose();
    eb.dispose();
  });
  return [...per].map(([parameter, { cos, ratio }]) => ({ parameter, ...meanSd(cos), normRatio: meanSd(ratio).mean }));
}

/**
 * Cosine to the BPTT gradient and variance of one estimate of `config`'s method, per layer, against
 * its number of samples K (LR's copies, FG's directions): `draws` independent estimates on one
 * fixed batch at each K.
 */
export function samplesSweep(
  net: Network,
  config: TrainConfig,
  reference: ReadonlyMap<tf.Variable, tf.Tensor>,
  batch: Batch,
  loss: RowLoss,
  o: CompareOptions,
) {
  const key = methodOf(config.method).samples!;
  return gradientDiagnostics(net, batch, loss, {
    copies: o.copiesSweep,
    estimator: (k) => estimatorOf({ ...config, [key]: k }),
    draws: o.sweepDraws,
    reference,
    seed: config.seed,
  });
}

/**
 * The gradient diagnostics of one decorrelation variant at the common initialisation (R warmed up
 * first when it decorrelates), into `gradients`: LR's cosine to BPTT (`initial` for the first
 * variant, else under the LR arm's name in `methods`), every other method's (`methods`, by arm),
 * and the K sweeps of the sampling methods (`sweeps`, by arm). BPTT's gradient is the variant's own.
 */
export async function variantGradients(
  net: Network,
  config: TrainConfig,
  name: (method: string) => string,
  first: boolean,
  batches: Batch[],
  loss: RowLoss,
  o: CompareOptions,
  gradients: Record<string, unknown>,
) {
  const bptt = estimatorOf({ ...config, method: 'bptt' });
  const methods = (gradients['methods'] ?? {}) as Record<string, LayerCosine[]>;
  const sweeps = (gradients['sweeps'] ?? {}) as Record<string, DiagnosticsRow[]>;
  const cosines = (m: TrainConfig['method']) => gradientCosines(net, estimatorOf({ ...config, method: m }), bptt, batches, loss, config.seed);
  if (first) gradients['initial'] = await cosines('lr');
  else methods[name('lr')] = await cosines('lr');
  const others = o.methods.filter((m) => m !== 'bptt' && m !== 'lr');
  for (const m of others) methods[name(m)] = await cosines(m);
  if (Object.keys(methods).length) gradients['methods'] = methods;
  // cosine and variance against K for LR and every other sampling method, on one batch
  const reference = bptt.estimate(net, batches[0]!, loss);
  try {
    for (const m of ['lr' as const, ...others.filter((m) => methodOf(m).samples)])
      sweeps[name(m)] = samplesSweep(net, { ...config, method: m }, reference.gradients, batches[0]!, loss, o);
  } finally {
    reference.dispose();
  }
  gradients['sweeps'] = sweeps;
}
