/**
 * `spikelr compare`: one model, data set and seed trained by each method (LR and surrogate BPTT),
 * side by side — per-epoch loss, accuracy, time and peak memory; per-layer cosine similarity of the
 * LR estimate and the BPTT gradient on fixed batches (at initialisation, against the number of
 * copies, and at the LR-trained weights); accuracy under FGSM, PGD, transfer attacks and Gaussian
 * noise. Writes compare.json (the data the visualisation renders) and report.md.
 */
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import { check } from '../core/errors.js';
import { makeDirectory, writeFileAtomic } from '../core/platform/node.js';
import path from 'node:path';
import { imageSequences } from '../data/dataset.js';
import { loadIdxImages, loadMnist, type ImageDataset } from '../data/mnist.js';
import type { Batch, Estimator } from '../learning/estimators/lr.js';
import { cosine, gradientDiagnostics, type DiagnosticsRow } from '../learning/diagnostics.js';
import { decorrelates, warmDecorrelation } from '../learning/decorrelation.js';
import { checkDifferentiable, type RowLoss } from '../learning/losses.js';
import { fgsm, gaussianCorruption, pgd } from '../learning/robustness.js';
import { evaluateDataset, MODEL_FILE, parameterNames, testSeed } from '../learning/trainer.js';
import { loadNetwork } from '../io/network-file.js';
import type { Network } from '../sim/network.js';
import { permutation, streamKey } from '../core/random.js';
import type { TrainConfig } from './config.js';
import { ESTIMATORS, methodOf } from '../learning/estimators/registry.js';
import { buildNetwork, estimatorOf, loadSplits, lossOf } from './recipe.js';
import { runTraining, type RunSummary } from './train.js';

export interface CompareOptions {
  readonly out: string;
  readonly methods: readonly TrainConfig['method'][];
  /**
   * Which layers decorrelate their input, one value per variant: with more than one, every method
   * runs once per value, as arm `lr`, `lr+decor`, `lr+decor-hidden`, … (default: the config's).
   */
  readonly decorrelations?: readonly TrainConfig['decorrelate'][];
  /** Fixed training batches the gradients are compared on. */
  readonly gradientBatches: number;
  /** Numbers of samples K (LR's copies, FG's directions) of the cosine- and variance-against-K sweep at initialisation. */
  readonly copiesSweep: readonly number[];
  /** Independent draws per K in the sweep (≥ 2). */
  readonly sweepDraws: number;
  readonly epsilons: readonly number[];
  readonly noiseLevels: readonly number[];
  /** Test images attacked (the first N). */
  readonly attackSamples: number;
  readonly pgdIterations: number;
  /** R-only updates before the gradients are compared, when the config decorrelates (R starts at the identity). */
  readonly decorrelationWarmup: number;
  readonly progress: boolean;
  readonly force: boolean;
}

export interface LayerCosine {
  readonly parameter: string;
  readonly mean: number;
  readonly sd: number;
  /** ‖LR‖ / ‖BPTT‖, mean over batches. */
  readonly normRatio: number;
}

const norm = (a: ArrayLike<number>) => {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * a[i]!;
  return Math.sqrt(sum);
};

const meanSd = (x: number[]) => {
  const m = x.reduce((a, b) => a + b, 0) / x.length;
  return { mean: m, sd: Math.sqrt(x.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, x.length - 1)) };
};

/** Per-parameter cosine of `a`'s and `b`'s gradients of `net` on the given batches. */
export async function gradientCosines(net: Network, a: Estimator, b: Estimator, batches: Batch[], loss: RowLoss, seed: number): Promise<LayerCosine[]> {
  const names = parameterNames(net);
  const per = new Map<string, { cos: number[]; ratio: number[] }>();
  batches.forEach((batch, i) => {
    const ea = a.estimate(net, batch, loss, streamKey(seed, 0xc05, i));
    const eb = b.estimate(net, batch, loss, streamKey(seed, 0xc05, i));
    for (const [v, ga] of ea.gradients) {
      const gb = eb.gradients.get(v);
      if (!gb) continue;
      const [x, y] = [ga.dataSync(), gb.dataSync()];
      const cos = cosine(x, y),
        ratio = norm(x) / (norm(y) || 1);
      const name = names.get(v) ?? v.name;
      const entry = per.get(name) ?? { cos: [], ratio: [] };
      entry.cos.push(cos);
      entry.ratio.push(ratio);
      per.set(name, entry);
    }
    ea.dispose();
    eb.dispose();
  });
  return [...per].map(([parameter, { cos, ratio }]) => ({ parameter, ...meanSd(cos), normRatio: meanSd(ratio).mean }));
}

/**
 * Cosine to the BPTT gradient and variance of one estimate of `config`'s method, per layer, against
 * its number of samples K (LR's copies, FG's directions): `draws` independent estimates on one
 * fixed batch at each K.
 */
function samplesSweep(net: Network, config: TrainConfig, reference: ReadonlyMap<tf.Variable, tf.Tensor>, batch: Batch, loss: RowLoss, o: CompareOptions) {
  const key = methodOf(config.method).samples!;
  return gradientDiagnostics(net, batch, loss, {
    copies: o.copiesSweep,
    estimator: (k) => estimatorOf({ ...config, [key]: k }),
    draws: o.sweepDraws,
    reference,
    seed: config.seed,
  });
}

async function testImages(c: TrainConfig, count: number): Promise<ImageDataset> {
  const options = { limit: count, ...(c.dataDir !== null ? { dir: c.dataDir } : {}) };
  return c.dataset === 'mnist' ? loadMnist('test', options) : loadIdxImages('test', options);
}

const withImages = (d: ImageDataset, images: Float32Array): ImageDataset => ({ ...d, images });

/** Accuracy of each model under each attack and corruption. */
async function robustness(c: TrainConfig, models: Record<string, Network>, loss: RowLoss, o: CompareOptions): Promise<Record<string, unknown>> {
  const data = await testImages(c, o.attackSamples);
  const accuracy = (net: Network, images: Float32Array) =>
    evaluateDataset(net, imageSequences(withImages(data, images), { steps: c.steps, encoding: c.encoding, inputShape: net.inputShape }), {
      seed: testSeed(c.seed),
      accuracy: c.accuracy,
    }).accuracy;
  const attackOptions = { steps: c.steps, loss };
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

/** The name of method `method`'s run with `decorrelate`, in a compare of several decorrelation variants. */
export const armName = (method: string, decorrelate: TrainConfig['decorrelate']) =>
  decorrelate === 'none' ? method : `${method}+decor${decorrelate === 'all' ? '' : `-${decorrelate}`}`;

/** The method an arm of a compare runs (`lr+decor` runs `lr`). */
export const armMethod = (arm: string) => arm.split('+')[0]!;

/** One trained run of a compare: a method, with one decorrelation variant. */
interface Arm {
  readonly name: string;
  readonly method: TrainConfig['method'];
  readonly decorrelate: TrainConfig['decorrelate'];
}

/**
 * The gradient diagnostics of one decorrelation variant at the common initialisation (R warmed up
 * first when it decorrelates), into `gradients`: LR's cosine to BPTT (`initial` for the first
 * variant, else under the LR arm's name in `methods`), every other method's (`methods`, by arm),
 * and the K sweeps of the sampling methods (`sweeps`, by arm). BPTT's gradient is the variant's own.
 */
async function variantGradients(
  net: Network,
  config: TrainConfig,
  name: (method: string) => string,
  first: boolean,
  batches: Batch[],
  loss: RowLoss,
  o: CompareOptions,
  gradients: Record<string, unknown>,
) {
  const bptt = estimatorOf({ ...config, method: 'bptt' });
  const methods = (gradients['methods'] ?? {}) as Record<string, LayerCosine[]>;
  const sweeps = (gradients['sweeps'] ?? {}) as Record<string, DiagnosticsRow[]>;
  const cosines = (m: TrainConfig['method']) => gradientCosines(net, estimatorOf({ ...config, method: m }), bptt, batches, loss, config.seed);
  if (first) gradients['initial'] = await cosines('lr');
  else methods[name('lr')] = await cosines('lr');
  const others = o.methods.filter((m) => m !== 'bptt' && m !== 'lr');
  for (const m of others) methods[name(m)] = await cosines(m);
  if (Object.keys(methods).length) gradients['methods'] = methods;
  // cosine and variance against K for LR and every other sampling method, on one batch
  const reference = bptt.estimate(net, batches[0]!, loss);
  try {
    for (const m of ['lr' as const, ...others.filter((m) => methodOf(m).samples)])
      sweeps[name(m)] = samplesSweep(net, { ...config, method: m }, reference.gradients, batches[0]!, loss, o);
  } finally {
    reference.dispose();
  }
  gradients['sweeps'] = sweeps;
}

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
      { ...config, method: arm.method, decorrelate: arm.decorrelate },
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

const pct = (x: number | null) => (x === null ? 'n/a' : `${(100 * x).toFixed(2)}%`);

/** The K sweeps of a compare.json by method (files before FG held LR's alone, as `copies`). */
export function sweepsOf(gradients: Record<string, unknown>): Record<string, DiagnosticsRow[]> {
  const sweeps = gradients['sweeps'] as Record<string, DiagnosticsRow[]> | undefined;
  if (sweeps) return sweeps;
  const copies = gradients['copies'] as DiagnosticsRow[] | undefined;
  return copies ? { lr: copies } : {};
}

/** What K counts for method `m`: 'copies' or 'directions'. */
export const samplesName = (arm: string) => {
  const m = armMethod(arm);
  return m in ESTIMATORS ? (methodOf(m).samples ?? 'samples') : 'samples';
};

/** The comparison as Markdown tables. */
export function markdown(r: {
  config: TrainConfig;
  methods: readonly string[];
  arms?: Record<string, { method: string; decorrelate: string }>;
  runs: Record<string, RunSummary & { history: unknown }>;
  gradients: Record<string, unknown>;
  robustness: Record<string, unknown>;
}): string {
  const lines: string[] = [];
  const c = r.config;
  lines.push(`# spikelr compare: ${r.methods.join(' vs ')} on ${c.dataset}`, '');
  lines.push(
    `${c.conv ? `Conv ${c.conv}, hidden ${c.hidden.join('-') || 'none'}` : `Hidden ${c.hidden.join('-')}`} ${c.neuron}${c.recurrent ? ' (recurrent)' : ''}, β = ${c.beta}, ${c.steps} steps, ${c.encoding} input, ${c.loss} (${c.reduction}), ${c.optimizer} η = ${c.learningRate} (${c.schedule}), batch ${c.batchSize}, ${c.epochs} epoch(s), seed ${c.seed}; LR: K = ${c.copies}, ${c.noise} noise, ${c.score} score, ${c.baseline} baseline; BPTT: ${c.surrogate}(${c.surrogateScale}).`,
    '',
  );
  lines.push('| method | test accuracy | train seconds | samples/s | peak tensor MB |', '| --- | --- | --- | --- | --- |');
  for (const m of r.methods) {
    const s = r.runs[m]!;
    lines.push(
      `| ${m} | ${pct(s.testAccuracy)} | ${s.trainSeconds.toFixed(1)} | ${s.samplesPerSecond.toFixed(1)} | ${(s.peakTensorBytes / 2 ** 20).toFixed(1)} |`,
    );
  }
  lines.push(
    '',
    '## Per epoch',
    '',
    '| method | epoch | train loss | test accuracy | train seconds | peak tensor MB |',
    '| --- | --- | --- | --- | --- | --- |',
  );
  for (const m of r.methods) {
    for (const h of r.runs[m]!.history as { epoch: number; trainLoss: number; testAccuracy: number; trainSeconds: number; peakTensorBytes: number }[]) {
      lines.push(
        `| ${m} | ${h.epoch} | ${h.trainLoss.toFixed(4)} | ${pct(h.testAccuracy)} | ${h.trainSeconds.toFixed(1)} | ${(h.peakTensorBytes / 2 ** 20).toFixed(1)} |`,
      );
    }
  }
  const cosTable = (title: string, rows: LayerCosine[] | undefined, estimate = 'LR') => {
    if (!rows) return;
    lines.push('', `## ${title}`, '', `| parameter | cosine (mean ± sd) | ‖${estimate}‖/‖BPTT‖ |`, '| --- | --- | --- |');
    for (const l of rows) lines.push(`| ${l.parameter} | ${l.mean.toFixed(3)} ± ${l.sd.toFixed(3)} | ${l.normRatio.toFixed(3)} |`);
  };
  const warm = (r.gradients['decorrelationWarmup'] ?? Object.values((r.gradients['decorrelationWarmups'] ?? {}) as object)[0]) as { steps: number } | undefined;
  const decorrelated = r.arms
    ? [...new Set(Object.values(r.arms).map((a) => a.decorrelate))].filter((v) => v !== 'none')
    : c.decorrelate !== 'none'
      ? [c.decorrelate]
      : [];
  if (decorrelated.length)
    lines.push(
      `Decorrelated inputs (${decorrelated.join(', ')}; η_R = ${c.decorrelationRate}, κ = ${c.decorrelationKappa}${c.decorrelationCentre ? ', centred' : ''})${
        r.arms
          ? `, in the arms named +decor (${Object.keys(r.arms)
              .filter((a) => a.includes('+'))
              .join(', ')})`
          : ''
      }${warm ? `: gradients compared after ${warm.steps} R-only updates` : ''}.`,
      '',
    );
  cosTable(
    `${r.arms ? `${armName('lr', Object.values(r.arms)[0]!.decorrelate as TrainConfig['decorrelate'])} (LR)` : 'LR'} vs BPTT gradient at initialisation (K = ${c.copies}, ${r.gradients['batches']} batches)`,
    r.gradients['initial'] as LayerCosine[],
  );
  for (const [m, sweep] of Object.entries(sweepsOf(r.gradients))) {
    if (!sweep.length) continue;
    const layers = Object.keys(sweep[0]!.layers);
    lines.push(
      '',
      `## ${m} against its number of ${samplesName(m)} K (initialisation, one batch; cosine to BPTT / variance of one estimate)`,
      '',
      `| K | overall cosine | ${layers.map((l) => `${l} cosine | ${l} variance`).join(' | ')} |`,
      `| --- | --- | ${layers.map(() => '--- | ---').join(' | ')} |`,
    );
    for (const row of sweep)
      lines.push(
        `| ${row.copies} | ${row.cosine.mean.toFixed(3)} ± ${row.cosine.sd.toFixed(3)} | ${layers.map((l) => `${row.layers[l]!.cosine.toFixed(3)} | ${row.layers[l]!.variance.toPrecision(3)}`).join(' | ')} |`,
      );
  }
  const firstLr = r.methods.find((m) => armMethod(m) === 'lr') ?? 'LR';
  cosTable(`${firstLr === 'lr' ? 'LR' : firstLr} vs BPTT gradient at the LR-trained weights`, r.gradients['trainedLR'] as LayerCosine[] | undefined);
  for (const [arm, rows] of Object.entries((r.gradients['trainedArms'] ?? {}) as Record<string, LayerCosine[]>))
    cosTable(`${arm} vs BPTT gradient at the weights it trained`, rows, arm);
  for (const [m, rows] of Object.entries((r.gradients['methods'] ?? {}) as Record<string, LayerCosine[]>)) {
    cosTable(`${m} vs BPTT gradient at initialisation (${r.gradients['batches']} batches)`, rows, m);
  }
  const rob = r.robustness;
  if (rob['epsilons']) {
    const eps = rob['epsilons'] as number[];
    lines.push(
      '',
      `## Robustness (${rob['samples']} test images; accuracy)`,
      '',
      `| attack | model | ${eps.map((e) => `ε = ${e}`).join(' | ')} |`,
      `| --- | --- | ${eps.map(() => '---').join(' | ')} |`,
    );
    for (const attack of ['fgsm', 'pgd'] as const) {
      for (const [m, acc] of Object.entries(rob[attack] as Record<string, number[]>))
        lines.push(`| ${attack.toUpperCase()}${attack === 'pgd' ? ` (${rob['pgdIterations']} steps)` : ''} | ${m} | ${acc.map(pct).join(' | ')} |`);
    }
    for (const [m, acc] of Object.entries((rob['transfer'] ?? {}) as Record<string, number[]>))
      lines.push(`| PGD transfer | ${m} | ${acc.map(pct).join(' | ')} |`);
    const sigmas = rob['noiseLevels'] as number[];
    lines.push('', `| Gaussian noise | model | ${sigmas.map((s) => `σ = ${s}`).join(' | ')} |`, `| --- | --- | ${sigmas.map(() => '---').join(' | ')} |`);
    for (const [m, acc] of Object.entries(rob['gaussian'] as Record<string, number[]>)) lines.push(`| | ${m} | ${acc.map(pct).join(' | ')} |`);
  } else if (rob['skipped']) lines.push('', `Robustness: ${rob['skipped']}.`);
  return `${lines.join('\n')}\n`;
}
