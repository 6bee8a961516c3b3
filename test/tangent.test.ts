/**
 * Each neuron model's tangent step (forward mode, the spike taking the surrogate's derivative)
 * against a second method: tfjs autodiff of the same surrogate population. For a loss
 * L = Σ_t w_t · out_t and random directions on the input currents and the coefficients, the
 * tangent carried forward through time must equal ∇L · v from reverse mode.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import type { Coefficients, NeuronModel, NeuronState } from '../src/neurons/model.js';
import { alif, analog, equationNeuron, lif, readoutNeuron, synaptic } from '../src/neurons/params.js';
import { modelOf, type NeuronParams } from '../src/neurons/registry.js';
import { atan, surrogateSpike } from '../src/neurons/surrogate.js';

const T = 8,
  B = 2,
  N = 3;
const surrogate = atan({ alpha: 2 });

function seeded(seed: number, shape: number[], scale = 1, offset = 0): tf.Tensor {
  return tf.tidy(() => tf.add(tf.mul(tf.randomUniform(shape, -1, 1, 'float32', seed), scale), offset));
}

/** Σ_t w_t · out_t of the population on `currents` `[T, B, N']` with coefficients; spikes by H forward, S' backward. */
function objective(p: NeuronParams, currents: tf.Tensor, weights: tf.Tensor, c: Coefficients): tf.Scalar {
  const model = modelOf(p) as NeuronModel<NeuronParams>;
  const spike = surrogateSpike(surrogate);
  const fire = model.role === 'spiking' ? (u: tf.Tensor, thr: number | tf.Tensor) => spike(tf.sub(u, thr)) : model.fire(p, undefined, 0);
  const field = model.role === 'readout' ? 'membrane' : 'spikes';
  let state: NeuronState = model.initialState(p, [B, N]);
  const drives = tf.unstack(currents);
  const w = tf.unstack(weights);
  let total: tf.Tensor = tf.scalar(0);
  drives.forEach((d, t) => {
    state = model.step(d, state, p, fire, t, c);
    total = tf.add(total, tf.sum(tf.mul(w[t]!, state[field]!)));
  });
  return total as tf.Scalar;
}

/** The same Σ_t w_t · dout_t by the model's tangent step. */
function tangentOf(p: NeuronParams, currents: tf.Tensor, dCurrents: tf.Tensor, weights: tf.Tensor, c: Coefficients, dc: Record<string, tf.Tensor>): number {
  return tf.tidy(() => {
    const model = modelOf(p) as NeuronModel<NeuronParams>;
    const fire = model.fire(p, undefined, 0);
    const field = model.role === 'readout' ? 'membrane' : 'spikes';
    let state: NeuronState = model.initialState(p, [B, N]);
    let d: Record<string, tf.Tensor | undefined> = {};
    const [I, dI, w] = [tf.unstack(currents), tf.unstack(dCurrents), tf.unstack(weights)];
    let total: tf.Tensor = tf.scalar(0);
    for (let t = 0; t < T; t++) {
      const next = model.step(I[t]!, state, p, fire, t, c);
      d = model.tangent(p, {
        t,
        current: I[t]!,
        dCurrent: dI[t]!,
        previous: state,
        dPrevious: d,
        next,
        coefficients: c,
        dCoefficients: dc,
        derivative: (x) => surrogate.derivative(x),
      });
      total = tf.add(total, tf.sum(tf.mul(w[t]!, d[field] ?? tf.zeros([B, N]))));
      state = next;
    }
    return total.dataSync()[0]!;
  });
}

interface Case {
  readonly name: string;
  readonly neuron: NeuronParams;
  /** Learned per-neuron coefficients and their values. */
  readonly coefficients?: Record<string, number>;
  /** Width of the currents per neuron (a GRU's 3 gates). */
  readonly gates?: number;
}

const izhikevichLike = equationNeuron({
  name: 'quadratic adaptive',
  equations: { u: 'beta * u + I - w + c * u^2', w: 'rho * w + a * u' },
  reset: { u: 'I - w', w: 'rho * w + a * u + b' },
  spike: { variable: 'u', threshold: 'theta + 0.5 * w' },
  parameters: { beta: 0.8, rho: 0.7, a: 0.3, b: 0.2, c: 0.1, theta: 0.6 },
});

const cases: Case[] = [
  { name: 'LIF, subtract reset', neuron: lif({ beta: 0.8, threshold: 0.5 }), coefficients: { beta: 0.8, threshold: 0.5 } },
  { name: 'LIF, zero reset', neuron: lif({ beta: 0.85, threshold: 0.4, reset: 'zero' }), coefficients: { beta: 0.85, threshold: 0.4 } },
  { name: 'LIF, no reset', neuron: lif({ beta: 0.7, threshold: 0.6, reset: 'none' }), coefficients: { beta: 0.7 } },
  { name: 'LIF, refractory', neuron: lif({ beta: 0.9, threshold: 0.3, refractory: 2 }), coefficients: { threshold: 0.3 } },
  { name: 'IF (β = 1)', neuron: lif({ beta: 1, threshold: 0.7 }) },
  { name: 'current-based LIF', neuron: synaptic({ alpha: 0.6, beta: 0.8, threshold: 0.4 }), coefficients: { beta: 0.8, threshold: 0.4 } },
  { name: 'ALIF', neuron: alif({ beta: 0.85, threshold: 0.4, rho: 0.6, adaptation: 0.5 }), coefficients: { beta: 0.85, threshold: 0.4 } },
  { name: 'ALIF, zero reset', neuron: alif({ beta: 0.85, threshold: 0.4, rho: 0.6, adaptation: 0.5, reset: 'zero' }) },
  { name: 'leaky readout', neuron: readoutNeuron({ beta: 0.8 }), coefficients: { beta: 0.8 } },
  { name: 'analog tanh', neuron: analog({ activation: 'tanh' }) },
  { name: 'analog sigmoid', neuron: analog({ activation: 'sigmoid' }) },
  { name: 'equation: quadratic adaptive neuron, threshold moved by w', neuron: izhikevichLike, coefficients: { beta: 0.8, a: 0.3, theta: 0.6 } },
];

describe('tangent steps equal autodiff of the surrogate population', () => {
  it.each(cases)('$name', ({ neuron, coefficients = {} }) => {
    const currents = seeded(1, [T, B, N], 0.6, 0.25);
    const weights = seeded(2, [T, B, N]);
    const dCurrents = seeded(3, [T, B, N]);
    const coef: Record<string, tf.Tensor> = Object.fromEntries(Object.entries(coefficients).map(([k, v]) => [k, tf.fill([N], v)]));
    const dCoef: Record<string, tf.Tensor> = Object.fromEntries(Object.keys(coefficients).map((k, i) => [k, seeded(10 + i, [N])]));
    const names = Object.keys(coef);
    // reverse mode: ∇L with respect to the currents and the coefficients, dotted with the directions
    const grads = tf.grads((I: tf.Tensor, ...cs: tf.Tensor[]) => objective(neuron, I, weights, Object.fromEntries(names.map((k, i) => [k, cs[i]!]))))([
      currents,
      ...names.map((k) => coef[k]!),
    ]);
    const reverse = tf.tidy(
      () =>
        [tf.sum(tf.mul(grads[0]!, dCurrents)), ...names.map((k, i) => tf.sum(tf.mul(grads[i + 1]!, dCoef[k]!)))].reduce((a, b) => tf.add(a, b)).dataSync()[0]!,
    );
    const forward = tangentOf(neuron, currents, dCurrents, weights, coef, dCoef);
    expect(Math.abs(reverse)).toBeGreaterThan(1e-3); // the directions do move the loss
    expect(forward).toBeCloseTo(reverse, 4);
    expect(Math.abs(forward - reverse)).toBeLessThan(1e-4 * Math.max(1, Math.abs(reverse)));
    tf.dispose([currents, weights, dCurrents, ...grads, ...Object.values(coef), ...Object.values(dCoef)]);
  });

  it('GRU cell: input currents and recurrent weights', () => {
    const neuron = { kind: 'gru' } as const;
    const model = modelOf(neuron);
    const currents = seeded(4, [T, B, 3 * N], 0.8);
    const dCurrents = seeded(5, [T, B, 3 * N]);
    const weights = seeded(6, [T, B, N]);
    const u = seeded(7, [N, 3 * N], 0.5),
      du = seeded(8, [N, 3 * N]);
    const c = seeded(9, [3 * N], 0.3),
      dc = seeded(11, [3 * N]);
    const run = (I: tf.Tensor, U: tf.Tensor, C: tf.Tensor) => {
      let state = model.initialState(neuron, [B, N]);
      let total: tf.Tensor = tf.scalar(0);
      tf.unstack(I).forEach((d, t) => {
        state = model.step(d, state, neuron, model.fire(neuron, undefined, 0), t, { recurrent: U, recurrentBias: C });
        total = tf.add(total, tf.sum(tf.mul(tf.unstack(weights)[t]!, state.spikes)));
      });
      return total as tf.Scalar;
    };
    const g = tf.grads(run)([currents, u, c]);
    const reverse = tf.tidy(() => tf.addN([tf.sum(tf.mul(g[0]!, dCurrents)), tf.sum(tf.mul(g[1]!, du)), tf.sum(tf.mul(g[2]!, dc))]).dataSync()[0]!);
    const forward = tf.tidy(() => {
      let state = model.initialState(neuron, [B, N]);
      let d: Record<string, tf.Tensor | undefined> = {};
      let total: tf.Tensor = tf.scalar(0);
      const coefficients = { recurrent: u, recurrentBias: c };
      tf.unstack(currents).forEach((I, t) => {
        const next = model.step(I, state, neuron, model.fire(neuron, undefined, 0), t, coefficients);
        d = model.tangent(neuron, {
          t,
          current: I,
          dCurrent: tf.unstack(dCurrents)[t]!,
          previous: state,
          dPrevious: d,
          next,
          coefficients,
          dCoefficients: { recurrent: du, recurrentBias: dc },
          derivative: (x) => surrogate.derivative(x),
        });
        total = tf.add(total, tf.sum(tf.mul(tf.unstack(weights)[t]!, d['spikes']!)));
        state = next;
      });
      return total.dataSync()[0]!;
    });
    expect(Math.abs(reverse)).toBeGreaterThan(1e-3);
    expect(Math.abs(forward - reverse)).toBeLessThan(1e-4 * Math.max(1, Math.abs(reverse)));
  });
});
