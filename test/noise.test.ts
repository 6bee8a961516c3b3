import * as tf from '@tensorflow/tfjs';
import { erf } from 'mathjs';
import { describe, expect, it } from 'vitest';
import { escapeFire, heaviside, stepNoise } from '../src/neurons/firing.js';
import { copyNoise, copyPlan, copyUniforms } from '../src/learning/sampling.js';
import {
  escapeNoise,
  firingProbability,
  noiseDensity,
  noiseScore,
  normalQuantile,
  sampleNoise,
  spikeScore,
  NOISE_KINDS,
  type NoiseKind,
} from '../src/neurons/noise.js';
import { streamKey } from '../src/core/random.js';

// Independent closed forms (float64), written from the textbook definitions.
const cdf: Record<NoiseKind, (z: number) => number> = {
  gaussian: (z) => 0.5 * (1 + erf(z / Math.SQRT2)),
  logistic: (z) => 1 / (1 + Math.exp(-z)),
  laplace: (z) => (z < 0 ? 0.5 * Math.exp(z) : 1 - 0.5 * Math.exp(-z)),
};
const logDensity: Record<NoiseKind, (e: number) => number> = {
  gaussian: (e) => -0.5 * e * e - 0.5 * Math.log(2 * Math.PI),
  logistic: (e) => -e - 2 * Math.log1p(Math.exp(-e)),
  laplace: (e) => -Math.abs(e) - Math.log(2),
};
const variance: Record<NoiseKind, number> = { gaussian: 1, logistic: Math.PI ** 2 / 3, laplace: 2 };
const fourthMoment: Record<NoiseKind, number> = { gaussian: 3, logistic: (7 * Math.PI ** 4) / 15, laplace: 24 };

const values = (t: tf.Tensor) => {
  const v = Array.from(t.dataSync());
  t.dispose();
  return v;
};

describe('escape noise', () => {
  const zs = [-2, -0.8, 0, 0.5, 1.7];

  it.each(NOISE_KINDS)('%s: firing frequency over many seeded draws matches the noise CDF', (kind) => {
    const n = 40_000;
    const sigma = 0.5,
      threshold = 1;
    for (const z of zs) {
      const membrane = tf.fill([1, n], threshold + sigma * z);
      const spikes = escapeFire(escapeNoise(kind, sigma), streamKey(7, Math.round(z * 10)))(membrane, threshold, 3);
      const freq = values(tf.mean(spikes));
      spikes.dispose();
      membrane.dispose();
      const p = cdf[kind](z);
      // binomial standard error; 4.5 of them: a false alarm in ~1e-5 of seeds
      expect(Math.abs(freq[0]! - p)).toBeLessThan(4.5 * Math.sqrt((p * (1 - p)) / n) + 1e-9);
    }
  });

  it.each(NOISE_KINDS)('%s: firingProbability and noiseDensity agree with the closed forms', (kind) => {
    const grid = Array.from({ length: 41 }, (_, i) => -6 + 0.3 * i);
    const z = tf.tensor1d(grid);
    const p = values(firingProbability(kind, z));
    const f = values(noiseDensity(kind, z));
    z.dispose();
    grid.forEach((x, i) => {
      expect(p[i]).toBeCloseTo(cdf[kind](x), 6);
      expect(f[i]).toBeCloseTo(Math.exp(logDensity[kind](x)), 6);
    });
  });

  it.each(NOISE_KINDS)('%s: sampled noise has mean 0 and the distribution variance', (kind) => {
    const n = 200_000;
    const eps = sampleNoise(kind, n, streamKey(11));
    let m = 0,
      v = 0;
    for (const e of eps) m += e / n;
    for (const e of eps) v += (e - m) ** 2 / n;
    const s2 = variance[kind];
    expect(Math.abs(m)).toBeLessThan(4.5 * Math.sqrt(s2 / n));
    const mu4 = fourthMoment[kind];
    expect(Math.abs(v - s2)).toBeLessThan(4.5 * Math.sqrt((mu4 - s2 * s2) / n));
  });

  it('normalQuantile inverts the Gaussian CDF', () => {
    for (const p of [1e-9, 1e-4, 0.01, 0.02425, 0.2, 0.5, 0.77, 0.975, 0.9999]) {
      expect(cdf.gaussian(normalQuantile(p))).toBeCloseTo(p, 8);
    }
  });

  it.each(NOISE_KINDS)("%s: the noise score is −(log f)'(ε)/σ (finite differences)", (kind) => {
    const sigma = 0.7;
    const grid = [-3.1, -1.2, -0.3, 0.4, 2.2];
    const got = values(noiseScore(kind, tf.tensor1d(grid), sigma));
    grid.forEach((e, i) => {
      const h = 1e-5;
      const fd = -(logDensity[kind](e + h) - logDensity[kind](e - h)) / (2 * h) / sigma;
      expect(got[i]).toBeCloseTo(fd, 4);
    });
  });

  it.each(NOISE_KINDS)('%s: the spike score is ∂/∂u log P(s | u) (finite differences of the CDF)', (kind) => {
    const sigma = 0.5,
      threshold = 1;
    for (const z of [-2.5, -1, -0.2, 0.3, 1.4, 2.8]) {
      const u = threshold + sigma * z;
      const logP = (s: number, uu: number) => {
        const p = cdf[kind]((uu - threshold) / sigma);
        return Math.log(s ? p : 1 - p);
      };
      for (const s of [0, 1]) {
        const h = 1e-6;
        const fd = (logP(s, u + h) - logP(s, u - h)) / (2 * h);
        const got = values(spikeScore(kind, tf.scalar(s), tf.scalar(z), sigma))[0]!;
        expect(got).toBeCloseTo(fd, 3);
      }
    }
  });

  it('the Gaussian spike score stays finite and accurate far in the tails', () => {
    // φ(8)/Q(8) with the tabulated Q(8) = 6.220960574271785e-16 and φ(8) = e^(−32)/√(2π).
    const hazard8 = Math.exp(-32) / Math.sqrt(2 * Math.PI) / 6.220960574271785e-16;
    const fired = values(spikeScore('gaussian', tf.scalar(1), tf.scalar(-8), 1))[0]!;
    const silent = values(spikeScore('gaussian', tf.scalar(0), tf.scalar(8), 1))[0]!;
    expect(fired).toBeCloseTo(hazard8, 3);
    expect(silent).toBeCloseTo(-hazard8, 3);
  });

  it.each(NOISE_KINDS)('%s: the spike score is the mean noise score given the spike, and has mean zero', (kind) => {
    const sigma = 0.5,
      n = 200_000;
    for (const z of [-1, 0.3, 1.2]) {
      const eps = tf.tensor1d(sampleNoise(kind, n, streamKey(3, Math.round(z * 10))));
      const fired = tf.tidy(() => tf.cast(tf.greater(tf.add(z * sigma, tf.mul(eps, sigma)), 0), 'float32'));
      const score = noiseScore(kind, eps, sigma);
      const s = values(fired.clone());
      const psi = values(score.clone());
      const conditional = [0, 1].map((spike) => {
        const sel = psi.filter((_, i) => s[i] === spike);
        const mean = sel.reduce((a, b) => a + b, 0) / sel.length;
        const sd = Math.sqrt(sel.reduce((a, b) => a + (b - mean) ** 2, 0) / sel.length);
        return { mean, se: sd / Math.sqrt(sel.length) };
      });
      const expected = values(spikeScore(kind, tf.tensor1d([0, 1]), tf.tensor1d([z, z]), sigma));
      conditional.forEach((c, spike) => expect(Math.abs(c.mean - expected[spike]!)).toBeLessThan(4.5 * c.se + 1e-6));
      const p = cdf[kind](z);
      expect(p * expected[1]! + (1 - p) * expected[0]!).toBeCloseTo(0, 5);
      tf.dispose([eps, fired, score]);
    }
  });

  it('as σ → 0 a stochastic neuron fires exactly like the deterministic one', () => {
    const u = tf.tensor2d(
      Array.from({ length: 4000 }, (_, i) => 1 + (i % 2 ? 1 : -1) * (0.001 + (i % 97) / 50)),
      [1, 4000],
    );
    const det = values(heaviside(u, 1, 0));
    for (const kind of NOISE_KINDS) {
      const sto = values(escapeFire(escapeNoise(kind, 1e-6), streamKey(1))(u, 1, 0));
      expect(sto).toEqual(det);
    }
    u.dispose();
  });

  it('rejects a non-positive σ and an unknown noise kind', () => {
    expect(() => escapeNoise('gaussian', 0)).toThrow(/escapeNoise: sigma must be > 0, got 0/);
    expect(() => escapeNoise('cauchy' as never, 1)).toThrow(/unknown noise kind 'cauchy'; expected one of 'gaussian', 'logistic', 'laplace'/);
  });
});

describe('firing from one uniform per neuron-step is firing on the drawn noise', () => {
  // s = H(U − (1 − F(z))) must be the event ε = F⁻¹(U) > (ϑ − u)/σ for every neuron-step; the two
  // can disagree only where u + σε lands within float32 rounding of ϑ
  const n = 4000;
  const membrane = Float32Array.from({ length: n }, (_, i) => 1 + 1.5 * Math.sin(i * 0.61));
  const boundary = (u: number, eps: number, sigma: number) => Math.abs(u + sigma * eps - 1) < 1e-5;

  it.each(['gaussian', 'logistic', 'laplace'] as const)('escapeFire with %s noise fires exactly where u + σε > ϑ', (kind) => {
    const noise = escapeNoise(kind, 0.4);
    for (const t of [0, 3]) {
      const s = tf.tidy(() => escapeFire(noise, 77, undefined)(tf.tensor(membrane, [40, 100]), 1, t).dataSync());
      const eps = tf.tidy(() => stepNoise(noise, 77, t, [40, 100]).dataSync());
      let fired = 0;
      membrane.forEach((u, i) => {
        const want = u + 0.4 * eps[i]! > 1 ? 1 : 0;
        if (!boundary(u, eps[i]!, 0.4)) expect(s[i], `neuron-step ${i} at t=${t}`).toBe(want);
        fired += want;
      });
      expect(fired).toBeGreaterThan(n / 10); // both outcomes occur
      expect(fired).toBeLessThan((9 * n) / 10);
    }
  });

  it.each(['mc', 'antithetic', 'qmc'] as const)("the LR copies' uniforms are the CDF of their noise (%s sampling)", (sampling) => {
    const plan = copyPlan(8, sampling);
    for (const kind of ['gaussian', 'logistic', 'laplace'] as const) {
      const u = copyUniforms(plan, 5, 2, 3, 7);
      const eps = copyNoise(kind, plan, 5, 2, 3, 7);
      expect(u.length).toBe(eps.length);
      u.forEach((v, i) => expect(cdf[kind](eps[i]!)).toBeCloseTo(v, 5));
    }
  });
});
