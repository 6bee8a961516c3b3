/**
 * Scaling of one training step (batch 128, rate-coded MNIST, 784-H-10 LIF, Adam): LR step time
 * against copies K, steps T and hidden size H (the others at K = 8, T = 25, H = 512), and the peak
 * tensor memory of an LR step and a BPTT step against T (the most bytes of tensors live at once
 * inside the step, the weights and the input included; withPeakBytes). LR keeps per step
 * only what its gradient needs (spikes and scores of the traced layers); BPTT keeps the whole
 * unrolled graph.
 *
 *     npm run build && node dist/bench/scaling.js > bench/results/scaling-wasm.jsonl
 */
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/kernels/backend.js';
import { imageSequences } from '../src/data/dataset.js';
import { loadMnist } from '../src/data/mnist.js';
import { bptt } from '../src/learning/estimators/bptt.js';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import { likelihoodRatio, type Estimator } from '../src/learning/estimators/lr.js';
import { withPeakBytes } from '../src/learning/memory.js';
import { optimizer } from '../src/learning/optim.js';
import { escapeNoise } from '../src/neurons/noise.js';
import { lif } from '../src/neurons/params.js';
import { dense, readout } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';

const { values: a } = parseArgs({
  options: {
    backend: { type: 'string' },
    runs: { type: 'string', default: '3' },
    // one row (the grid runs each row in a child process: a row that exhausts the wasm heap
    // leaves the backend unusable, and must not take the others with it)
    row: { type: 'string' },
  },
});
const B = 128;
const report = await initBackend({ backend: a.backend, log: null });
const machine = `${os.cpus()[0]?.model ?? 'unknown cpu'}, ${os.cpus().length} cores`;
const digits = await loadMnist('train', { limit: B });
const idx = Int32Array.from({ length: B }, (_, i) => i);
const labels = tf.tensor1d(
  Int32Array.from(idx, (i) => digits.labels[i]!),
  'int32',
);

async function step(method: 'lr' | 'bptt', hidden: number, copies: number, steps: number): Promise<Record<string, unknown>> {
  const net = new Network({
    input: [784],
    layers: [dense({ name: 'hidden', units: hidden, neuron: lif({ beta: 0.95 }) }), readout({ name: 'out', units: 10, beta: 0.95 })],
    seed: 0,
  });
  const est: Estimator = method === 'lr' ? likelihoodRatio({ copies, noise: escapeNoise('logistic', 0.5), score: 'spike', baseline: 'loo' }) : bptt();
  const input = imageSequences(digits, { steps, encoding: 'rate' }).batch(idx, 1);
  const adam = optimizer({ kind: 'adam', learningRate: 1e-3 });
  const loss = membraneCrossEntropy('mean');
  const row: Record<string, unknown> = { method, hidden, ...(method === 'lr' ? { copies } : {}), steps, batch: B, backend: report.name, machine };
  try {
    const times: number[] = [];
    let peak = 0;
    for (let r = 0; r <= Number(a.runs); r++) {
      const start = performance.now();
      let e: ReturnType<Estimator['estimate']>;
      const run = () => est.estimate(net, { input, labels }, loss, r);
      // the warm-up step is measured: the peak bytes of tensors live at once inside it
      if (r === 0) ({ result: e, peakBytes: peak } = withPeakBytes(run));
      else e = run();
      adam.apply(e.gradients);
      e.dispose();
      tf.sum(net.layers[0]!.params['weight']!).dataSync();
      if (r > 0) times.push(performance.now() - start);
    }
    times.sort((x, y) => x - y);
    row['msPerStep'] = Number(times[Math.floor(times.length / 2)]!.toFixed(1));
    row['peakTensorMiB'] = Number((peak / 2 ** 20).toFixed(1));
  } catch (err) {
    row['error'] = (err as Error).message.slice(0, 160);
  } finally {
    adam.dispose();
    input.dispose();
    net.dispose();
  }
  return row;
}

if (a.row) {
  const [method, hidden, copies, steps] = a.row.split(',') as [string, string, string, string];
  process.stdout.write(`${JSON.stringify(await step(method as 'lr' | 'bptt', Number(hidden), Number(copies), Number(steps)))}\n`);
} else {
  const grid: [string, number, number, number][] = [
    ...[2, 4, 8, 16, 32, 64].map((k) => ['lr', 512, k, 25] as [string, number, number, number]),
    ...[10, 50, 100, 250, 500].map((t) => ['lr', 512, 8, t] as [string, number, number, number]),
    ...[128, 256, 1024, 2048, 4096].map((h) => ['lr', h, 8, 25] as [string, number, number, number]),
    ...[10, 25, 50, 100, 250, 500].map((t) => ['bptt', 512, 8, t] as [string, number, number, number]),
  ];
  for (const row of grid) {
    const args = [fileURLToPath(import.meta.url), '--runs', a.runs!, '--row', row.join(','), ...(a.backend ? ['--backend', a.backend] : [])];
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
    const line = r.stdout
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .at(-1);
    const [method, hidden, copies, steps] = row;
    process.stdout.write(
      `${line ?? JSON.stringify({ method, hidden, ...(method === 'lr' ? { copies } : {}), steps, batch: B, backend: report.name, machine, error: `process exited with ${r.status ?? r.signal}: ${(r.stderr.split('\n').find((l) => /Error/.test(l)) ?? '').slice(0, 120)}` })}\n`,
    );
  }
}
