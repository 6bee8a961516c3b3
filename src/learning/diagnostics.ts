/**
 * Gradient diagnostics: how good is an estimator on a batch, as a function of its number of
 * copies K. For each K, over independent seeded draws: the cosine similarity of the estimate to a
 * reference gradient (per layer and overall) and the variance of one estimate (the trace of its
 * covariance, per layer and overall). The numbers a researcher reports when comparing estimators.
 */
import type * as tf from '@tensorflow/tfjs';
import { checkInteger, check } from '../core/errors.js';
import type { Network } from '../sim/network.js';
import { streamKey } from '../core/random.js';
import type { Batch, Estimator } from './estimators/lr.js';
import type { RowLoss } from './losses.js';

export interface DiagnosticsOptions {
  /** Numbers of copies to evaluate. */
  readonly copies: readonly number[];
  /** Builds the estimator for K copies. */
  readonly estimator: (copies: number) => Estimator;
  /** Independent draws per K (≥ 2). */
  readonly draws: number;
  /** Reference gradient (e.g. BPTT's); default: the mean of `draws` estimates at `referenceCopies`. */
  readonly reference?: ReadonlyMap<tf.Variable, tf.Tensor>;
  readonly referenceCopies?: number;
  readonly seed?: number;
}

export interface LayerStats {
  readonly cosine: number;
  readonly variance: number;
}

export interface DiagnosticsRow {
  readonly copies: number;
  /** Mean and standard deviation over draws of the overall cosine similarity to the reference. */
  readonly cosine: { readonly mean: number; readonly sd: number };
  /** Variance of one estimate (sum over entries), overall. */
  readonly variance: number;
  readonly layers: Readonly<Record<string, LayerStats>>;
}

type Flat = Map<string, Float64Array>;

function flatten(net: Network, grads: ReadonlyMap<tf.Variable, tf.Tensor>): Flat {
  const out: Flat = new Map();
  for (const layer of net.layers) {
    const parts = Object.values(layer.params).flatMap((v) => Array.from(grads.get(v)?.dataSync() ?? []));
    if (parts.length) out.set(layer.name, Float64Array.from(parts));
  }
  return out;
}

/** Cosine similarity of two vectors (0 when either is zero). */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0,
    na = 0,
    nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

function concat(f: Flat): Float64Array {
  const all = [...f.values()];
  const out = new Float64Array(all.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of all) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

function draw(net: Network, batch: Batch, loss: RowLoss, est: Estimator, seed: number): Flat {
  const e = est.estimate(net, batch, loss, seed);
  const f = flatten(net, e.gradients);
  e.dispose();
  return f;
}

export function gradientDiagnostics(net: Network, batch: Batch, loss: RowLoss, o: DiagnosticsOptions): DiagnosticsRow[] {
  checkInteger('gradientDiagnostics', 'draws', o.draws, 2);
  check(o.copies.length > 0, () => 'gradientDiagnostics: copies must list at least one number of copies');
  const seed = o.seed ?? 0;
  let reference: Flat;
  if (o.reference) reference = flatten(net, o.reference);
  else {
    const k = o.referenceCopies ?? 4 * Math.max(...o.copies);
    const est = o.estimator(k);
    const sum: Flat = new Map();
    for (let d = 0; d < o.draws; d++) {
      for (const [name, g] of draw(net, batch, loss, est, streamKey(seed, 0x7ef, d))) {
        const acc = sum.get(name) ?? new Float64Array(g.length);
        g.forEach((v, i) => (acc[i]! += v / o.draws));
        sum.set(name, acc);
      }
    }
    reference = sum;
  }
  const refAll = concat(reference);
  return o.copies.map((k) => {
    const est = o.estimator(k);
    const draws = Array.from({ length: o.draws }, (_, d) => draw(net, batch, loss, est, streamKey(seed, k, d)));
    const cosines = draws.map((f) => cosine(concat(f), refAll));
    const mean = cosines.reduce((a, b) => a + b, 0) / cosines.length;
    const sd = Math.sqrt(cosines.reduce((a, b) => a + (b - mean) ** 2, 0) / (cosines.length - 1));
    const layers: Record<string, LayerStats> = {};
    let variance = 0;
    for (const [name, ref] of reference) {
      const rows = draws.map((f) => f.get(name)!);
      let v = 0;
      for (let i = 0; i < ref.length; i++) {
        const m = rows.reduce((s, r) => s + r[i]!, 0) / rows.length;
        v += rows.reduce((s, r) => s + (r[i]! - m) ** 2, 0) / (rows.length - 1);
      }
      variance += v;
      layers[name] = { cosine: rows.reduce((s, r) => s + cosine(r, ref), 0) / rows.length, variance: v };
    }
    return { copies: k, cosine: { mean, sd }, variance, layers };
  });
}
