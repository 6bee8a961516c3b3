/**
 * Test-set evaluation (accuracy and loss, with noise or without) and the seed it draws from, and
 * the clear error a backend's out-of-memory becomes.
 */
import * as tf from '@tensorflow/tfjs';
import { isBackendOutOfMemory, outOfMemoryAdvice, SpikelrError } from '../core/errors.js';
import type { Dataset } from '../data/dataset.js';
import { swapBatchTime } from '../sim/loop.js';
import type { Network } from '../sim/network.js';
import type { RunOptions } from '../sim/run-options.js';
import { streamKey } from '../core/random.js';
import { predict, predictFirstSpike, type AccuracyKind, type RowLoss } from './losses.js';

export interface Evaluation {
  readonly accuracy: number;
  /** Mean loss (when a loss is given). */
  readonly loss: number;
}

/** Accuracy (and mean loss) of the network on a dataset, deterministic or with `noise`. */
export function evaluateDataset(
  net: Network,
  data: Dataset,
  o: { readonly seed: number; readonly loss?: RowLoss; readonly noise?: RunOptions['noise']; readonly accuracy?: AccuracyKind; readonly batchSize?: number },
): Evaluation {
  const size = o.batchSize ?? 500;
  let correct = 0,
    lossSum = 0;
  for (let start = 0; start < data.count; start += size) {
    const idx = Int32Array.from({ length: Math.min(size, data.count - start) }, (_, i) => start + i);
    const input = data.batch(idx, streamKey(o.seed, 0xe7a1, start));
    const constantInput = data.constantInTime === true;
    const r = net.run(input, o.noise ? { noise: o.noise, seed: streamKey(o.seed, 0xe7a2, start), constantInput } : { constantInput });
    const [pred, loss] = tf.tidy(() => {
      const timeMajor = swapBatchTime(r.output);
      const labels = tf.tensor1d(
        Int32Array.from(idx, (i) => data.labels[i]!),
        'int32',
      );
      return [(o.accuracy === 'first-spike' ? predictFirstSpike : predict)(timeMajor), o.loss ? tf.sum(o.loss(timeMajor, labels)) : tf.scalar(0)];
    });
    const p = pred.dataSync();
    for (let i = 0; i < idx.length; i++) if (p[i] === data.labels[idx[i]!]) correct++;
    lossSum += loss.dataSync()[0]!;
    tf.dispose([input, pred, loss]);
    r.dispose();
  }
  return { accuracy: correct / data.count, loss: lossSum / data.count };
}

/** Seed of the test-set evaluation (its rate coding and noise) of a run seeded `seed`. */
export function testSeed(seed: number): number {
  return streamKey(seed, 0x7e57);
}

/**
 * Runs `f`; a backend that runs out of memory (the wasm heap stops at 4 GiB and reports it as a
 * raw RuntimeError) becomes an error that says what happened and what to lower.
 */
export function outOfMemoryIsClear<T>(f: () => T, batchSize: number): T {
  try {
    return f();
  } catch (err) {
    if (isBackendOutOfMemory(err)) {
      throw new SpikelrError(
        `train: a step of batch ${batchSize} failed in the tensor backend, ${outOfMemoryAdvice(err, { batch: 'batchSize', copies: 'copies', steps: 'steps', timeChunk: "timeChunk 'auto'" })}`,
      );
    }
    throw err;
  }
}
