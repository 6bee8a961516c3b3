/**
 * Randman (Zenke and Vogels 2021, "The remarkable robustness of surrogate gradient learning"): smooth
 * random manifolds, and the spike-timing classification task built from them. Generated from a seed.
 *
 * Embedding unit i of a manifold of dimension D is the smooth random function
 *
 *     f_i(x) = Π_d Σ_{k < K} θ_{i,d,0,k} (k + 1)^(−α) sin(2π (k x_d θ_{i,d,1,k} + θ_{i,d,2,k})),
 *
 * θ ~ U(0, 1) (the k = 0 amplitude zero unless `bias`), K = min(⌈prec^(−1/α)⌉, 1000). In the spiking
 * task each class is one manifold; a sample is a uniform point x, and unit i fires once, at step
 * ⌊T · frac · f̂_i(x)⌋ with f̂_i standardised to [0, 1] over the samples.
 */
import { check, checkInteger, checkPositive } from '../core/errors.js';
import { streamKey, uniform } from '../core/random.js';

export interface RandmanOptions {
  readonly embedding: number;
  readonly manifold: number;
  readonly alpha?: number;
  readonly bias?: boolean;
  readonly precision?: number;
  readonly seed: number;
}

export function randmanCutoff(alpha: number, precision = 1e-3): number {
  return Math.min(Math.ceil(precision ** (-1 / alpha)), 1000);
}

/** A random manifold: `evaluate(points)` maps `[n, D]` points to `[n, embedding]`. */
export function randman(o: RandmanOptions): { readonly cutoff: number; evaluate(points: Float64Array): Float64Array } {
  checkInteger('randman', 'embedding', o.embedding, 1);
  checkInteger('randman', 'manifold', o.manifold, 1);
  const alpha = o.alpha ?? 2;
  checkPositive('randman', 'alpha', alpha);
  const K = randmanCutoff(alpha, o.precision ?? 1e-3);
  const E = o.embedding,
    D = o.manifold;
  const theta = uniform(E * D * 3 * K, streamKey(o.seed, 0x4a3));
  const at = (i: number, d: number, j: number, k: number) => theta[((i * D + d) * 3 + j) * K + k]!;
  const spectrum = Array.from({ length: K }, (_, k) => (k + 1) ** -alpha);
  return {
    cutoff: K,
    evaluate(points) {
      check(points.length % D === 0, () => `randman: points must be [n, ${D}], got ${points.length} values`);
      const n = points.length / D;
      const out = new Float64Array(n * E).fill(1);
      for (let s = 0; s < n; s++) {
        for (let i = 0; i < E; i++) {
          let prod = 1;
          for (let d = 0; d < D; d++) {
            const x = points[s * D + d]!;
            let sum = 0;
            for (let k = 0; k < K; k++) {
              const amplitude = k === 0 && !o.bias ? 0 : at(i, d, 0, k);
              sum += amplitude * spectrum[k]! * Math.sin(2 * Math.PI * (k * x * at(i, d, 1, k) + at(i, d, 2, k)));
            }
            prod *= sum;
          }
          out[s * E + i] = prod;
        }
      }
      return out;
    },
  };
}

export interface RandmanTask {
  /** `[count, steps, units]` spikes (0/1), row-major. */
  readonly spikes: Float32Array;
  readonly labels: Uint8Array;
  readonly count: number;
  readonly steps: number;
  readonly units: number;
}

/** The randman spike-timing task: `classes` manifolds, `samples` points each, shuffled (seeded). */
export function randmanTask(o: {
  readonly classes?: number;
  readonly units?: number;
  readonly steps?: number;
  readonly stepFraction?: number;
  readonly manifold?: number;
  readonly samples?: number;
  readonly alpha?: number;
  readonly seed: number;
}): RandmanTask {
  const classes = o.classes ?? 10,
    units = o.units ?? 100,
    steps = o.steps ?? 100,
    samples = o.samples ?? 1000;
  const manifold = o.manifold ?? 2,
    frac = o.stepFraction ?? 1;
  checkInteger('randmanTask', 'classes', classes, 1);
  checkInteger('randmanTask', 'samples', samples, 2);
  checkInteger('randmanTask', 'steps', steps, 1);
  check(frac > 0 && frac <= 1, () => `randmanTask: stepFraction must be in (0, 1], got ${frac}`);
  const count = classes * samples;
  const spikes = new Float32Array(count * steps * units);
  const labels = new Uint8Array(count);
  const order = Int32Array.from({ length: count }, (_, i) => i);
  const u = uniform(count, streamKey(o.seed, 0x5f1));
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(u[i]! * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  for (let c = 0; c < classes; c++) {
    const points = uniform(samples * manifold, streamKey(o.seed, 0x9a, c));
    const values = randman({ embedding: units, manifold, alpha: o.alpha ?? 2, seed: streamKey(o.seed, 0x3d, c) }).evaluate(points);
    for (let i = 0; i < units; i++) {
      let lo = Infinity,
        hi = -Infinity;
      for (let s = 0; s < samples; s++) {
        const v = values[s * units + i]!;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      for (let s = 0; s < samples; s++) {
        const standard = (values[s * units + i]! - lo) / (hi - lo + 1e-7);
        const step = Math.min(steps - 1, Math.floor(standard * steps * frac));
        const row = order[c * samples + s]!;
        spikes[(row * steps + step) * units + i] = 1;
        labels[row] = c;
      }
    }
  }
  return { spikes, labels, count, steps, units };
}
