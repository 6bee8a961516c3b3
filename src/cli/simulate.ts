/** `spikelr simulate`: run a spiking network over MNIST test digits and report activity and speed. */
import * as tf from '@tensorflow/tfjs';
import { backendReport } from '../kernels/backend.js';
import { loadMnist } from '../data/mnist.js';
import type { EscapeNoise } from '../neurons/noise.js';
import { modelOf, type ResetMode, type UnitParams } from '../neurons/params.js';
import { spikingNeuron } from './recipe.js';
import { rateEncode } from '../sim/encoders.js';
import { loadNetwork, saveNetwork } from '../io/network-file.js';
import { dense, readout } from '../sim/layer.js';
import { Network } from '../sim/network.js';

import type { NEURONS } from './config.js';

export interface SimulateOptions {
  readonly hidden: number;
  readonly steps: number;
  readonly batch: number;
  readonly offset: number;
  readonly neuron: (typeof NEURONS)[number];
  readonly beta: number;
  readonly threshold: number;
  readonly reset: ResetMode;
  readonly noise?: EscapeNoise;
  readonly seed: number;
  readonly repeat: number;
  readonly model?: string;
  readonly save?: string;
  readonly json: boolean;
}

/** The 784-H-10 network of the snnTorch tutorials: a spiking hidden layer and a leaky readout. */
export function mnistNetwork(hidden: number, neuron: UnitParams, seed: number): Network {
  return new Network({
    input: [784],
    layers: [dense({ name: 'hidden', units: hidden, neuron }), readout({ name: 'output', units: 10, beta: 0.95 })],
    seed,
  });
}

export async function simulate(o: SimulateOptions): Promise<void> {
  const net = o.model ? await loadNetwork(o.model) : mnistNetwork(o.hidden, spikingNeuron(o.neuron, o), o.seed);
  const data = await loadMnist('test', { limit: o.offset + o.batch });
  const count = Math.min(o.batch, data.count - o.offset);
  const pixels = data.rows * data.cols;
  const images = tf.tensor(data.images.subarray(o.offset * pixels, (o.offset + count) * pixels), [count, pixels]);
  const input = rateEncode(images, o.steps, { seed: o.seed });
  images.dispose();

  const times: number[] = [];
  const rates: Record<string, number> = {};
  let correct = 0;
  const spiking = net.layers.filter((l) => l.neuron && modelOf(l.neuron).role !== 'readout').map((l) => l.name);
  for (let r = 0; r < o.repeat; r++) {
    const start = performance.now();
    const result = net.run(input, { record: Object.fromEntries(spiking.map((n) => [n, ['spikes'] as const])), noise: o.noise, seed: o.seed });
    await result.output.data(); // wait for the backend to finish
    times.push(performance.now() - start);
    if (r === o.repeat - 1) {
      for (const name of spiking) rates[name] = (await tf.mean(result.records[name]!.spikes!).data())[0]!;
      const predicted = tf.tidy(() => tf.argMax(tf.sum(result.output, 1), 1));
      const p = await predicted.data();
      predicted.dispose();
      for (let i = 0; i < count; i++) if (p[i] === data.labels[o.offset + i]) correct++;
    }
    result.dispose();
  }
  input.dispose();
  if (o.save) await saveNetwork(net, o.save);
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  const summary = {
    network: [net.inputShape.join('x'), ...net.layers.map((l) => l.outputShape.join('x'))].join('-'),
    backend: backendReport()?.name,
    batch: count,
    steps: o.steps,
    msPerBatch: Number(median.toFixed(1)),
    firingRate: rates,
    accuracy: correct / count,
  };
  if (o.json) {
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } else {
    process.stdout.write(
      `${summary.network} network, ${count} MNIST test digits x ${o.steps} steps on ${summary.backend}: ` +
        `${summary.msPerBatch} ms per batch (median of ${o.repeat})\n` +
        Object.entries(rates)
          .map(([n, r]) => `  ${n}: ${(r * 100).toFixed(1)}% of neurons fire per step\n`)
          .join('') +
        `  accuracy by summed readout membrane: ${(summary.accuracy * 100).toFixed(1)}%${o.model ? '' : ' (untrained weights: chance is 10%)'}\n` +
        (o.save ? `  saved the network to ${o.save}\n` : ''),
    );
  }
  net.dispose();
}
