import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/kernels/backend.js';
import { bptt } from '../src/learning/estimators/bptt.js';
import { rateRegularizer, regularized } from '../src/learning/regularizers.js';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import { analog, lif } from '../src/neurons/params.js';
import { atan, customSurrogate, fastSigmoid, sigmoid, straightThrough, surrogateSpike, triangular, type Surrogate } from '../src/neurons/surrogate.js';
import { conv2d, dense, flatten, readout, recurrent } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';
import { refAffine, refNeurons } from './reference.js';

const grid = [-2, -0.7, -0.3, -0.05, 0.02, 0.25, 0.6, 1.5];
const values = (t: tf.Tensor) => Array.from(t.dataSync());

// Closed-form derivatives, written from the definitions (snnTorch's surrogate module).
const cases: [Surrogate, (x: number) => number][] = [
  [atan({ alpha: 2 }), (x) => 1 / (1 + (Math.PI * x) ** 2)],
  [atan({ alpha: 5 }), (x) => 2.5 / (1 + ((Math.PI * 5 * x) / 2) ** 2)],
  [fastSigmoid({ slope: 25 }), (x) => 1 / (1 + 25 * Math.abs(x)) ** 2],
  [
    sigmoid({ slope: 10 }),
    (x) => {
      const s = 1 / (1 + Math.exp(-10 * x));
      return 10 * s * (1 - s);
    },
  ],
  [triangular({ width: 0.5 }), (x) => Math.max(0, 1 - Math.abs(x) / 0.5) / 0.5],
  [straightThrough(), () => 1],
];

describe('surrogate gradients', () => {
  it.each(cases)('%s: Heaviside forward, the analytic derivative backward, and the derivative of its smooth step', (s, d) => {
    const x = tf.tensor1d(grid);
    const spike = surrogateSpike(s);
    expect(values(spike(x))).toEqual(grid.map((v) => (v > 0 ? 1 : 0)));
    values(tf.grad(spike)(x)).forEach((g, i) => expect(g).toBeCloseTo(d(grid[i]!), 5));
    values(tf.grad((y: tf.Tensor) => s.smooth!(y))(x)).forEach((g, i) => expect(g).toBeCloseTo(d(grid[i]!), 4));
    x.dispose();
  });

  it('a user-defined surrogate is used as given', () => {
    const s = customSurrogate('box', (x) => tf.cast(tf.less(tf.abs(x), 0.5), 'float32'));
    expect(values(tf.grad(surrogateSpike(s))(tf.tensor1d(grid)))).toEqual(grid.map((v) => (Math.abs(v) < 0.5 ? 1 : 0)));
  });
});

describe('BPTT', () => {
  afterAll(() => initBackend({ backend: 'wasm', log: null }));

  const INPUT = [
    [
      [0.9, 0.2, 0.5],
      [0.1, 0.8, 0.4],
      [0.6, 0.6, 0.0],
      [0.3, 0.9, 0.2],
    ],
    [
      [0.2, 0.7, 0.9],
      [0.8, 0.1, 0.3],
      [0.4, 0.5, 0.7],
      [0.9, 0.0, 0.5],
    ],
  ];
  const LABELS = [0, 1];

  function net(): Network {
    return new Network({
      input: [3],
      layers: [
        recurrent({ name: 'h', units: 2, neuron: lif({ beta: 0.8, threshold: 0.6, reset: 'subtract' }), learn: ['beta', 'threshold'] }),
        dense({ name: 'o', units: 2, neuron: lif({ beta: 0.7, threshold: 0.4, reset: 'zero' }), learn: ['threshold'] }),
        readout({ name: 'r', units: 2, beta: 0.8 }),
      ],
      seed: 5,
    });
  }

  it.each([
    ['sigmoid(4)', sigmoid({ slope: 4 }), (x: number) => 1 / (1 + Math.exp(-4 * x)), undefined],
    ['atan(2)', atan({ alpha: 2 }), (x: number) => Math.atan(Math.PI * x) / Math.PI + 0.5, undefined],
    ['sigmoid(4) and a rate regulariser on both hidden layers', sigmoid({ slope: 4 }), (x: number) => 1 / (1 + Math.exp(-4 * x)), { weight: 0.7, target: 0.3 }],
  ] as const)('with the spike replaced by the smooth %s, equals float64 finite differences of the reference network', (_, surrogate, S, reg) => {
    const n = net();
    const params = Object.fromEntries(n.layers.flatMap((l) => Object.entries(l.params).map(([k, v]) => [`${l.name}.${k}`, values(v)])));
    const lossOf = (P: Record<string, number[]>) => {
      let total = 0;
      INPUT.forEach((x, b) => {
        const w = (k: string, rows: number, cols: number) => Array.from({ length: rows }, (_, i) => P[k]!.slice(i * cols, (i + 1) * cols));
        const fire = (u: number, thr: number) => S(u - thr);
        const h = refNeurons(
          n.layer('h').neuron!,
          x.map((r) => refAffine(r, w('h.weight', 3, 2), P['h.bias'])),
          fire,
          (prev) => refAffine(prev, w('h.recurrent', 2, 2)),
          { beta: P['h.beta'], threshold: P['h.threshold'] },
        );
        const o = refNeurons(
          n.layer('o').neuron!,
          h.spikes.map((r) => refAffine(r, w('o.weight', 2, 2), P['o.bias'])),
          fire,
          undefined,
          { threshold: P['o.threshold'] },
        );
        const m = refNeurons(
          n.layer('r').neuron!,
          o.spikes.map((r) => refAffine(r, w('r.weight', 2, 2), P['r.bias'])),
        ).membrane;
        const logits = [0, 1].map((k) => m.reduce((s, r) => s + r[k]!, 0) / m.length);
        total += Math.log(Math.exp(logits[0]!) + Math.exp(logits[1]!)) - logits[LABELS[b]!]!;
        // λ · mean_n (r_n − target)² per hidden layer, r_n the mean over steps of its (smooth) spikes
        if (reg)
          for (const layer of [h, o])
            total +=
              (reg.weight / 2) * [0, 1].reduce((a, k) => a + (layer.spikes.reduce((r, row) => r + row[k]!, 0) / layer.spikes.length - reg.target) ** 2, 0);
      });
      return total / INPUT.length;
    };
    const input = tf.tensor(INPUT.flat(2), [2, 4, 3]);
    const labels = tf.tensor1d(LABELS, 'int32');
    const loss = reg ? regularized(membraneCrossEntropy('mean'), [rateRegularizer(reg)]) : membraneCrossEntropy('mean');
    const e = bptt({ surrogate, smooth: true }).estimate(n, { input, labels }, loss);
    expect(e.loss).toBeCloseTo(lossOf(params), 5);
    let nonzero = 0;
    for (const l of n.layers) {
      for (const [k, v] of Object.entries(l.params)) {
        const key = `${l.name}.${k}`;
        const got = values(e.gradients.get(v)!);
        params[key]!.forEach((_, i) => {
          const h = 1e-6;
          const plus = { ...params, [key]: params[key]!.map((p, j) => (j === i ? p + h : p)) };
          const minus = { ...params, [key]: params[key]!.map((p, j) => (j === i ? p - h : p)) };
          const fd = (lossOf(plus) - lossOf(minus)) / (2 * h);
          expect(Math.abs(got[i]! - fd), `${key}[${i}]: bptt ${got[i]} vs fd ${fd}`).toBeLessThan(1e-4 + 1e-3 * Math.abs(fd));
          if (Math.abs(fd) > 1e-3) nonzero++;
        });
      }
    }
    expect(nonzero).toBeGreaterThan(15);
    e.dispose();
    tf.dispose([input, labels]);
    n.dispose();
  });

  it('truncation at T or beyond changes nothing; truncation at 1 cuts the recurrent path', () => {
    const n = net();
    const input = tf.tensor(INPUT.flat(2), [2, 4, 3]);
    const labels = tf.tensor1d(LABELS, 'int32');
    const loss = membraneCrossEntropy('mean');
    const full = bptt({ surrogate: sigmoid({ slope: 4 }), smooth: true }).estimate(n, { input, labels }, loss);
    const long = bptt({ surrogate: sigmoid({ slope: 4 }), smooth: true, truncate: 4 }).estimate(n, { input, labels }, loss);
    const one = bptt({ surrogate: sigmoid({ slope: 4 }), smooth: true, truncate: 1 }).estimate(n, { input, labels }, loss);
    const rec = n.layer('h').params['recurrent']!;
    expect(values(long.gradients.get(rec)!)).toEqual(values(full.gradients.get(rec)!));
    expect(values(one.gradients.get(rec)!)).not.toEqual(values(full.gradients.get(rec)!));
    expect(one.loss).toBeCloseTo(full.loss, 6); // the forward pass is the same
    for (const e of [full, long, one]) e.dispose();
    tf.dispose([input, labels]);
    n.dispose();
  });

  it('differentiates through conv2d on wasm (no Conv2DBackpropFilter there) as tfjs does on cpu', async () => {
    const make = () =>
      new Network({
        input: [6, 6, 1],
        layers: [conv2d({ name: 'c', filters: 2, kernelSize: 3, stride: 2, neuron: analog({ activation: 'tanh' }) }), flatten(), readout({ units: 2 })],
        seed: 6,
      });
    const run = async (backend: 'wasm' | 'cpu') => {
      await initBackend({ backend, log: null });
      const n = make();
      const input = tf.tidy(() => tf.reshape(tf.sin(tf.range(0, 2 * 2 * 36)), [2, 2, 6, 6, 1]));
      const labels = tf.tensor1d([1, 0], 'int32');
      const e = bptt().estimate(n, { input, labels }, membraneCrossEntropy('mean'));
      const g = n.layers.flatMap((l) => Object.values(l.params).flatMap((v) => values(e.gradients.get(v)!)));
      e.dispose();
      tf.dispose([input, labels]);
      n.dispose();
      return g;
    };
    const onCpu = await run('cpu');
    const onWasm = await run('wasm');
    onWasm.forEach((g, i) => expect(g).toBeCloseTo(onCpu[i]!, 4));
  });
});
