/**
 * A minimal supervised training loop over an image dataset: shuffled minibatches, an estimator's
 * gradients applied by a tfjs optimizer, evaluation on held-out data. Seeded: the same seed gives
 * the same batches, encodings and noise.
 */
import * as tf from '@tensorflow/tfjs';
import { check, checkInteger, checkOneOf, checkPositive } from '../errors.js';
import type { ImageDataset } from '../data/mnist.js';
import type { EscapeNoise } from '../neurons/noise.js';
import { rateEncode } from '../sim/encoders.js';
import type { Network } from '../sim/network.js';
import { permutation, streamKey } from '../sim/random.js';

export { permutation };
import type { Estimator } from './lr.js';
import { predict, type RowLoss } from './losses.js';

/**
 * How images become input sequences: `rate` (Bernoulli spikes each step), `direct` (the
 * intensities as a constant current each step), `rows` (row t of the image at step t: T = rows).
 */
export const ENCODINGS = ['rate', 'direct', 'rows'] as const;
export type Encoding = (typeof ENCODINGS)[number];

export interface FitOptions {
  readonly epochs: number;
  readonly batchSize: number;
  readonly steps: number;
  readonly encoding: Encoding;
  readonly learningRate: number;
  readonly seed: number;
  /** Stop after this many optimizer steps (for quick runs). */
  readonly maxSteps?: number;
  /** Called after every optimizer step. */
  readonly onStep?: (info: { step: number; epoch: number; loss: number; seconds: number }) => void;
  /** Called after every epoch with its evaluation. */
  readonly onEpoch?: (info: EpochResult) => void;
  /** Noise to evaluate the stochastic network with, besides the deterministic one. */
  readonly evalNoise?: EscapeNoise;
  /** Factor on the estimator's σ at each optimizer step (0-based), e.g. an annealing schedule. */
  readonly sigmaSchedule?: (step: number) => number;
  /** Factor on the learning rate at each optimizer step (0-based) of `totalSteps`. */
  readonly learningRateSchedule?: (step: number, totalSteps: number) => number;
}

/** Cosine decay of the learning rate from 1 to 0 over the run (Loshchilov and Hutter 2017). */
export function cosineDecay(step: number, totalSteps: number): number {
  return 0.5 * (1 + Math.cos((Math.PI * Math.min(step, totalSteps)) / totalSteps));
}

/** Adam whose learning rate a schedule may change between steps. */
class ScheduledAdam extends tf.AdamOptimizer {
  constructor(readonly baseRate: number) {
    super(baseRate, 0.9, 0.999);
  }

  setFactor(factor: number): void {
    this.learningRate = this.baseRate * factor;
  }
}

export interface EpochResult {
  readonly epoch: number;
  readonly steps: number;
  readonly trainLoss: number;
  readonly testAccuracy: number;
  readonly stochasticTestAccuracy?: number;
  readonly seconds: number;
}

/**
 * Input `[B, T, …inputShape]` for the images at `indices` (`inputShape` must hold rows·cols values
 * per step, or cols with the `rows` encoding).
 */
export function encodeImages(data: ImageDataset, indices: ArrayLike<number>, steps: number, encoding: Encoding, seed: number, inputShape: readonly number[] = [data.rows * data.cols]): tf.Tensor {
  const pixels = data.rows * data.cols;
  const buf = new Float32Array(indices.length * pixels);
  for (let i = 0; i < indices.length; i++) buf.set(data.images.subarray(indices[i]! * pixels, (indices[i]! + 1) * pixels), i * pixels);
  const x = tf.tensor2d(buf, [indices.length, pixels]);
  const out = tf.tidy(() => {
    const seq =
      encoding === 'rows' ? tf.reshape(x, [indices.length, data.rows, data.cols])
      : encoding === 'rate' ? rateEncode(x, steps, { seed })
      : tf.tile(tf.expandDims(x, 1), [1, steps, 1]);
    return tf.reshape(seq, [indices.length, seq.shape[1]!, ...inputShape]);
  });
  x.dispose();
  return out;
}

/** Classification accuracy of the network (deterministic, or with `noise`) on a dataset. */
export function evaluate(net: Network, data: ImageDataset, steps: number, encoding: Encoding, seed: number, noise?: EscapeNoise, batchSize = 500): number {
  let correct = 0;
  for (let start = 0; start < data.count; start += batchSize) {
    const idx = Int32Array.from({ length: Math.min(batchSize, data.count - start) }, (_, i) => start + i);
    const input = encodeImages(data, idx, steps, encoding, streamKey(seed, 0xe7a1, start), net.inputShape);
    const r = net.run(input, noise ? { noise, seed: streamKey(seed, 0xe7a2, start) } : {});
    const timeMajor = tf.tidy(() => tf.transpose(r.output, [1, 0, 2]));
    const pred = predict(timeMajor);
    const p = pred.dataSync();
    for (let i = 0; i < idx.length; i++) if (p[i] === data.labels[idx[i]!]) correct++;
    tf.dispose([input, timeMajor, pred]);
    r.dispose();
  }
  return correct / data.count;
}

export async function fit(net: Network, estimator: Estimator, loss: RowLoss, train: ImageDataset, test: ImageDataset, o: FitOptions): Promise<EpochResult[]> {
  checkInteger('fit', 'epochs', o.epochs, 1);
  checkInteger('fit', 'batchSize', o.batchSize, 1);
  checkInteger('fit', 'steps', o.steps, 1);
  checkOneOf('fit', 'encoding', o.encoding, ENCODINGS);
  checkPositive('fit', 'learningRate', o.learningRate);
  const perStep = o.encoding === 'rows' ? train.cols : train.rows * train.cols;
  check(perStep === net.inputShape.reduce((a, b) => a * b, 1),
    () => `fit: the network takes ${net.inputShape.join('x')} inputs per step; ${o.encoding} encoding of ${train.rows}x${train.cols} images gives ${perStep}`);
  check(o.encoding !== 'rows' || o.steps === train.rows, () => `fit: the rows encoding has one step per image row: steps must be ${train.rows}, got ${o.steps}`);
  const optimizer = new ScheduledAdam(o.learningRate);
  const perEpoch = Math.floor(train.count / o.batchSize);
  const totalSteps = Math.min(o.maxSteps ?? Infinity, perEpoch * o.epochs);
  const history: EpochResult[] = [];
  const start = performance.now();
  let step = 0;
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    const order = permutation(train.count, streamKey(o.seed, 0x5af, epoch));
    let lossSum = 0, batches = 0;
    for (let b = 0; b + o.batchSize <= train.count; b += o.batchSize) {
      const idx = order.subarray(b, b + o.batchSize);
      const input = encodeImages(train, idx, o.steps, o.encoding, streamKey(o.seed, 0xe1c, step), net.inputShape);
      const labels = tf.tensor1d(Int32Array.from(idx, (i) => train.labels[i]!), 'int32');
      const sigmaScale = o.sigmaSchedule?.(step) ?? 1;
      if (o.learningRateSchedule) optimizer.setFactor(o.learningRateSchedule(step, totalSteps));
      const est = estimator.estimate(net, { input, labels }, loss, streamKey(o.seed, 0x1a, step), { sigmaScale });
      optimizer.applyGradients([...est.gradients].map(([v, g]) => ({ name: v.name, tensor: g })));
      net.constrain();
      lossSum += est.loss;
      batches++;
      est.dispose();
      tf.dispose([input, labels]);
      step++;
      o.onStep?.({ step, epoch, loss: est.loss, seconds: (performance.now() - start) / 1000 });
      if (o.maxSteps !== undefined && step >= o.maxSteps) break;
      if (step % 20 === 0) await new Promise((r) => setImmediate(r));
    }
    const result: EpochResult = {
      epoch,
      steps: step,
      trainLoss: lossSum / Math.max(1, batches),
      testAccuracy: evaluate(net, test, o.steps, o.encoding, streamKey(o.seed, 0x7e57)),
      ...(o.evalNoise ? { stochasticTestAccuracy: evaluate(net, test, o.steps, o.encoding, streamKey(o.seed, 0x7e58), o.evalNoise) } : {}),
      seconds: (performance.now() - start) / 1000,
    };
    history.push(result);
    o.onEpoch?.(result);
    if (o.maxSteps !== undefined && step >= o.maxSteps) break;
  }
  optimizer.dispose();
  return history;
}
