/**
 * Variance reduction leaves the LR estimate unbiased and lowers its variance, on the tiny SNN of
 * tiny-snn.ts (Gaussian escape noise, spike score, K = 64). "Lower" is a statistical claim: the
 * ratio of total variances over M seeded draws must have its bootstrap 99.9% upper bound below 1.
 */
import { describe, expect, it } from 'vitest';
import type { LRConfig } from '../src/learning/estimators/lr.js';
import { escapeNoise } from '../src/neurons/noise.js';
import { lif } from '../src/neurons/params.js';
import { build, cosine, exactGradient, expectUnbiased, lrDraws, lrSamples, snapshot, varianceRatioUpper, type Case } from './tiny-snn.js';

const gaussian: Case = {
  name: 'gaussian',
  hidden: lif({ beta: 0.8, threshold: 0.6 }),
  output: lif({ beta: 0.7, threshold: 0.5 }),
  recurrentHidden: true,
  learn: ['beta', 'threshold'],
  noise: escapeNoise('gaussian', 0.4),
  config: { score: 'spike' },
};

describe('variance reduction', () => {
  it.each<[string, Partial<LRConfig>]>([
    ['leave-one-out baseline', { baseline: 'loo' }],
    ['noise-free baseline', { baseline: 'noise-free' }],
    ['antithetic pairs, no baseline', { sampling: 'antithetic', baseline: 'none' }],
    ['antithetic pairs with a leave-pair-out baseline', { sampling: 'antithetic', baseline: 'loo' }],
    ['randomised QMC, one group of 64', { sampling: 'qmc', qmcGroup: 64, baseline: 'none' }],
    ['randomised QMC, groups of 16 with a leave-group-out baseline', { sampling: 'qmc', qmcGroup: 16, baseline: 'loo' }],
  ])('%s leaves the mean unchanged', (_, config) => {
    const net = build(gaussian);
    const exact = exactGradient(gaussian, snapshot(net));
    const { mean, se } = lrDraws(gaussian, net, 64, 200, config);
    expect(expectUnbiased(mean, se, exact, expect)).toBeLessThan(3);
    net.dispose();
  });

  it('baselines, antithetic pairs and QMC measurably lower the variance at the same number of copies', () => {
    const net = build(gaussian);
    // 400 draws each: the bootstrap bound is computed from the draws, so fewer draws only widen it
    // (at 400 the weakest, antithetic and QMC, bound at 0.905; at 300, 0.96 and 0.94)
    const M = 400;
    const plain = lrSamples(gaussian, net, 64, M, { baseline: 'none' });
    const loo = lrSamples(gaussian, net, 64, M, { baseline: 'loo' });
    const bound = (a: number[][], b: number[][]) => varianceRatioUpper(a, b);
    expect(bound(loo, plain)).toBeLessThan(1);
    expect(bound(lrSamples(gaussian, net, 64, M, { baseline: 'noise-free' }), plain)).toBeLessThan(1);
    expect(bound(lrSamples(gaussian, net, 64, M, { sampling: 'antithetic', baseline: 'none' }), plain)).toBeLessThan(1);
    // QMC gains ~18% here: spikes make the integrand discontinuous, which limits any QMC rule
    expect(bound(lrSamples(gaussian, net, 64, M, { sampling: 'qmc', qmcGroup: 64, baseline: 'none' }), plain)).toBeLessThan(1);
    net.dispose();
  });

  it('the spike score has lower variance than the noise score', () => {
    const net = build(gaussian);
    const spike = lrSamples(gaussian, net, 64, 200, { score: 'spike' });
    const noise = lrSamples(gaussian, net, 64, 200, { score: 'noise' });
    expect(varianceRatioUpper(spike, noise)).toBeLessThan(1);
    net.dispose();
  });

  it('sign-compressed scores stay positively aligned with the gradient under Gaussian noise', () => {
    const net = build({ ...gaussian, config: { score: 'noise' } });
    const exact = exactGradient(gaussian, snapshot(net));
    const { mean, se } = lrDraws({ ...gaussian, config: { score: 'noise' } }, net, 64, 200, { signScores: true });
    // biased, so no entrywise check: the direction must still agree (cosine well above zero,
    // and every entry's confidence interval on the right side of zero where the truth is clear)
    expect(cosine(mean, exact)).toBeGreaterThan(0.5);
    for (const key of Object.keys(exact))
      exact[key]!.forEach((g, i) => {
        if (Math.abs(mean[key]![i]!) > 5 * se[key]![i]! && Math.abs(g) > 0.05) expect(Math.sign(mean[key]![i]!)).toBe(Math.sign(g));
      });
    net.dispose();
  });

  it('sign-compressed noise scores are exact for Laplace noise', () => {
    const laplace: Case = { ...gaussian, noise: escapeNoise('laplace', 0.4), config: { score: 'noise' } };
    const net = build(laplace);
    const exact = exactGradient(laplace, snapshot(net));
    const { mean, se } = lrDraws(laplace, net, 64, 200, { signScores: true });
    expect(expectUnbiased(mean, se, exact, expect)).toBeLessThan(3);
    net.dispose();
  });
});

describe('layer-wise injection', () => {
  it('gives each layer the exact gradient of the loss with noise in that layer alone, with its own copy budget', () => {
    const c: Case = { ...gaussian, noise: escapeNoise('logistic', 0.4) };
    const net = build(c);
    // hidden parameters: noise only in the hidden layer; output parameters: only in the output layer
    const exact = exactGradient(c, snapshot(net), (key) => (key.startsWith('h.') ? { h: true, o: false } : { h: false, o: true }));
    const { mean, se } = lrDraws(c, net, 64, 200, { layerwise: { h: 64, o: 32 } });
    expect(expectUnbiased(mean, se, exact, expect)).toBeLessThan(3);
    net.dispose();
  });

  it('rejects a copy budget for a layer the network does not have', () => {
    const net = build(gaussian);
    expect(() => lrDraws(gaussian, net, 8, 1, { layerwise: { hidden: 8 } })).toThrow(/no layer named 'hidden'; layers are 'h', 'o'/);
    net.dispose();
  });
});

describe('gradient diagnostics', () => {
  const DRAWS = 400;
  it('report a variance that falls as 1/K for independent copies, and a cosine that rises with K', async () => {
    const { gradientDiagnostics } = await import('../src/learning/diagnostics.js');
    const { likelihoodRatio } = await import('../src/learning/estimators/lr.js');
    const { rateSquaredError } = await import('../src/learning/losses.js');
    const tf = await import('@tensorflow/tfjs');
    const net = build(gaussian);
    const input = tf.tensor([0.9, 0.2, 0.5, 0.1, 0.8, 0.4, 0.6, 0.6, 0.0, 0.2, 0.7, 0.9, 0.8, 0.1, 0.3, 0.4, 0.5, 0.7], [2, 3, 3]);
    const labels = tf.tensor1d([0, 1], 'int32');
    const rows = gradientDiagnostics(net, { input, labels }, rateSquaredError(0.8, 0.2), {
      copies: [2, 8],
      draws: DRAWS,
      estimator: (k) => likelihoodRatio({ copies: k, noise: gaussian.noise, baseline: 'none' }),
      referenceCopies: 256,
    });
    // with no baseline the K copies are i.i.d. terms: Var(mean of K) = Var(one)/K exactly, so the
    // ratio of the traces at K = 2 and 8 is 4. A trace estimated from n draws has relative sd at most √(2/(n−1))
    // for Gaussian estimates (the bound is reached when the covariance has rank 1; independent
    // entries give less), so the ratio of two has sd at most 4·√(2·2/(n−1)): at n = 400, 0.40, and
    // 5 sd is ±2.0 (far from 1, no reduction, and from 16, a 1/K² law)
    const tolerance = 5 * 4 * Math.sqrt((2 * 2) / (DRAWS - 1));
    const ratio = rows[0]!.variance / rows[1]!.variance;
    expect(ratio).toBeGreaterThan(4 - tolerance);
    expect(ratio).toBeLessThan(4 + tolerance);
    expect(rows[1]!.cosine.mean).toBeGreaterThan(rows[0]!.cosine.mean);
    expect(Object.keys(rows[0]!.layers)).toEqual(['h', 'o']);
    tf.dispose([input, labels]);
    net.dispose();
  });
});
