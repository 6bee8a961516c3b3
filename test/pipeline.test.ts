/**
 * Layer-parallel LR (src/learning/pipeline.ts): the pipelined estimate equals the batch mean of the
 * single-thread LR estimates of its micro-batches, each computed here in-process with the same
 * seeds — an independent second method (one thread, the whole network in one pass, no messages,
 * no packing of spikes, no row weights crossing threads).
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCombinations, defaultConfig, type TrainConfig } from '../src/cli/config.js';
import { shardParts, trainingEstimator } from '../src/cli/recipe.js';
import { likelihoodRatio, lrConfigOf } from '../src/learning/estimators/lr.js';
import type { Batch } from '../src/learning/estimators/types.js';
import { balancedSplit, layerWork, pipelinedLR, type PipelinedEstimator } from '../src/learning/pipeline.js';
import { packActivation, unpackActivation } from '../src/learning/pipeline-stage.js';
import { rateRegularizer, regularized } from '../src/learning/regularizers.js';
import { streamKey } from '../src/core/random.js';
import { expectSameEstimate, parameterNames } from './helpers.js';

const inputShape = [30],
  classes = 3;
const recipeModule = new URL('../src/cli/recipe.ts', import.meta.url).href;

function batchOf(config: TrainConfig, size: number, seed: number, constant = false): Batch {
  return tf.tidy(() => {
    const steps = config.steps;
    const x = constant
      ? tf.tile(tf.randomUniform([size, 1, ...inputShape], 0, 1, 'float32', seed), [1, steps, 1])
      : tf.cast(tf.less(tf.randomUniform([size, steps, ...inputShape], 0, 1, 'float32', seed), 0.3), 'float32');
    return {
      input: x,
      labels: tf.tensor1d(
        Int32Array.from({ length: size }, (_, i) => (i * 7 + seed) % classes),
        'int32',
      ),
      constantInTime: constant,
    };
  });
}

/** Σ_m (B_m/B)·LR(micro-batch m; seed streamKey(seed, m)) on one thread. */
function reference(config: TrainConfig, parts: ReturnType<typeof shardParts>, batch: Batch, seed: number, M: number) {
  const B = batch.input.shape[0]!;
  const lr = likelihoodRatio(lrConfigOf(config));
  const bounds = Array.from({ length: M + 1 }, (_, m) => Math.round((m * B) / M));
  const gradients = new Map<tf.Variable, tf.Tensor>();
  let loss = 0;
  for (let m = 0; m < M; m++) {
    const size = bounds[m + 1]! - bounds[m]!;
    const part = tf.tidy(() => ({
      input: tf.slice(batch.input, bounds[m]!, size),
      labels: tf.slice(batch.labels, bounds[m]!, size),
      constantInTime: batch.constantInTime,
    }));
    const r = lr.estimate(parts.network, part, parts.loss, streamKey(seed, m));
    for (const [v, g] of r.gradients) {
      const previous = gradients.get(v);
      gradients.set(
        v,
        tf.tidy(() => (previous ? tf.add(previous, tf.mul(g, size / B)) : tf.mul(g, size / B))),
      );
      previous?.dispose();
    }
    loss += (size / B) * r.loss;
    r.dispose();
    tf.dispose([part.input, part.labels]);
  }
  return { gradients, loss };
}

describe('layer-parallel LR (pipeline of worker threads)', () => {
  const config: TrainConfig = { ...defaultConfig('lr'), hidden: [24, 16], steps: 6, copies: 4, encoding: 'rate', pipeline: 2, microBatches: 3 };
  let pipe: PipelinedEstimator;
  let parts: ReturnType<typeof shardParts>;
  beforeAll(async () => {
    parts = shardParts({ config, inputShape, classes });
    pipe = (await trainingEstimator(config, inputShape, classes, parts.network)) as PipelinedEstimator;
  });
  afterAll(async () => {
    await pipe.close();
    parts.network.dispose();
  });

  it.each([
    [10, 11, false],
    [7, 12, true],
  ])('batch %i (seed %i, constant input %s): the same gradient and loss as the single-thread estimator on each micro-batch', (size, seed, constant) => {
    const batch = batchOf(config, size, seed, constant);
    const e = pipe.estimate(parts.network, batch, parts.loss, 99);
    expect(pipe.stageLayers()!.length).toBe(2);
    const want = reference(config, parts, batch, 99, 3);
    expectSameEstimate(e, want, parameterNames(parts.network), 1e-5);
    e.dispose();
    tf.dispose([...want.gradients.values(), batch.input, batch.labels]);
  });

  it('keeps the live tensor count flat over repeated estimates', () => {
    const batch = batchOf(config, 8, 3);
    const once = () => pipe.estimate(parts.network, batch, parts.loss, 5).dispose();
    once();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) once();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([batch.input, batch.labels]);
  });

  it('refuses a batch smaller than the micro-batch count, naming the fix', () => {
    const batch = batchOf(config, 2, 4);
    expect(() => pipe.estimate(parts.network, batch, parts.loss, 1)).toThrow(
      /a batch of 2 cannot be cut into 3 micro-batches; lower microBatches or raise the batch size/,
    );
    tf.dispose([batch.input, batch.labels]);
  });

  it("refuses a rate regulariser, which reads every stage's spikes", () => {
    const batch = batchOf(config, 6, 4);
    const loss = regularized(parts.loss, [rateRegularizer({ weight: 1, target: 0.1 })]);
    expect(() => pipe.estimate(parts.network, batch, loss, 1)).toThrow(/pipeline: rate regularisers read the spikes of every stage/);
    tf.dispose([batch.input, batch.labels]);
  });
});

/**
 * A pipeline of `config`'s network for data of `shape`, split at `split`, against the single-thread
 * estimate of each of its two micro-batches on a rate-coded batch of `size` samples.
 */
async function againstSingleThread(
  config: TrainConfig,
  shape: number[],
  split: number[],
  size: number,
  seed: number,
): Promise<readonly (readonly [number, number])[]> {
  const parts = shardParts({ config, inputShape: shape, classes });
  const pipe = await pipelinedLR(
    lrConfigOf(config),
    parts.network,
    { module: recipeModule, exportName: 'shardParts', args: { config, inputShape: shape, classes } },
    { stages: split.length + 1, microBatches: 2, split },
  );
  try {
    const batch = tf.tidy(() => ({
      input: tf.cast(tf.less(tf.randomUniform([size, config.steps, ...shape], 0, 1, 'float32', seed), 0.4), 'float32'),
      labels: tf.tensor1d(
        Int32Array.from({ length: size }, (_, i) => i % classes),
        'int32',
      ),
    }));
    const e = pipe.estimate(parts.network, batch, parts.loss, seed);
    const want = reference(config, parts, batch, seed, 2);
    expectSameEstimate(e, want, parameterNames(parts.network), 1e-5);
    e.dispose();
    tf.dispose([...want.gradients.values(), batch.input, batch.labels]);
    return pipe.stageLayers()!;
  } finally {
    await pipe.close();
    parts.network.dispose();
  }
}

describe('layer-parallel LR: three stages, spiking output', () => {
  it('each layer on its own thread gives the single-thread estimate', async () => {
    const config: TrainConfig = { ...defaultConfig('lr'), hidden: [20, 16], steps: 5, copies: 4, encoding: 'rate', loss: 'ce-count' };
    expect(await againstSingleThread(config, inputShape, [1, 2], 9, 7)).toEqual([
      [0, 1],
      [1, 2],
      [2, 3],
    ]);
  });
});

describe('layer-parallel LR: conv layers and decorrelated inputs', () => {
  it.each([
    [
      'a conv network split after its pooling (image activations cross as bits)',
      { hidden: [12], conv: '4c3-p2', decorrelate: 'none' as const },
      [8, 8, 1],
      [2],
    ],
    ['decorrelated dense layers (R and μ travel with the weights)', { hidden: [14, 10], conv: null, decorrelate: 'all' as const }, [30], [1]],
  ])('%s gives the single-thread estimate', async (_, keys, shape, split) => {
    const config: TrainConfig = { ...defaultConfig('lr'), ...keys, steps: 4, copies: 4, encoding: 'rate' };
    expect((await againstSingleThread(config, shape, split, 6, 13))[1]![0]).toBe(split[0]);
  });
});

describe('layer-parallel LR: the split does not change the estimate', () => {
  const config: TrainConfig = { ...defaultConfig('lr'), hidden: [20, 16], steps: 5, copies: 4, encoding: 'rate' };
  it('two stages cut after the first or the second layer give the same gradients, bit for bit', async () => {
    const parts = shardParts({ config, inputShape, classes });
    const recipe = { module: recipeModule, exportName: 'shardParts', args: { config, inputShape, classes } };
    const batch = batchOf(config, 8, 31);
    const results = [];
    for (const split of [[1], [2]]) {
      const pipe = await pipelinedLR(lrConfigOf(config), parts.network, recipe, { microBatches: 2, split });
      try {
        const e = pipe.estimate(parts.network, batch, parts.loss, 3);
        expect(pipe.stageLayers()![0]).toEqual([0, split[0]]);
        results.push({ loss: e.loss, gradients: new Map([...e.gradients].map(([v, g]) => [v, [...g.dataSync()]])) });
        e.dispose();
      } finally {
        await pipe.close();
      }
    }
    expect(results[1]!.loss).toBe(results[0]!.loss);
    for (const [v, g] of results[0]!.gradients) expect(results[1]!.gradients.get(v)).toEqual(g);
    tf.dispose([batch.input, batch.labels]);
    parts.network.dispose();
  });
});

describe('pipeline parts', () => {
  it('balancedSplit finds the split whose largest stage is smallest (brute force over every split)', () => {
    const cases = [
      [5, 1, 1, 5],
      [1, 2, 3, 4, 5, 6],
      [10, 1, 1, 1, 1, 1, 1, 1, 1, 1],
      [3, 3, 3],
      [1, 100, 1, 1],
    ];
    for (const work of cases) {
      for (let stages = 2; stages <= Math.min(4, work.length); stages++) {
        const cost = (starts: number[]) => {
          const b = [0, ...starts, work.length];
          return Math.max(...b.slice(0, -1).map((from, s) => work.slice(from, b[s + 1]).reduce((a, x) => a + x, 0)));
        };
        let best = Infinity;
        const visit = (starts: number[], from: number) => {
          if (starts.length === stages - 1) best = Math.min(best, cost(starts));
          else for (let i = from; i < work.length; i++) visit([...starts, i], i + 1);
        };
        visit([], 1);
        const got = balancedSplit(work, stages);
        expect(got.length).toBe(stages - 1);
        expect(got.every((s, i) => s > (got[i - 1] ?? 0) && s < work.length)).toBe(true);
        expect(cost(got)).toBe(best);
      }
    }
    expect(() => balancedSplit([1, 2], 3)).toThrow(/3 stages need at least 3 layers; the network has 2/);
  });

  it('splits 784-512-512-512-10 under LR between the second and third hidden layer', () => {
    const config: TrainConfig = { ...defaultConfig('lr'), hidden: [512, 512, 512] };
    const parts = shardParts({ config, inputShape: [784], classes: 10 });
    // the first layer's input is constant in time (direct encoding): its product is one step's
    expect(balancedSplit(layerWork(parts.network, 10, 8, true), 2)).toEqual([2]);
    parts.network.dispose();
  });

  it('activations cross threads as bits when they are spikes, as floats otherwise, unchanged', () => {
    const spikes = tf.tidy(() => tf.cast(tf.less(tf.randomUniform([3, 5, 7], 0, 1, 'float32', 1), 0.4), 'float32'));
    const a = packActivation(1, 0, spikes);
    expect(a.bits?.length).toBe(Math.ceil(105 / 32));
    expect(a.values).toBeUndefined();
    expect(a.bits!.buffer).toBeInstanceOf(SharedArrayBuffer);
    const back = unpackActivation(a);
    expect(back.shape).toEqual([3, 5, 7]);
    expect([...back.dataSync()]).toEqual([...spikes.dataSync()]);
    const analog = tf.tensor([
      [0, 1, 0.5],
      [1, 0, 2],
    ]);
    const b = packActivation(1, 0, analog);
    expect(b.bits).toBeUndefined();
    const back2 = unpackActivation(b);
    expect([...back2.dataSync()]).toEqual([0, 1, 0.5, 1, 0, 2]);
    tf.dispose([spikes, back, analog, back2]);
  });

  it('a config with pipeline is checked before a run starts', () => {
    const base = { ...defaultConfig('lr'), pipeline: 2 };
    expect(() => checkCombinations({ ...base, method: 'bptt' }, 'c')).toThrow(
      /pipeline \(layer-parallel training\) needs a forward-only learner, method 'lr'; bptt waits for a backward pass/,
    );
    expect(() => checkCombinations({ ...base, workers: 1 }, 'c')).toThrow(/pipeline and workers each use the other cores; choose one/);
    expect(() => checkCombinations({ ...base, baseline: 'noise-free' }, 'c')).toThrow(/noise-free baseline needs a noise-free pass through every stage/);
    expect(() => checkCombinations({ ...base, regularizer: 'rate' }, 'c')).toThrow(/a rate regulariser reads the spikes of every stage/);
    expect(() => checkCombinations({ ...base, microBatches: 500, batchSize: 100 }, 'c')).toThrow(/microBatches \(500\) cannot exceed batchSize \(100\)/);
    expect(() => checkCombinations({ ...defaultConfig('lr'), microBatches: 4 }, 'c')).toThrow(/microBatches applies to pipeline/);
  });

  it('refuses settings a pipeline cannot take, naming the fix', async () => {
    const config: TrainConfig = { ...defaultConfig('lr'), hidden: [8], steps: 3, copies: 4 };
    const parts = shardParts({ config, inputShape, classes });
    const recipe = { module: recipeModule, exportName: 'shardParts', args: { config, inputShape, classes } };
    await expect(pipelinedLR({ ...lrConfigOf(config), baseline: 'noise-free' }, parts.network, recipe)).rejects.toThrow(
      /noise-free baseline needs a noise-free pass through every stage/,
    );
    await expect(pipelinedLR(lrConfigOf(config), parts.network, recipe, { stages: 3 })).rejects.toThrow(/3 stages need at least 3 layers; the network has 2/);
    await expect(pipelinedLR(lrConfigOf(config), parts.network, recipe, { split: [2] })).rejects.toThrow(
      /split must give the first layer of each of the 1 later stages/,
    );
    await expect(pipelinedLR(lrConfigOf(config), parts.network, { ...recipe, exportName: 'nothingHere' })).rejects.toThrow(
      /has no function export 'nothingHere'/,
    );
    parts.network.dispose();
  });
});
