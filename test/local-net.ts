/**
 * The network of the local-loss tests: 3 inputs, two LIF layers of two units (the first with a local
 * head of two classes) and a leaky readout, 3 steps, 2 samples, with fixed parameters; float64
 * helpers for its reference losses and their central differences.
 */
import { lif } from '../src/neurons/params.js';
import { escapeNoise } from '../src/neurons/noise.js';
import { dense, readout, withLocalHead } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';
import type { Params } from './tiny-snn.js';

export const T = 3;
export const INPUTS = [
  [
    [0.9, 0.2, 0.5],
    [0.1, 0.8, 0.4],
    [0.6, 0.6, 0.0],
  ],
  [
    [0.2, 0.7, 0.9],
    [0.8, 0.1, 0.3],
    [0.4, 0.5, 0.7],
  ],
];
export const LABELS = [0, 1];
export const NOISE = escapeNoise('logistic', 0.4);
export const H1 = lif({ beta: 0.8, threshold: 0.6 });
export const H2 = lif({ beta: 0.7, threshold: 0.5 });
export const READOUT_BETA = 0.7;

export const VALUES: Params = {
  'h1.weight': [0.9, -0.4, 0.3, 0.8, -0.2, 0.6],
  'h1.bias': [0.1, -0.05],
  'h1.localWeight': [1.2, -0.7, -0.5, 0.9],
  'h1.localBias': [0.1, -0.1],
  'h2.weight': [0.8, -0.3, 0.4, 0.9],
  'h2.bias': [0.2, 0.1],
  'o.weight': [0.7, -0.3, -0.2, 0.9],
  'o.bias': [0.15, 0.05],
};

export function build(): Network {
  const net = new Network({
    input: [3],
    layers: [
      withLocalHead(dense({ name: 'h1', units: 2, neuron: H1 }), 2),
      dense({ name: 'h2', units: 2, neuron: H2 }),
      readout({ name: 'o', units: 2, beta: READOUT_BETA }),
    ],
    seed: 1,
  });
  for (const [key, v] of Object.entries(VALUES)) {
    const [layer, param] = key.split('.') as [string, string];
    net.setParameter(layer, param, v, { layout: 'spikelr' });
  }
  return net;
}

export const m = (w: number[], rows: number, cols: number) => Array.from({ length: rows }, (_, i) => w.slice(i * cols, (i + 1) * cols));
export const softmaxMinusOneHot = (z: number[], label: number) => {
  const e = z.map((v) => Math.exp(v - Math.max(...z)));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v, k) => v / s - (k === label ? 1 : 0));
};
export const crossEntropy = (z: number[], label: number) => Math.log(z.reduce((s, v) => s + Math.exp(v), 0)) - z[label]!;
/** The readout's time mean as Σ_τ w_τ I_τ: w_τ = (1/T) Σ_{t ≥ τ} β^{t−τ}. */
export const LEAK = Array.from({ length: T }, (_, tau) => Array.from({ length: T - tau }, (_, d) => READOUT_BETA ** d).reduce((a, b) => a + b, 0) / T);

/** Central differences of `f` for every entry of the parameters `keys`. */
export function differences(keys: readonly string[], f: (P: Params) => number): Params {
  const h = 1e-5;
  return Object.fromEntries(
    keys.map((key) => [
      key,
      VALUES[key]!.map((_, i) => {
        const at = (d: number) => f({ ...VALUES, [key]: VALUES[key]!.map((v, j) => (j === i ? v + d : v)) });
        return (at(h) - at(-h)) / (2 * h);
      }),
    ]),
  );
}

export const H1_KEYS = ['h1.weight', 'h1.bias'];
export const HEAD_KEYS = ['h1.localWeight', 'h1.localBias'];
export const LAST_KEYS = ['h2.weight', 'h2.bias'];
export const READOUT_KEYS = ['o.weight', 'o.bias'];
