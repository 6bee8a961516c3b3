import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../src/kernels/backend.js';
import { deltaEncode, latencyEncode, rateEncode } from '../src/sim/encoders.js';

const arr = (t: tf.Tensor) => {
  const v = Array.from(t.dataSync());
  t.dispose();
  return v;
};

describe('rate encoder', () => {
  it('fires each input with probability x per step: the mean is within its binomial tolerance', () => {
    const levels = [0, 0.05, 0.3, 0.5, 0.91, 1];
    const batch = 50,
      steps = 200;
    const x = tf.tensor2d(
      Array.from({ length: batch }, () => levels),
      [batch, levels.length],
    );
    const s = rateEncode(x, steps, { seed: 42 });
    expect(s.shape).toEqual([batch, steps, levels.length]);
    const means = arr(tf.tidy(() => tf.mean(s, [0, 1])));
    const n = batch * steps;
    levels.forEach((p, i) => expect(Math.abs(means[i]! - p)).toBeLessThanOrEqual(4.5 * Math.sqrt((p * (1 - p)) / n)));
    const values = new Set(arr(s));
    expect([...values].sort()).toEqual([0, 1]);
    x.dispose();
  });

  it('multiplies the rate by gain and caps it at one', () => {
    const x = tf.tensor2d([[0.1, 0.8]]);
    const means = arr(tf.tidy(() => tf.mean(rateEncode(x, 20_000, { seed: 1, gain: 2 }), [0, 1])));
    expect(Math.abs(means[0]! - 0.2)).toBeLessThan(4.5 * Math.sqrt((0.2 * 0.8) / 20_000));
    expect(means[1]).toBe(1);
    x.dispose();
  });

  it('gives the same spikes on wasm (uniforms written by its kernel) as on cpu (uniforms from JavaScript)', async () => {
    const before = tf.getBackend();
    const spikes = async (backend: string) => {
      await initBackend({ backend, log: null });
      const x = tf.tensor2d(
        Array.from({ length: 3 * 50 }, (_, i) => (i % 11) / 10),
        [3, 50],
      );
      const s = arr(rateEncode(x, 7, { seed: 9 }));
      x.dispose();
      return s;
    };
    const [wasm, cpu] = [await spikes('wasm'), await spikes('cpu')];
    expect(wasm).toEqual(cpu);
    expect(wasm.filter((v) => v === 1).length).toBeGreaterThan(100);
    await tf.setBackend(before);
  });

  it('is reproducible from its seed and changes with it', () => {
    const x = tf.fill([4, 30], 0.5);
    const a = arr(rateEncode(x, 10, { seed: 5 }));
    expect(arr(rateEncode(x, 10, { seed: 5 }))).toEqual(a);
    expect(arr(rateEncode(x, 10, { seed: 6 }))).not.toEqual(a);
    x.dispose();
  });

  it('rejects intensities outside [0, 1] and a bad step count', () => {
    const x = tf.tensor2d([[0, 255]]);
    expect(() => rateEncode(x, 10, { seed: 0 })).toThrow(
      /rateEncode: values must be in \[0, 1\] \(scale intensities first, e.g. pixels \/ 255\), got min 0, max 255/,
    );
    expect(() => rateEncode(tf.zeros([1, 2]), 0, { seed: 0 })).toThrow(/rateEncode: steps must be an integer >= 1, got 0/);
    x.dispose();
  });
});

describe('latency encoder', () => {
  it('fires each input above threshold exactly once, brighter inputs earlier (linear)', () => {
    const levels = [1, 0.9, 0.6, 0.35, 0.1, 0.005];
    const steps = 20;
    const s = latencyEncode(tf.tensor2d([levels]), steps);
    const v = arr(s);
    const times = levels.map((_, i) => {
      const fired = Array.from({ length: steps }, (_, t) => v[t * levels.length + i]!);
      return fired.reduce((a, b) => a + b, 0) === 1 ? fired.indexOf(1) : fired.reduce((a, b) => a + b, 0) === 0 ? -1 : NaN;
    });
    expect(times).toEqual(levels.map((x) => (x > 0.01 ? Math.round((1 - x) * (steps - 1)) : -1)));
    const fired = times.filter((t) => t >= 0);
    expect([...fired].sort((a, b) => a - b)).toEqual(fired); // monotone: brighter never later
  });

  it('log mode fires at round(τ ln(x / (x − ϑ))), the RC charging time, and drops spikes past the end', () => {
    const levels = [1, 0.5, 0.2, 0.06, 0.021];
    const tau = 4,
      threshold = 0.02,
      steps = 12;
    const v = arr(latencyEncode(tf.tensor2d([levels]), steps, { mode: 'log', tau, threshold }));
    levels.forEach((x, i) => {
      const tf_ = Math.round(tau * Math.log(x / (x - threshold)));
      const col = Array.from({ length: steps }, (_, t) => v[t * levels.length + i]);
      expect(col.indexOf(1)).toBe(tf_ <= steps - 1 ? tf_ : -1);
    });
  });
});

describe('delta encoder', () => {
  it('spikes where the input rose by at least the threshold, and −1 where it fell with offSpikes', () => {
    const seq = tf.tensor3d([[[0], [0.5], [0.55], [0.2], [0.2], [0.9]]]); // [B=1, T=6, 1]
    expect(arr(deltaEncode(seq, { threshold: 0.3 }))).toEqual([0, 1, 0, 0, 0, 1]);
    expect(arr(deltaEncode(seq, { threshold: 0.3, offSpikes: true }))).toEqual([0, 1, 0, -1, 0, 1]);
    const bright = tf.tensor3d([[[0.8], [0.8]]]);
    expect(arr(deltaEncode(bright, { threshold: 0.3 }))).toEqual([1, 0]);
    expect(arr(deltaEncode(bright, { threshold: 0.3, initial: 'first' }))).toEqual([0, 0]);
  });
});
