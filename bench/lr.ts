/**
 * LR training throughput: one optimizer step (estimate + Adam update) of a 784-H-10 LIF network on
 * rate-coded MNIST, B = 128, logistic escape noise σ = 0.5, spike score, leave-one-out baseline.
 * Prints ms per step and samples/s, median of `--runs` after one warm-up; `--scaling` sweeps K, T
 * and H around the default (K = 8, T = 25, H = 512). One JSON object per line.
 *
 *     npm run build && node dist/bench/lr.js [--copies 8] [--steps 25] [--hidden 512] [--scaling]
 */
import * as tf from '@tensorflow/tfjs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/backend.js';
import { loadMnist } from '../src/data/mnist.js';
import { imageSequences } from '../src/data/dataset.js';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import { likelihoodRatio } from '../src/learning/lr.js';
import { escapeNoise } from '../src/neurons/noise.js';
import { lif } from '../src/neurons/params.js';
import { dense, readout } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';

const { values: a } = parseArgs({
  options: {
    backend: { type: 'string' },
    copies: { type: 'string', default: '8' },
    steps: { type: 'string', default: '25' },
    hidden: { type: 'string', default: '512' },
    batch: { type: 'string', default: '128' },
    runs: { type: 'string', default: '5' },
    scaling: { type: 'boolean', default: false },
  },
});
const report = await initBackend({ backend: a.backend, log: null });
const data = await loadMnist('train', { limit: 1024 });
const batch = Number(a.batch);
const machine = `${os.cpus()[0]?.model ?? 'unknown cpu'}, ${os.cpus().length} cores`;

function measure(hidden: number, copies: number, steps: number) {
  const net = new Network({ input: [784], layers: [dense({ name: 'hidden', units: hidden, neuron: lif({ beta: 0.95 }) }), readout({ units: 10, beta: 0.95 })], seed: 0 });
  const est = likelihoodRatio({ copies, noise: escapeNoise('logistic', 0.5), score: 'spike', baseline: 'loo' });
  const optimizer = tf.train.adam(1e-3);
  const loss = membraneCrossEntropy('mean');
  const times: number[] = [];
  for (let r = 0; r <= Number(a.runs); r++) {
    const idx = Int32Array.from({ length: batch }, (_, i) => (r * batch + i) % data.count);
    const input = imageSequences(data, { steps, encoding: 'rate' }).batch(idx, r);
    const labels = tf.tensor1d(Int32Array.from(idx, (i) => data.labels[i]!), 'int32');
    const start = performance.now();
    const e = est.estimate(net, { input, labels }, loss, r);
    optimizer.applyGradients([...e.gradients].map(([v, g]) => ({ name: v.name, tensor: g })));
    tf.sum(net.layers[0]!.params['weight']!).dataSync(); // wait for the update
    if (r > 0) times.push(performance.now() - start);
    e.dispose();
    tf.dispose([input, labels]);
  }
  optimizer.dispose();
  net.dispose();
  times.sort((x, y) => x - y);
  const ms = times[Math.floor(times.length / 2)]!;
  return { workload: `lr-h${hidden}-k${copies}-t${steps}`, hidden, copies, steps, batch, msPerStep: Number(ms.toFixed(1)), samplesPerSecond: Number(((batch / ms) * 1000).toFixed(1)), backend: report.name, machine };
}

const grid: [number, number, number][] = a.scaling
  ? [
      ...[2, 4, 8, 16, 32, 64].map((k) => [512, k, 25] as [number, number, number]),
      ...[10, 50, 100].map((t) => [512, 8, t] as [number, number, number]),
      ...[128, 256, 1000, 2048].map((h) => [h, 8, 25] as [number, number, number]),
    ]
  : [[Number(a.hidden), Number(a.copies), Number(a.steps)]];
for (const [h, k, t] of grid) process.stdout.write(JSON.stringify(measure(h, k, t)) + '\n');
