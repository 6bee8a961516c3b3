/**
 * The peer workloads of issue 6, one command: median ms per optimizer step (or forward pass) and
 * samples/s on the default backend, batch 128, 25 steps, rate-coded MNIST digits (Bernoulli input
 * spikes at the pixels' intensities), 784-H-10 LIF (β = 0.95) with a leaky readout; and in the same
 * run the backend's own fp32 matmul GFLOP/s at the first layer's shape, to normalise by.
 *
 *   forward-h512, forward-h1000      deterministic forward pass
 *   bptt-h512, bptt-h1000            surrogate BPTT (atan, α = 2) + Adam
 *   rforward-h512, rbptt-h512        recurrent hidden layer (snnTorch RLeaky)
 *   lr-h512-k8, lr-h512-k32, lr-h1000-k8   LR (logistic escape noise σ = 0.5, spike score,
 *                                    leave-one-out baseline, K copies) + Adam
 *
 *     npm run bench [-- --json] [--runs 5] [--only lr-h512-k8,forward-h512] [--profile] [--workers 1] [--threads 1|2|auto] [--train-steps 100]
 *
 * Then the whole-training-run rows of bench/train.ts (`train-bptt`, `train-lr`: the real trainer for
 * `--train-steps` steps beside snnTorch and the plain-PyTorch LR recipe, run in the same invocation
 * when /usr/bin/python3 has torch); `--train-steps 0` skips them.
 *
 * `--workers N` runs the estimator rows on N worker threads besides the main one (batch shards,
 * src/learning/parallel.ts; the product helper is then off). `--threads` (default auto, as the CLI)
 * gives the large products a helper thread (src/kernels/product-threads.ts). `--profile` adds, per workload, the kernels of one step by total
 * time (tf.profile; on wasm each kernel's time is its synchronous wall time).
 */
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/kernels/backend.js';
import { imageSequences } from '../src/data/dataset.js';
import { loadMnist } from '../src/data/mnist.js';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import type { Estimator } from '../src/learning/estimators/lr.js';
import { armDecorrelation, updateDecorrelation } from '../src/learning/decorrelation.js';
import { withQuantizedWeights } from '../src/sim/deploy.js';
import { withPeakBytes } from '../src/learning/memory.js';
import { optimizer } from '../src/learning/optim.js';
import { shardedEstimator } from '../src/learning/parallel.js';
import { pipelinedLR } from '../src/learning/pipeline.js';
import { lrConfigOf } from '../src/learning/estimators/lr.js';
import { configOf, estimatorOf, network, WORKLOADS, type Workload } from './workloads.js';

const { values: a } = parseArgs({
  options: {
    backend: { type: 'string' },
    runs: { type: 'string', default: '5' },
    only: { type: 'string' },
    json: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    workers: { type: 'string', default: '0' },
    // threads for large products, as the CLI's --threads (src/kernels/product-threads.ts)
    threads: { type: 'string', default: 'auto' },
    'train-steps': { type: 'string', default: '100' },
  },
});
const B = 128,
  T = 25;
const threads = Number(a.workers) > 0 ? 1 : a.threads === 'auto' ? 'auto' : Number(a.threads);
const report = await initBackend({ backend: a.backend, log: a.json ? null : undefined, threads });
const machine = `${os.cpus()[0]?.model ?? 'unknown cpu'}, ${os.cpus().length} cores`;
const digits = await loadMnist('train', { limit: B * 4 });
const sequences = imageSequences(digits, { steps: T, encoding: 'rate' });
const batches = Array.from({ length: 4 }, (_, i) => ({
  input: sequences.batch(
    Int32Array.from({ length: B }, (_, j) => i * B + j),
    i,
  ),
  labels: tf.tensor1d(
    Int32Array.from({ length: B }, (_, j) => digits.labels[i * B + j]!),
    'int32',
  ),
}));

/** One step of `w` after a warm-up one, under tf.profile: wall time and kernels by total time. */
async function profile(w: Workload): Promise<string> {
  const net = network(w),
    loss = membraneCrossEntropy('mean'),
    estimator = estimatorOf(w);
  const adam = optimizer({ kind: 'adam', learningRate: 1e-3 });
  const step = (r: number) => {
    if (!estimator) return net.run(batches[r]!.input).dispose();
    const e = withQuantizedWeights(net, w.deploy?.weightBits ?? null, () => estimator.estimate(net, batches[r]!, loss, r));
    adam.apply(e.gradients);
    e.dispose();
  };
  step(0);
  const start = performance.now();
  const info = await tf.profile(() => step(1));
  const wall = performance.now() - start;
  const byName = new Map<string, { ms: number; calls: number }>();
  for (const k of info.kernels) {
    const entry = byName.get(k.name) ?? { ms: 0, calls: 0 };
    entry.ms += k.kernelTimeMs as number;
    entry.calls++;
    byName.set(k.name, entry);
  }
  const total = [...byName.values()].reduce((sum, e) => sum + e.ms, 0);
  const top = [...byName.entries()].sort((x, y) => y[1].ms - x[1].ms).slice(0, 12);
  adam.dispose();
  net.dispose();
  return `${[
    `${w.name}: ${wall.toFixed(0)} ms wall under tf.profile, ${total.toFixed(0)} ms in ${info.kernels.length} kernels`,
    ...top.map(([name, e]) => `  ${name.padEnd(20)} ${e.ms.toFixed(1).padStart(8)} ms  ${String(e.calls).padStart(5)} calls`),
    ...info.kernels
      .filter((k) => k.name === 'BatchMatMul' || (k.kernelTimeMs as number) >= 0.5)
      .map(
        (k) =>
          `    ${k.name === 'BatchMatMul' ? 'matMul' : k.name} ${k.inputShapes.map((s) => `[${s}]`).join(' · ')}: ${(k.kernelTimeMs as number).toFixed(1)} ms`,
      ),
  ].join('\n')}\n`;
}

async function measure(w: Workload): Promise<Record<string, unknown>> {
  const net = network(w);
  const loss = membraneCrossEntropy('mean');
  const local = estimatorOf(w);
  const workers = w.parallel ? 1 : Number(a.workers);
  const recipe = { module: new URL('./workloads.js', import.meta.url).href, exportName: 'shardParts', args: { name: w.name } };
  const sharded =
    local && workers > 0
      ? w.parallel === 'pipeline'
        ? await pipelinedLR(lrConfigOf(configOf(w)), net, recipe, { stages: workers + 1 })
        : await shardedEstimator(local, recipe, { workers })
      : undefined;
  const estimator: Estimator | undefined = sharded ?? local;
  const adam = optimizer({ kind: 'adam', learningRate: 1e-3 });
  const times: number[] = [];
  let activity = 0,
    peak = 0;
  const runs = Number(a.runs);
  for (let r = 0; r <= runs; r++) {
    const batch = batches[r % batches.length]!;
    const start = performance.now();
    if (estimator) {
      armDecorrelation(net, batch.input.shape[0]! * batch.input.shape[1]!);
      // a deployed workload's forward passes see its quantized weights; the update goes to the float ones
      const { result: e, peakBytes } = withPeakBytes(() =>
        withQuantizedWeights(net, w.deploy?.weightBits ?? null, () => estimator.estimate(net, batch, loss, r)),
      );
      peak = Math.max(peak, peakBytes);
      adam.apply(e.gradients);
      e.dispose();
      updateDecorrelation(net);
      tf.sum(net.layers[0]!.params['weight']!).dataSync(); // wait for the update
    } else {
      const out = net.run(batch.input, r === 0 ? { record: { hidden: ['spikes'] } } : {});
      out.output.dataSync();
      if (r === 0) activity = tf.tidy(() => tf.mean(out.records['hidden']!.spikes!).dataSync()[0]!);
      out.dispose();
    }
    if (r > 0) times.push(performance.now() - start); // run 0 warms up
  }
  if (activity === 0) {
    const out = net.run(batches[0]!.input, { record: { hidden: ['spikes'] } });
    activity = tf.tidy(() => tf.mean(out.records['hidden']!.spikes!).dataSync()[0]!);
    out.dispose();
  }
  // the pipeline's last step: how busy each stage was (the slower one bounds the step)
  const stages = sharded && 'lastTiming' in sharded ? sharded.lastTiming() : undefined;
  await sharded?.close();
  adam.dispose();
  net.dispose();
  times.sort((x, y) => x - y);
  const ms = times[Math.floor(times.length / 2)]!;
  return {
    workload: w.name,
    msPerStep: Number(ms.toFixed(1)),
    samplesPerSecond: Number(((B / ms) * 1000).toFixed(1)),
    backend: report.name,
    threads: sharded ? workers + 1 : 1,
    ...(w.parallel ? { parallel: w.parallel } : {}),
    ...(stages ? { stageBusyMs: stages.busyMs.map((b) => Number(b.toFixed(1))) } : {}),
    hiddenActivity: Number(activity.toFixed(3)),
    ...(peak ? { peakMiB: Number((peak / 2 ** 20).toFixed(1)) } : {}),
    minMs: Number(times[0]!.toFixed(1)),
    maxMs: Number(times.at(-1)!.toFixed(1)),
    machine,
  };
}

/** fp32 matmul GFLOP/s of the backend at [T·B, 784] × [784, H]. */
function matmulRate(hidden: number): Record<string, unknown> {
  const x = tf.randomUniform([T * B, 784]),
    w = tf.randomUniform([784, hidden]);
  const times: number[] = [];
  for (let r = 0; r <= Number(a.runs); r++) {
    const start = performance.now();
    const y = tf.matMul(x, w);
    y.dataSync(); // (never return a large typed array from tf.tidy: it walks every element looking for tensors)
    y.dispose();
    if (r > 0) times.push(performance.now() - start);
  }
  tf.dispose([x, w]);
  times.sort((p, q) => p - q);
  const ms = times[Math.floor(times.length / 2)]!;
  return {
    workload: `matmul-${T * B}x784x${hidden}`,
    msPerStep: Number(ms.toFixed(1)),
    samplesPerSecond: null,
    gflops: Number(((2 * T * B * 784 * hidden) / (ms * 1e6)).toFixed(1)),
    backend: report.name,
    machine,
  };
}

const only = a.only?.split(',');
const selected = WORKLOADS.filter((w) => !only || only.includes(w.name));
const rows = [matmulRate(512), matmulRate(1000)];
for (const w of selected) rows.push(await measure(w));
if (a.json) for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
else {
  process.stdout.write(`backend ${report.name}; ${machine}; batch ${B}, ${T} steps; median of ${a.runs}\n`);
  for (const r of rows)
    process.stdout.write(
      `${String(r['workload']).padEnd(22)} ${String(r['msPerStep']).padStart(8)} ms  ${r['gflops'] !== undefined ? `${r['gflops']} GFLOP/s` : `${r['samplesPerSecond']} samples/s, hidden activity ${r['hiddenActivity']}`}\n`,
    );
}
if (a.profile) for (const w of selected) process.stderr.write(await profile(w));
tf.dispose(batches.flatMap((b) => [b.input, b.labels]));
// whole training runs and their peers, in a child process of their own (after this one's rows)
if (Number(a['train-steps']) > 0 && !only) {
  const script = new URL('./train.js', import.meta.url).pathname;
  const r = spawnSync(process.execPath, [script, '--steps', a['train-steps']!, ...(a.json ? ['--json'] : [])], { stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = r.status ?? 1;
}
