/**
 * BPTT's fused LIF sequence (src/kernels/lif-sequence.ts, assembly/lif.ts): its spikes against the LIF
 * recurrence in float32 written out here, its gradient against autodiff of the unrolled separate
 * ops, and the BPTT estimator with it against the estimator without it.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import { bptt, differentiableRun } from '../src/learning/estimators/bptt.js';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import { rateRegularizer, regularized } from '../src/learning/regularizers.js';
import { lifStep, type ResetMode } from '../src/neurons/lif.js';
import { lif } from '../src/neurons/params.js';
import { atan, fastSigmoid, sigmoid, surrogateSpike, triangular } from '../src/neurons/surrogate.js';
import { lifSequence, lifSequenceActive } from '../src/kernels/lif-sequence.js';
import { conv2d, dense, flatten, readout } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';
import { useFusedKernels } from '../src/kernels/noisy-lif-kernel.js';

const f32 = Math.fround;
const RESETS: ResetMode[] = ['subtract', 'zero', 'none'];

afterEach(() => useFusedKernels(true));

/** Deterministic values in [lo, hi). */
const spread = (n: number, seed: number, lo: number, hi: number) =>
  Float32Array.from({ length: n }, (_, i) => lo + (hi - lo) * (0.5 + 0.5 * Math.sin(seed * 7919 + i * 12.9898)));

// 9 steps of 3 rows × 37 neurons (a tail past the 4-wide loops); currents that make the neurons fire often
const [T, R, N] = [9, 3, 37];
const [BETA, THRESHOLD] = [0.85, 0.7];
const currents = () => tf.tensor(spread(T * R * N, 1, -0.8, 1.2), [T, R, N]);

/** x forward, zero gradient backward. */
const constant = tf.customGrad(((x: tf.Tensor) => ({ value: tf.mul(x, 1), gradFunc: (dy: tf.Tensor) => tf.mul(dy, 0) })) as unknown as Parameters<
  typeof tf.customGrad
>[0]) as unknown as (x: tf.Tensor) => tf.Tensor;

/** The unrolled separate ops (lifStep), firing by `fire`; `detachReset`: the previous spike enters the update as a constant. */
function unrolled(x: tf.Tensor, reset: ResetMode, fire: (u: tf.Tensor, threshold: tf.Tensor | number) => tf.Tensor, detachReset = false): tf.Tensor {
  const p = lif({ beta: BETA, threshold: THRESHOLD, reset });
  let state = { membrane: tf.zeros([R, N]), spikes: tf.zeros([R, N]) } as Parameters<typeof lifStep>[1];
  const out: tf.Tensor[] = [];
  for (const drive of tf.unstack(x)) {
    state = lifStep(drive, detachReset ? { ...state, spikes: constant(state.spikes) } : state, p, fire, 0);
    out.push(state.spikes);
  }
  return tf.stack(out);
}

describe('the fused LIF sequence', () => {
  it("runs on wasm (the suite's backend)", () => expect(lifSequenceActive()).toBe(true));

  it.each(RESETS)('reset %s: the spikes of the float32 recurrence u = β u + I − ϑ s, s = H(u − ϑ)', (reset) => {
    const x = currents();
    const I = x.dataSync();
    const s = lifSequence(x, { beta: BETA, threshold: THRESHOLD, reset, surrogate: atan() });
    const got = s.dataSync();
    const [b, th] = [f32(BETA), f32(THRESHOLD)];
    const u = new Float32Array(R * N),
      sp = new Float32Array(R * N);
    let fired = 0;
    for (let t = 0; t < T; t++) {
      for (let i = 0; i < R * N; i++) {
        const c = I[t * R * N + i]!;
        u[i] =
          reset === 'subtract'
            ? f32(f32(f32(b * u[i]!) + c) - f32(th * sp[i]!))
            : reset === 'zero'
              ? f32(f32(f32(b * f32(1 - sp[i]!)) * u[i]!) + c)
              : f32(f32(b * u[i]!) + c);
        sp[i] = f32(u[i]! - th) > 0 ? 1 : 0;
        expect(got[t * R * N + i], `spike at step ${t}, entry ${i}`).toBe(sp[i]);
        fired += sp[i]!;
      }
    }
    // neither silent nor saturated: the reset matters
    expect(fired / (T * R * N)).toBeGreaterThan(0.2);
    expect(fired / (T * R * N)).toBeLessThan(0.8);
    tf.dispose([x, s]);
  });

  // atan, fast sigmoid and triangular: the kernel computes S' itself; sigmoid: S' from its tensor ops
  const surrogates = [
    ['atan(2)', atan()],
    ['fastSigmoid(5)', fastSigmoid({ slope: 5 })],
    ['triangular(0.6)', triangular({ width: 0.6 })],
    ['sigmoid(4)', sigmoid({ slope: 4 })],
  ] as const;
  it.each(RESETS.flatMap((reset) => surrogates.map(([name, s]) => [reset, name, s] as const)))(
    "reset %s, surrogate %s: the currents' gradient is autodiff's through the unrolled separate ops, the reset's spike included",
    (reset, _, surrogate) => {
      const x = currents();
      const w = tf.tensor(spread(T * R * N, 2, -1, 1), [T, R, N]);
      const spike = surrogateSpike(surrogate);
      const fused = tf.grad((c: tf.Tensor) => tf.sum(tf.mul(w, lifSequence(c, { beta: BETA, threshold: THRESHOLD, reset, surrogate }))))(x);
      const reference = tf.grad((c: tf.Tensor) =>
        tf.sum(
          tf.mul(
            w,
            unrolled(c, reset, (u, th) => spike(tf.sub(u, th))),
          ),
        ),
      )(x);
      const [a, r] = [fused.dataSync(), reference.dataSync()];
      const scale = Math.max(...Array.from(r, Math.abs));
      expect(scale).toBeGreaterThan(0.1);
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - r[i]!), `entry ${i}: ${a[i]} vs ${r[i]}`).toBeLessThan(1e-5 * scale);
      tf.dispose([x, w, fused, reference]);
    },
  );

  it.each(['subtract', 'zero'] as const)(
    'reset %s detached: the gradient of the unrolled ops with the previous spike a constant, which differs from the full one',
    (reset) => {
      const x = currents();
      const w = tf.tensor(spread(T * R * N, 2, -1, 1), [T, R, N]);
      const surrogate = atan();
      const spike = surrogateSpike(surrogate);
      const grad = (detachReset: boolean) =>
        tf.grad((c: tf.Tensor) => tf.sum(tf.mul(w, lifSequence(c, { beta: BETA, threshold: THRESHOLD, reset, surrogate, detachReset }))))(x);
      const [fused, full] = [grad(true), grad(false)];
      const reference = tf.grad((c: tf.Tensor) =>
        tf.sum(
          tf.mul(
            w,
            unrolled(c, reset, (u, th) => spike(tf.sub(u, th)), true),
          ),
        ),
      )(x);
      const [a, f, r] = [fused.dataSync(), full.dataSync(), reference.dataSync()];
      const scale = Math.max(...Array.from(r, Math.abs));
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - r[i]!), `entry ${i}: ${a[i]} vs ${r[i]}`).toBeLessThan(1e-5 * scale);
      expect(Math.max(...Array.from(a, (v, i) => Math.abs(v - f[i]!)))).toBeGreaterThan(0.05 * scale);
      tf.dispose([x, w, fused, full, reference]);
    },
  );

  it.each([false, true])(
    'a neuron over two steps, fused path %s: dL/dI₀ = S′(u₁ − ϑ)(β − ϑ S′(u₀ − ϑ)), and S′(u₁ − ϑ) β with the reset detached',
    async (fused) => {
      // one input, one LIF unit (no bias) as the last layer: I_t = w x_t, with x_1 = 0 so that dL/dw = x_0 dL/dI₀
      const net = new Network({ input: [1], layers: [dense({ units: 1, bias: false, neuron: lif({ beta: BETA, threshold: THRESHOLD }) })], seed: 1 });
      const weight = net.layers[0]!.params['weight']!;
      weight.assign(tf.tensor2d([[1]]));
      const input = tf.tensor3d([[[1.1], [0]]]);
      const surrogate = atan({ alpha: 2 });
      const S1 = (v: number) => 1 / (1 + (Math.PI * v) ** 2);
      const [u0, s0] = [1.1, 1];
      const u1 = BETA * u0 - THRESHOLD * s0;
      for (const detachReset of [false, true]) {
        let got = NaN;
        const profile = await tf.profile(() => {
          const { value, grads } = tf.variableGrads(
            () =>
              tf.sum(
                tf.slice(differentiableRun(net, input, surrogateSpike(surrogate), { detachReset, ...(fused ? { surrogate } : {}) }), [1], [1]),
              ) as tf.Scalar,
            [weight],
          );
          got = grads[weight.name]!.dataSync()[0]!;
          tf.dispose([value, ...Object.values(grads)]);
        });
        expect(profile.kernels.some((k) => k.name === 'SpikelrLifSequence')).toBe(fused);
        expect(got).toBeCloseTo(S1(u1 - THRESHOLD) * (detachReset ? BETA : BETA - THRESHOLD * S1(u0 - THRESHOLD)) * 1.1, 6);
      }
      tf.dispose(input);
      net.dispose();
    },
  );

  it('leaves no tensor behind, inside autodiff or outside', () => {
    const x = currents();
    const before = tf.memory().numTensors;
    const s = lifSequence(x, { beta: BETA, threshold: THRESHOLD, reset: 'zero', surrogate: atan() });
    expect(tf.memory().numTensors).toBe(before + 1);
    s.dispose();
    const g = tf.grad((c: tf.Tensor) => tf.sum(lifSequence(c, { beta: BETA, threshold: THRESHOLD, reset: 'zero', surrogate: atan() })))(x);
    expect(tf.memory().numTensors).toBe(before + 1);
    tf.dispose([g, x]);
  });
});

describe('BPTT with the fused sequence', () => {
  const kernelsOf = async (f: () => void) => new Set((await tf.profile(f)).kernels.map((k) => k.name));

  it.each([
    ['rate-coded input, dense layers, a rate regulariser', false],
    ['constant input, a conv layer with zero reset', true],
  ] as const)('%s: the gradients of the unrolled estimator, and the fused kernels ran', async (_, constant) => {
    const net = new Network({
      input: constant ? [6, 6, 1] : [20],
      layers: constant
        ? [
            conv2d({ filters: 3, kernelSize: 3, neuron: lif({ beta: 0.9, threshold: 0.5, reset: 'zero' }) }),
            flatten(),
            dense({ units: 12, neuron: lif({ beta: 0.8, threshold: 0.4 }) }),
            readout({ units: 3, beta: 0.9 }),
          ]
        : [
            dense({ units: 16, neuron: lif({ beta: 0.9, threshold: 0.5 }) }),
            dense({ units: 12, neuron: lif({ beta: 0.8, threshold: 0.4, reset: 'none' }) }),
            readout({ units: 3, beta: 0.9 }),
          ],
      seed: 3,
    });
    const [B, steps] = [5, 12];
    const features = constant ? 36 : 20;
    const values = spread(B * steps * features, 4, 0, 1);
    const input = constant
      ? tf.tile(tf.tensor(values.slice(0, B * features), [B, 1, 6, 6, 1]), [1, steps, 1, 1, 1])
      : tf.tensor(
          values.map((v) => (v < 0.4 ? 1 : 0)),
          [B, steps, features],
        );
    const labels = tf.tensor1d([0, 1, 2, 1, 0], 'int32');
    const loss = constant ? membraneCrossEntropy('mean') : regularized(membraneCrossEntropy('mean'), [rateRegularizer({ weight: 0.5, target: 0.2 })]);
    const estimator = bptt({ surrogate: atan() });
    const batch = { input, labels, constantInTime: constant };
    const grads = () => {
      const e = estimator.estimate(net, batch, loss);
      const g = [...e.gradients.values()].map((t) => Array.from(t.dataSync()));
      e.dispose();
      return { loss: e.loss, g };
    };
    expect(await kernelsOf(() => grads())).toContain('SpikelrLifSequence');
    const fused = grads();
    useFusedKernels(false);
    expect(await kernelsOf(() => grads())).not.toContain('SpikelrLifSequence');
    const reference = grads();
    expect(fused.loss).toBe(reference.loss);
    let nonzero = 0;
    reference.g.forEach((r, k) => {
      const scale = Math.max(...r.map(Math.abs));
      r.forEach((v, i) => expect(Math.abs(fused.g[k]![i]! - v), `parameter ${k}[${i}]`).toBeLessThanOrEqual(1e-5 * scale));
      if (scale > 1e-4) nonzero++;
    });
    expect(nonzero).toBe(reference.g.length);
    tf.dispose([input, labels]);
    net.dispose();
  });
});
