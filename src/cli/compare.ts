/**
 * `spikelr compare`: one model, data set and seed trained by each method (LR and surrogate BPTT),
 * side by side — per-epoch loss, accuracy, time and peak memory; per-layer cosine similarity of the
 * LR estimate and the BPTT gradient on fixed batches (at initialisation, against the number of
 * copies, and at the LR-trained weights); accuracy under FGSM, PGD, transfer attacks and Gaussian
 * noise. Writes compare.json (the data the visualisation renders) and report.md.
 */
import * as tf from '@tensorflow/tfjs';
import { armName, type Arm, type CompareOptions } from './compare-arms.js';
import { gradientCosines, variantGradients } from './compare-gradients.js';
import { markdown } from './compare-markdown.js';
import { robustness } from './compare-robustness.js';

export { armMethod, armName, samplesName, sweepsOf, type CompareOptions } from './compare-arms.js';
export { gradientCosines, type LayerCosine } from './compare-gradients.js';
export { markdown } from './compare-markdown.js';
import { promises as fs } from 'node:fs';
import { check } from '../core/errors.js';
import { makeDirectory, writeFileAtomic } from '../core/platform/node.js';
import path from 'node:path';
import { decorrelates, warmDecorrelation } from '../learning/decorrelation.js';
import { checkDifferentiable } from '../learning/losses.js';
import { MODEL_FILE } from '../learning/trainer.js';
import { loadNetwork } from '../io/network-file.js';
import type { Network } from '../sim/network.js';
import { permutation, streamKey } from '../core/random.js';
import type { TrainConfig } from './config.js';
import { methodConfig } from './combinations.js';
import { buildNetwork, estimatorOf, loadSplits, lossOf } from './recipe.js';
import { runTraining, type RunSummary } from './train.js';

export async function runCompare(config: TrainConfig, o: CompareOptions): Promise<Record<string, unknown>> {
  const loss = lossOf(config);
  checkDifferentiable(
    loss,
    'compare',
    "it measures every gradient against BPTT's and attacks through input gradients; train on the 0-1 loss with spikelr train --method lr",
  );
  const { train: trainSet, test } = await loadSplits(config);
  const needed = o.gradientBatches * config.batchSize;
  check(
    needed <= trainSet.count,
    () =>
      `compare: --gradient-batches ${o.gradientBatches} of --batch-size ${config.batchSize} need ${needed} training samples, and there are ${trainSet.count}; lower either, or raise --train-limit`,
  );
  await makeDirectory(o.out);
  const variants = o.decorrelations?.length ? [...new Set(o.decorrelations)] : [config.decorrelate];
  const nameOf = (method: string, decorrelate: TrainConfig['decorrelate']) => (variants.length > 1 ? armName(method, decorrelate) : method);
  const arms: Arm[] = variants.flatMap((decorrelate) => o.methods.map((method) => ({ name: nameOf(method, decorrelate), method, decorrelate })));

  // gradients on fixed batches at the common initialisation
  const order = permutation(trainSet.count, streamKey(config.seed, 0xb47c));
  const batches = Array.from({ length: o.gradientBatches }, (_, i) => {
    const idx = order.subarray(i * config.batchSize, (i + 1) * config.batchSize);
    return {
      input: trainSet.batch(idx, streamKey(config.seed, 0xb47d, i)),
      labels: tf.tensor1d(
        Int32Array.from(idx, (j) => trainSet.labels[j]!),
        'int32',
      ),
      constantInTime: trainSet.constantInTime === true,
    };
  });
  const gradients: Record<string, unknown> = { batches: o.gradientBatches, batchSize: config.batchSize };
  const warmups: Record<string, unknown> = {};
  for (const [i, decorrelate] of variants.entries()) {
    const variant = { ...config, decorrelate };
    const initial = buildNetwork(variant, trainSet.inputShape, trainSet.classes);
    try {
      // a decorrelated network is compared with its R learned, not at the identity it starts from
      if (decorrelates(initial) && o.decorrelationWarmup > 0)
        warmups[decorrelate] = { steps: o.decorrelationWarmup, loss: warmDecorrelation(initial, batches, o.decorrelationWarmup) };
      await variantGradients(initial, variant, (m) => nameOf(m, decorrelate), i === 0, batches, loss, o, gradients);
    } finally {
      initial.dispose();
    }
  }
  const warmed = Object.values(warmups);
  if (warmed.length === 1 && variants.length === 1) gradients['decorrelationWarmup'] = warmed[0];
  else if (warmed.length) gradients['decorrelationWarmups'] = warmups;

  const runs: Record<string, RunSummary & { history: unknown }> = {};
  const models: Record<string, Network> = {};
  for (const arm of arms) {
    const runDir = path.join(o.out, arm.name);
    const summary = await runTraining(
      { ...methodConfig(config, arm.method), decorrelate: arm.decorrelate },
      { out: runDir, force: o.force, progress: o.progress, splits: { train: trainSet, test } },
    );
    const metrics = JSON.parse(await fs.readFile(path.join(runDir, 'metrics.json'), 'utf8')) as RunSummary & { history: unknown };
    runs[arm.name] = { ...summary, history: metrics.history };
    models[arm.name] = await loadNetwork(path.join(runDir, MODEL_FILE));
  }
  // LR's estimate against BPTT's gradient at the weights LR trained, for each LR arm
  for (const [i, arm] of arms.filter((a) => a.method === 'lr').entries()) {
    const c = { ...config, decorrelate: arm.decorrelate };
    const rows = await gradientCosines(models[arm.name]!, estimatorOf(c, 'lr'), estimatorOf(c, 'bptt'), batches, loss, config.seed);
    if (i === 0) gradients['trainedLR'] = rows;
    else gradients['trainedArms'] = { ...((gradients['trainedArms'] ?? {}) as object), [arm.name]: rows };
  }
  tf.dispose(batches.flatMap((b) => [b.input, b.labels]));

  const images = config.dataset === 'mnist' || config.dataset === 'idx';
  const report = {
    config,
    methods: arms.map((a) => a.name),
    ...(variants.length > 1 ? { arms: Object.fromEntries(arms.map((a) => [a.name, { method: a.method, decorrelate: a.decorrelate }])) } : {}),
    runs,
    gradients,
    robustness: images ? await robustness(config, models, loss, o) : { skipped: `attacks perturb images; dataset '${config.dataset}' is not an image dataset` },
    test: { samples: test.count },
  };
  Object.values(models).forEach((m) => m.dispose());
  await writeFileAtomic(path.join(o.out, 'compare.json'), `${JSON.stringify(report, null, 2)}\n`);
  await writeFileAtomic(path.join(o.out, 'report.md'), markdown(report));
  return report;
}
