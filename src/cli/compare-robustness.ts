/**
 * A compare's robustness table: each trained model's test accuracy under FGSM and PGD (its own
 * gradients and transferred from the other models) and under Gaussian noise.
 */
import * as tf from '@tensorflow/tfjs';
import type { CompareOptions } from './compare-arms.js';
import { imageSequences } from '../data/dataset.js';
import { loadIdxImages, loadMnist, type ImageDataset } from '../data/mnist.js';
import type { RowLoss } from '../learning/losses.js';
import { fgsm, gaussianCorruption, pgd } from '../learning/robustness.js';
import { evaluateDataset, testSeed } from '../learning/trainer.js';
import type { Network } from '../sim/network.js';
import { streamKey } from '../core/random.js';
import type { TrainConfig } from './config.js';
export async function testImages(c: TrainConfig, count: number): Promise<ImageDataset> {
  const options = { limit: count, ...(c.dataDir !== null ? { dir: c.dataDir } : {}) };
  return c.dataset === 'mnist' ? loadMnist('test', options) : loadIdxImages('test', options);
}

export const withImages = (d: ImageDataset, images: Float32Array): ImageDataset => ({ ...d, images });

/** Accuracy of each model under each attack and corruption. */
export async function robustness(c: TrainConfig, models: Record<string, Network>, loss: RowLoss, o: CompareOptions): Promise<Record<string, unknown>> {
  const data = await testImages(c, o.attackSamples);
  const accuracy = (net: Network, images: Float32Array) =>
    evaluateDataset(net, imageSequences(withImages(data, images), { steps: c.steps, encoding: c.encoding, inputShape: net.inputShape }), {
      seed: testSeed(c.seed),
      accuracy: c.accuracy,
    }).accuracy;
  const attackOptions = { steps: c.steps, loss, rows: c.encoding === 'rows' };
  /** Adversarial images crafted on `net` by `attack` at `eps`, in chunks. */
  const craft = (net: Network, attack: 'fgsm' | 'pgd', eps: number) => {
    const out = new Float32Array(data.images.length);
    const pixels = data.rows * data.cols,
      chunk = 250;
    for (let start = 0; start < data.count; start += chunk) {
      const n = Math.min(chunk, data.count - start);
      const x = tf.tensor2d(data.images.subarray(start * pixels, (start + n) * pixels), [n, pixels]);
      const y = tf.tensor1d(Int32Array.from(data.labels.subarray(start, start + n)), 'int32');
      const adv = attack === 'fgsm' ? fgsm(net, x, y, eps, attackOptions) : pgd(net, x, y, eps, { ...attackOptions, iterations: o.pgdIterations });
      out.set(adv.dataSync(), start * pixels);
      tf.dispose([x, y, adv]);
    }
    return out;
  };
  const names = Object.keys(models);
  const table = (f: (name: string, level: number) => number, levels: readonly number[]) =>
    Object.fromEntries(names.map((n) => [n, levels.map((l) => f(n, l))]));
  const crafted = new Map<string, Float32Array>();
  const pgdOn = (name: string, eps: number) => {
    const key = `${name}:${eps}`;
    if (!crafted.has(key)) crafted.set(key, eps === 0 ? data.images : craft(models[name]!, 'pgd', eps));
    return crafted.get(key)!;
  };
  const result: Record<string, unknown> = {
    samples: data.count,
    epsilons: o.epsilons,
    fgsm: table((n, eps) => accuracy(models[n]!, eps === 0 ? data.images : craft(models[n]!, 'fgsm', eps)), o.epsilons),
    pgd: table((n, eps) => accuracy(models[n]!, pgdOn(n, eps)), o.epsilons),
    pgdIterations: o.pgdIterations,
    noiseLevels: o.noiseLevels,
    gaussian: table(
      (n, sigma) => accuracy(models[n]!, gaussianCorruption(data.images, sigma, streamKey(c.seed, 0x6a55, Math.round(sigma * 1e6)))),
      o.noiseLevels,
    ),
  };
  if (names.length === 2) {
    // transfer: PGD examples crafted on one model, evaluated on the other
    const [a, b] = names as [string, string];
    result['transfer'] = {
      [`${a}From${b[0]!.toUpperCase()}${b.slice(1)}`]: o.epsilons.map((eps) => accuracy(models[a]!, pgdOn(b, eps))),
      [`${b}From${a[0]!.toUpperCase()}${a.slice(1)}`]: o.epsilons.map((eps) => accuracy(models[b]!, pgdOn(a, eps))),
    };
  }
  return result;
}
