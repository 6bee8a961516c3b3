/**
 * Simulation throughput: a 784-1000-10 LIF network (snnTorch tutorial shape), 25 steps of a
 * 128-digit batch of rate-coded MNIST, deterministic firing. Prints ms per batch (median of
 * `--runs` after `--warmup`), samples per second and the machine; `--json` prints one JSON line.
 *
 *     npm run build && node dist/bench/simulate.js [--backend wasm] [--hidden 1000] [--runs 10] [--json]
 */
import * as tf from '@tensorflow/tfjs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { initBackend, packageVersions } from '../src/kernels/backend.js';
import { mnistNetwork } from '../src/cli/simulate.js';
import { loadMnist } from '../src/data/mnist.js';
import { lif } from '../src/neurons/params.js';
import { rateEncode } from '../src/sim/encoders.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string' },
    hidden: { type: 'string', default: '1000' },
    batch: { type: 'string', default: '128' },
    steps: { type: 'string', default: '25' },
    runs: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    json: { type: 'boolean', default: false },
  },
});
const hidden = Number(values.hidden),
  batch = Number(values.batch),
  steps = Number(values.steps);
const runs = Number(values.runs),
  warmup = Number(values.warmup);

const report = await initBackend({ backend: values.backend, log: values.json ? null : undefined });
const data = await loadMnist('test', { limit: batch });
const images = tf.tensor(data.images, [batch, 784]);
const input = rateEncode(images, steps, { seed: 0 });
images.dispose();
const net = mnistNetwork(hidden, lif({ beta: 0.95, threshold: 1 }), 0);

const times: number[] = [];
let rate = 0;
const tensorsBefore = tf.memory().numTensors;
for (let i = 0; i < warmup + runs; i++) {
  const start = performance.now();
  const r = net.run(input, { record: { hidden: ['spikes'] } });
  await r.output.data();
  const ms = performance.now() - start;
  if (i >= warmup) times.push(ms);
  if (i === 0) {
    const m = tf.mean(r.records['hidden']!.spikes!);
    rate = (await m.data())[0]!;
    m.dispose();
  }
  r.dispose();
}
const leaked = tf.memory().numTensors - tensorsBefore;
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)]!;
const result = {
  workload: `simulate-784-${hidden}-10-T${steps}-B${batch}`,
  backend: report.name,
  msPerBatch: Number(median.toFixed(1)),
  minMs: Number(times[0]!.toFixed(1)),
  maxMs: Number(times[times.length - 1]!.toFixed(1)),
  samplesPerSecond: Number(((batch / median) * 1000).toFixed(0)),
  hiddenFiringRate: Number(rate.toFixed(4)),
  leakedTensors: leaked,
  machine: `${os.cpus()[0]?.model ?? 'unknown cpu'}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.arch()}`,
  versions: packageVersions(),
};
if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
else {
  process.stdout.write(
    `${result.workload} on ${result.backend}: ${result.msPerBatch} ms per batch (median of ${runs}; min ${result.minMs}, max ${result.maxMs}), ` +
      `${result.samplesPerSecond} samples/s; hidden firing ${(rate * 100).toFixed(1)}% per step; ${leaked} tensors leaked\n` +
      `machine: ${result.machine}; node ${process.versions.node}\n`,
  );
}
input.dispose();
net.dispose();
