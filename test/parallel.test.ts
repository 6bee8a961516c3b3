/**
 * Batch shards on worker threads (src/learning/parallel.ts): the sharded estimate is the batch
 * mean of the per-shard estimates, each computed here in-process on the same backend with the
 * same shard seeds (independent of the worker plumbing: messages, parameter copies, combining).
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig, type TrainConfig } from '../src/cli/config.js';
import { shardParts, trainingEstimator } from '../src/cli/recipe.js';
import { assignNamed, shardedEstimator, variablesByName, type ShardedEstimator } from '../src/learning/parallel.js';
import { parameterNames } from '../src/learning/trainer.js';
import { streamKey } from '../src/core/random.js';

const config: TrainConfig = { ...defaultConfig('lr'), hidden: [24], steps: 6, copies: 4, encoding: 'rate', workers: 1 };
const inputShape = [30],
  classes = 3;

function batchOf(size: number, seed: number) {
  return tf.tidy(() => ({
    input: tf.cast(tf.less(tf.randomUniform([size, config.steps, ...inputShape], 0, 1, 'float32', seed), 0.3), 'float32'),
    labels: tf.tensor1d(
      Int32Array.from({ length: size }, (_, i) => (i * 7 + seed) % classes),
      'int32',
    ),
  }));
}

describe('sharded estimator (worker threads)', () => {
  let sharded: ShardedEstimator;
  let parts: ReturnType<typeof shardParts>;
  beforeAll(async () => {
    parts = shardParts({ config, inputShape, classes });
    sharded = (await trainingEstimator(config, inputShape, classes)) as ShardedEstimator;
  });
  afterAll(async () => {
    await sharded.close();
    parts.network.dispose();
  });

  it.each([
    [16, 11],
    [7, 12],
  ])('batch %i: gradients and loss are the shard-size-weighted mean of the shards estimated in-process', (size, seed) => {
    expect(sharded.workers).toBe(1);
    const batch = batchOf(size, seed);
    const e = sharded.estimate(parts.network, batch, parts.loss, 99);
    // shards [0, round(B/2)) here and the rest on the worker, seeds streamKey(99, shard)
    const cut = Math.round(size / 2);
    const halves = (
      [
        [0, cut],
        [cut, size],
      ] as [number, number][]
    ).map(([from, to], i) => {
      const part = tf.tidy(() => ({ input: tf.slice(batch.input, from, to - from), labels: tf.slice(batch.labels, from, to - from) }));
      const r = parts.estimator.estimate(parts.network, part, parts.loss, streamKey(99, i));
      tf.dispose([part.input, part.labels]);
      return { r, share: (to - from) / size };
    });
    expect(e.gradients.size).toBe(halves[0]!.r.gradients.size);
    expect(e.gradients.size).toBeGreaterThan(0);
    for (const [v, g] of e.gradients) {
      const want = tf.tidy(() => tf.add(tf.mul(halves[0]!.r.gradients.get(v)!, halves[0]!.share), tf.mul(halves[1]!.r.gradients.get(v)!, halves[1]!.share)));
      const [got, exp] = [g.dataSync(), want.dataSync()];
      const scale = Math.max(...exp.map(Math.abs), 1e-12);
      got.forEach((x, i) => expect(Math.abs(x - exp[i]!)).toBeLessThanOrEqual(1e-6 * scale));
      expect(scale, 'a zero gradient would make the comparison vacuous').toBeGreaterThan(1e-6);
      want.dispose();
    }
    expect(e.loss).toBeCloseTo(halves[0]!.r.loss * halves[0]!.share + halves[1]!.r.loss * halves[1]!.share, 6);
    e.dispose();
    halves.forEach((h) => h.r.dispose());
    tf.dispose([batch.input, batch.labels]);
  });

  it('keeps the live tensor count flat over repeated estimates', () => {
    const batch = batchOf(8, 3);
    const once = () => sharded.estimate(parts.network, batch, parts.loss, 5).dispose();
    once();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) once();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([batch.input, batch.labels]);
  });

  it('refuses a batch smaller than the shard count, naming the fix', () => {
    const batch = batchOf(1, 4);
    expect(() => sharded.estimate(parts.network, batch, parts.loss, 1)).toThrow(
      /a batch of 1 cannot be split into 2 shards; lower workers or raise the batch size/,
    );
    tf.dispose([batch.input, batch.labels]);
  });

  it('reports a recipe whose network differs from the trained one', async () => {
    const other = await shardedEstimator(parts.estimator, {
      module: new URL('../src/cli/recipe.ts', import.meta.url).href,
      exportName: 'shardParts',
      args: { config: { ...config, hidden: [24, 8] }, inputShape, classes },
    });
    const batch = batchOf(6, 2);
    try {
      expect(() => other.estimate(parts.network, batch, parts.loss, 1)).toThrow(/shard worker failed: .*parameter/);
    } finally {
      await other.close();
      tf.dispose([batch.input, batch.labels]);
    }
  });

  it('reports a recipe module without the named export', async () => {
    await expect(
      shardedEstimator(parts.estimator, { module: new URL('../src/cli/recipe.ts', import.meta.url).href, exportName: 'nothingHere' }),
    ).rejects.toThrow(/shard worker failed to start: .*has no function export 'nothingHere'/);
  });
});

describe('parameters as workers take them', () => {
  it('assignNamed sets each variable to its values and leaves no tensor behind; an unknown name is an error', () => {
    const parts = shardParts({ config, inputShape, classes });
    const variables = variablesByName(parameterNames(parts.network));
    const params = [...variables].map(([name, v]) => ({ name, values: Float32Array.from({ length: v.size }, (_, i) => i / 7) }));
    const before = tf.memory().numTensors;
    for (let step = 0; step < 3; step++) assignNamed(variables, params);
    expect(tf.memory().numTensors).toBe(before);
    for (const { name, values } of params) expect(Array.from(variables.get(name)!.dataSync())).toEqual(Array.from(values));
    expect(() => assignNamed(variables, [{ name: 'nowhere.weight', values: new Float32Array(1) }])).toThrow(
      /the recipe's network has no parameter 'nowhere.weight'; every thread must build the same network/,
    );
    parts.network.dispose();
  });
});
