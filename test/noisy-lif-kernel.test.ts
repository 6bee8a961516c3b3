/**
 * The fused LIF step with logistic escape noise (src/kernels/noisy-lif-kernel.ts, assembly/lif.ts)
 * against a float64 reference of the same formulas, and LR's estimate with it against LR's
 * estimate with the separate tensor ops.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import { likelihoodRatio } from '../src/learning/estimators/lr.js';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import { escapeNoise } from '../src/neurons/noise.js';
import { lif } from '../src/neurons/params.js';
import { dense, readout, recurrent } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';
import { fusedKernelsActive, lifAdjointStep, noisyLifStep, useFusedKernels } from '../src/kernels/noisy-lif-kernel.js';

const f32 = Math.fround;

afterEach(() => useFusedKernels(true));

describe('the fused noisy LIF step', () => {
  it("runs on wasm (the suite's backend)", () => expect(fusedKernelsActive()).toBe(true));

  it.each([
    ['subtract', 0.05],
    ['zero', 0.05],
    ['none', 0.05],
    ['subtract', 0.5],
    ['zero', 0.25],
  ] as const)('reset %s, σ = %s: the membrane to the bit, p within 4 ulp of float64, spikes and scores from it', (reset, sigma) => {
    // σ = 0.05 saturates exp; 0.5 is the recipes' σ
    // 3 copies × 4 samples of 37 neurons (a tail past the 4- and 16-wide loops), a drive shared by the copies
    const [K, B, N] = [3, 4, 37];
    const rnd = (n: number, seed: number, lo: number, hi: number) =>
      Float32Array.from({ length: n }, (_, i) => lo + (hi - lo) * (0.5 + 0.5 * Math.sin(seed * 7919 + i * 12.9898)));
    const drive = rnd(B * N, 1, -3, 4),
      membrane = rnd(K * B * N, 2, -2, 3),
      uniforms = rnd(K * B * N, 4, 0, 1);
    const spikes = rnd(K * B * N, 3, 0, 1).map((v) => (v < 0.3 ? 1 : 0));
    const [beta, threshold] = [0.9, 1]; // with σ = 0.05, z reaches ±100, where exp saturates
    const tensors = [tf.tensor(drive, [B, N]), tf.tensor(membrane, [K, B, N]), tf.tensor(spikes, [K, B, N]), tf.tensor(uniforms, [K, B, N])] as const;
    const r = noisyLifStep(...tensors, { beta, threshold, sigma, reset, score: true })!;
    const [u, s, psi] = [r.membrane.dataSync(), r.spikes.dataSync(), r.score!.dataSync()];
    let decided = 0;
    // the settings as the float32 scalars both paths compute with
    const [b, th, sg] = [f32(beta), f32(threshold), f32(sigma)];
    for (let i = 0; i < K * B * N; i++) {
      const I = drive[i % (B * N)]!,
        m = membrane[i]!,
        sp = spikes[i]!;
      // the separate ops' float32 arithmetic, in their order
      const want =
        reset === 'subtract' ? f32(f32(f32(b * m) + I) - f32(th * sp)) : reset === 'zero' ? f32(f32(f32(b * f32(1 - sp)) * m) + I) : f32(f32(b * m) + I);
      expect(u[i], `membrane[${i}]`).toBe(want);
      const z = f32(f32(want - th) / sg);
      const p = 1 / (1 + Math.exp(-z));
      const margin = uniforms[i]! + p - 1;
      // within rounding of the threshold either spike is right; elsewhere the spike is the event's
      if (Math.abs(margin) > 1e-6) {
        expect(s[i], `spike[${i}] (U = ${uniforms[i]}, p = ${p})`).toBe(margin > 0 ? 1 : 0);
        decided++;
      }
      // ψ = (s − p)/σ with the kernel's p: recovered, p is within 4 ulp (relative) of float64's where it is not tiny
      const pKernel = s[i]! - psi[i]! * sg;
      expect(Math.abs(pKernel - p), `p[${i}] at z = ${z}`).toBeLessThanOrEqual(4 * 2 ** -24 * Math.max(p, 2 ** -20) + 1e-7);
    }
    expect(decided).toBeGreaterThan(0.99 * K * B * N);
    expect(Array.from(s).some((v) => v === 1) && Array.from(s).some((v) => v === 0)).toBe(true);
    tf.dispose([...tensors, r.membrane, r.spikes, r.score!]);
  });

  it.each([
    ['weighted, with a next step, 3 copies of a [4, 37] batch', true, true, [12, 37], 4],
    ['unweighted (a readout), the last step, one copy', false, false, [5, 10], 5],
    ["a conv layer's rows [2 copies × 3, 4, 4, 3]", true, true, [6, 4, 4, 3], 3],
  ] as const)('the fused reverse-filter step equals the separate ops to the bit: %s', (_, weighted, withNext, shape, inputRows) => {
    const beta = 0.9;
    const psi = tf.randomNormal([...shape], 0, 1, 'float32', 7),
      next = tf.randomNormal([...shape], 0, 1, 'float32', 8);
    const w = tf.randomNormal([shape[0]], 0, 1, 'float32', 9);
    const r = lifAdjointStep(psi, weighted ? w : undefined, withNext ? next : undefined, beta, inputRows)!;
    const [lambda, contracted] = tf.tidy(() => {
      const seed = weighted ? tf.mul(tf.reshape(w, [shape[0], ...shape.slice(1).map(() => 1)]), psi) : psi;
      const l = withNext ? tf.add(seed, tf.mul(beta, next)) : seed.clone();
      return [l, tf.sum(tf.reshape(l, [shape[0] / inputRows, inputRows, ...shape.slice(1)]), 0)];
    });
    // === (not Object.is): the kernel's sum starts from +0, a copy of −0 is −0
    const same = (a: tf.Tensor, b: tf.Tensor) => {
      const [x, y] = [a.dataSync(), b.dataSync()];
      expect(a.shape).toEqual(b.shape);
      expect(Array.from(x).every((v, i) => v === y[i])).toBe(true);
    };
    same(r.lambda, lambda!);
    same(r.contracted, contracted!);
    tf.dispose([psi, next, w, r.lambda, r.contracted, lambda!, contracted!]);
  });

  it("LR's estimate is the one from the separate ops (subtract and zero reset, a recurrent layer, shared and per-copy drives)", () => {
    const net = new Network({
      input: [12],
      layers: [
        dense({ units: 21, neuron: lif({ beta: 0.9 }) }),
        recurrent({ units: 10, neuron: lif({ beta: 0.8, reset: 'zero', threshold: 0.5 }) }),
        readout({ units: 3 }),
      ],
      seed: 4,
    });
    const input = tf.tidy(() => tf.cast(tf.less(tf.randomUniform([6, 8, 12], 0, 1, 'float32', 5), 0.5), 'float32'));
    const labels = tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32');
    const est = likelihoodRatio({ copies: 4, noise: escapeNoise('logistic', 0.4) });
    const run = (fused: boolean) => {
      useFusedKernels(fused);
      const e = est.estimate(net, { input, labels }, membraneCrossEntropy(), 11);
      const out = { loss: e.loss, gradients: [...e.gradients].map(([v, g]) => [v.name, Array.from(g.dataSync())] as const) };
      e.dispose();
      return out;
    };
    const [fused, separate] = [run(true), run(false)];
    expect(fused.loss).toBeCloseTo(separate.loss, 5);
    for (const [i, [name, g]] of separate.gradients.entries()) {
      const scale = Math.max(...g.map(Math.abs));
      expect(scale).toBeGreaterThan(1e-6);
      fused.gradients[i]![1].forEach((x, j) => expect(Math.abs(x - g[j]!), `${name}[${j}]`).toBeLessThanOrEqual(1e-4 * scale));
    }
    tf.dispose([input, labels]);
    net.dispose();
  });
});
