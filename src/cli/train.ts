/** `spikelr train` and `spikelr eval`: a run directory in, metrics out. */
import * as tf from '@tensorflow/tfjs';
import { productThreads } from '../kernels/product-threads.js';
import { secondsFromEnv } from '../core/bounded-wait.js';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import { makeDirectory, writeFileAtomic } from '../core/platform/node.js';
import path from 'node:path';
import { backendReport } from '../kernels/backend.js';
import { check, SpikelrError } from '../core/errors.js';
import { readFileNamed } from '../core/files.js';
import {
  BEST_FILE,
  CHECKPOINT_FILE,
  evaluateDataset,
  METRICS_LOG,
  MODEL_FILE,
  modelFileOf,
  SNAPSHOT_DIR,
  testSeed,
  train,
  type TrainResult,
} from '../learning/trainer.js';
import { deserializeModel, WRITE_TEMPORARY } from '../io/network-file.js';
import { methodOf } from '../learning/estimators/registry.js';
import { checkDifferentiable } from '../learning/losses.js';
import { decorrelationInputsOf, KEYS_ADDED, noiseScheduleOf, readConfigFile, resolveConfig, validateConfig, writeConfig, type TrainConfig } from './config.js';
import { buildNetwork, checkLayerNames, loadSplit, loadSplits, lossOf, noiseOf, trainingEstimator, type Splits } from './recipe.js';
import type { Network } from '../sim/network.js';
import { deployNetwork, withQuantizedWeights } from '../sim/deploy.js';

export const CONFIG_FILE = 'config.json';
/** The model file's metadata key holding the run's config (its recipe: steps, encoding, loss, …). */
export const CONFIG_METADATA = 'config';
export const METRICS_FILE = 'metrics.json';

export interface RunOptions {
  /** Run directory (default runs/<method>-<dataset>-seed<seed>). */
  readonly out?: string;
  /** Overwrite an existing run directory. */
  readonly force?: boolean;
  readonly progress?: boolean;
  /** Also evaluate the network with its escape noise (LR). */
  readonly evalNoise?: boolean;
}

export interface RunSummary extends Omit<TrainResult, 'history'> {
  readonly method: TrainConfig['method'];
  readonly dataset: TrainConfig['dataset'];
  readonly backend: string;
  /** Threads the large products ran on (src/kernels/product-threads.ts). */
  readonly threads: number;
  readonly epochs: number;
  readonly runDir: string;
}

/** Seconds a run has, after the first SIGINT/SIGTERM, to finish its step and checkpoint (SPIKELR_STOP_GRACE_S overrides). */
export const STOP_GRACE_SECONDS = 10;

/**
 * Stops a run at the next step boundary on SIGINT/SIGTERM (with a checkpoint), instead of
 * mid-write. Bounded: if that has not happened within the grace period (a step or a write that
 * does not return), or on a second signal, the process exits at once with 128 + the signal's
 * number — every file is written to a temporary and renamed, so what is on disk stays whole.
 */
function interruptible(): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  // (a value that is not a positive number would make the timer fire at once)
  const grace = secondsFromEnv('SPIKELR_STOP_GRACE_S', STOP_GRACE_SECONDS);
  const code = (sig: NodeJS.Signals) => 128 + (os.constants.signals[sig] ?? 1);
  const stop = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(code(sig)); // a second signal: leave now
    process.stderr.write(`\nspikelr: ${sig}: stopping after this step and writing a checkpoint (again to quit at once)\n`);
    controller.abort();
    setTimeout(() => {
      process.stderr.write(`spikelr: ${sig}: the run did not stop within ${grace} s; exiting without a new checkpoint (the last one on disk is intact)\n`);
      process.exit(code(sig));
    }, grace * 1000).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return {
    signal: controller.signal,
    release: () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    },
  };
}

/** The method can train on the configured loss (checked before anything is written). */
export function checkLossFits(config: TrainConfig, method: TrainConfig['method'] = config.method): void {
  const needs = methodOf(method).needs?.(config);
  if (needs?.derivative) checkDifferentiable(lossOf(config), `--method ${method}`, needs.instead);
}

/** Trains the configured network into a run directory and writes metrics.json. */
export async function runTraining(
  config: TrainConfig,
  o: RunOptions & { readonly resume?: boolean; readonly restart?: boolean; readonly splits?: Splits },
): Promise<RunSummary> {
  const runDir = o.out ?? path.join('runs', `${config.method}-${config.dataset}-seed${config.seed}`);
  check(runDir.trim() !== '', () => '--out is empty; give the run directory, e.g. --out runs/mine');
  checkLossFits(config);
  const existing = !o.resume && existsSync(path.join(runDir, CONFIG_FILE));
  if (existing && !o.force)
    throw new SpikelrError(`${runDir} already holds a run; continue it with --resume ${runDir}, choose another --out, or overwrite with --force`);
  // everything that can be checked is checked before the run directory is touched
  const { train: trainSet, test } = o.splits ?? (await loadSplits(config));
  check(
    test.inputShape.join() === trainSet.inputShape.join(),
    () =>
      `${config.dataset}: the training samples are ${trainSet.inputShape.join('x')} per step but the test samples ${test.inputShape.join('x')}; both splits must come from one dataset`,
  );
  const net = buildNetwork(config, trainSet.inputShape, trainSet.classes);
  try {
    checkLayerNames(config, net);
  } catch (err) {
    net.dispose();
    throw err;
  }
  // a resumed run takes its parameters from its checkpoint; a new one from the model it starts from
  if (config.init !== null && !o.resume) {
    try {
      await startFrom(net, config.init);
    } catch (err) {
      net.dispose();
      throw err;
    }
  }
  let estimator: Awaited<ReturnType<typeof trainingEstimator>> | undefined;
  const { signal, release } = interruptible();
  try {
    estimator = await trainingEstimator(config, trainSet.inputShape, trainSet.classes, net);
    if (existing) {
      await removeRun(runDir);
      if (!o.restart) process.stderr.write(`spikelr: --force: removed the earlier run's files from ${runDir}\n`);
    }
    await makeDirectory(runDir);
    if (!o.resume) await writeConfig(path.join(runDir, CONFIG_FILE), config);
    const noiseSchedule = noiseScheduleOf(config);
    const result = await train(net, estimator, lossOf(config), trainSet, test, {
      epochs: config.epochs,
      batchSize: config.batchSize,
      seed: config.seed,
      optimizer: {
        kind: config.optimizer,
        learningRate: config.learningRate,
        ...(config.optimizer === 'sgd' ? { momentum: config.momentum } : {}),
        weightDecay: config.weightDecay,
      },
      schedule: config.schedule,
      ...(noiseSchedule !== 'constant' ? { sigmaSchedule: noiseSchedule } : {}),
      ...(config.layerRates !== null ? { layerRates: config.layerRates } : {}),
      validation: config.validation,
      ...(config.patience !== null ? { patience: config.patience } : {}),
      ...(config.maxSteps !== null ? { maxSteps: config.maxSteps } : {}),
      accuracy: config.accuracy,
      ...(o.evalNoise ? { evalNoise: noiseOf(config, net) } : {}),
      decorrelationInputs: decorrelationInputsOf(config),
      weightBits: config.deploy?.weightBits ?? null,
      evaluateStart: config.init !== null,
      runDir,
      modelMetadata: { [CONFIG_METADATA]: JSON.stringify(config) },
      snapshots: config.snapshots,
      checkpointEvery: config.checkpointEvery,
      ...(config.evalEvery !== null ? { evalEvery: config.evalEvery } : {}),
      resume: o.resume ?? false,
      progress: o.progress ?? false,
      signal,
    });
    if (result.stopped === 'diverged') throw new SpikelrError(`${runDir}: ${result.divergence}: --learning-rate, then start again with --force`);
    const { history, ...rest } = result;
    const summary: RunSummary = {
      method: config.method,
      dataset: config.dataset,
      backend: backendReport()?.name ?? tf.getBackend(),
      threads: productThreads(),
      epochs: history.length,
      runDir,
      ...rest,
    };
    if (result.stopped !== 'aborted') await writeFileAtomic(path.join(runDir, METRICS_FILE), `${JSON.stringify({ ...summary, history }, null, 2)}\n`);
    return summary;
  } finally {
    release();
    await estimator?.close?.();
    net.dispose();
  }
}

/**
 * Copies the parameters of the trained model `target` (a model file or a run directory) into
 * `net`, layer by layer and parameter by parameter; the networks must match (names and shapes).
 * Buffers the model lacks (a decorrelation's R when the model had none) keep their initial values.
 */
export async function startFrom(net: Network, target: string): Promise<void> {
  const file = modelFileOf(target);
  const saved = deserializeModel(await readFileNamed(file, 'init model file'), file);
  try {
    const names = (n: Network) => n.layers.map((l) => l.name).join(', ');
    check(
      saved.net.layers.length === net.layers.length && saved.net.layers.every((l, i) => l.name === net.layers[i]!.name),
      () =>
        `init: ${file} holds layers ${names(saved.net)}, but the configured network has ${names(net)}; give the config the model was trained with (its hidden sizes, conv, recurrent, loss)`,
    );
    net.layers.forEach((layer, i) => {
      const from = saved.net.layers[i]!;
      for (const p of Object.keys(from.params))
        check(
          p in layer.params,
          () =>
            `init: ${file}'s layer '${layer.name}' has a parameter '${p}' the configured network lacks (a learned coefficient or a decorrelation of its own); configure the network as the model was trained`,
        );
      for (const [p, v] of Object.entries(layer.params)) {
        const w = from.params[p];
        if (!w) {
          check(
            layer.buffers?.includes(p) === true,
            () =>
              `init: ${file}'s layer '${layer.name}' has no parameter '${p}', which the configured network learns; configure the network as the model was trained`,
          );
          continue;
        }
        check(
          w.shape.join() === v.shape.join(),
          () =>
            `init: ${file}'s '${layer.name}.${p}' is ${w.shape.join('x')}, the configured network's ${v.shape.join('x')}; configure the network as the model was trained`,
        );
        v.assign(w);
      }
    });
  } finally {
    saved.net.dispose();
  }
}

/** The files a run writes in its directory (besides temporaries of atomic writes). */
const RUN_FILES = [CHECKPOINT_FILE, MODEL_FILE, BEST_FILE, METRICS_FILE, METRICS_LOG];

/**
 * Removes one run's files from `runDir`, config.json last: a removal cut short leaves a directory
 * that still says it holds a run (and refuses a new start without --force), never a mix of two runs.
 * Other files in the directory are left alone.
 */
async function removeRun(runDir: string): Promise<void> {
  const temporaries = (await fs.readdir(runDir)).filter((f) => WRITE_TEMPORARY.test(f) && [...RUN_FILES, CONFIG_FILE].some((r) => f.startsWith(`${r}.`)));
  await fs.rm(path.join(runDir, SNAPSHOT_DIR), { recursive: true, force: true });
  for (const f of [...RUN_FILES, ...temporaries, CONFIG_FILE]) await fs.rm(path.join(runDir, f), { force: true });
}

/** Continues the run in `runDir` from its checkpoint with its own config. */
export async function resumeTraining(runDir: string, o: RunOptions): Promise<RunSummary> {
  const file = path.join(runDir, CONFIG_FILE);
  check(existsSync(file), () => `--resume ${runDir}: no ${CONFIG_FILE} there; give the directory of a run started by spikelr train`);
  // keys the run's version did not have keep the behaviour it had
  const written = await readConfigFile(file);
  const before = Object.fromEntries(Object.entries(KEYS_ADDED).filter(([k]) => !(k in written)));
  const config = await resolveConfig({ file, flags: before });
  if (!existsSync(path.join(runDir, CHECKPOINT_FILE))) {
    // stopped before its first checkpoint: nothing was kept, so the run starts again from its config
    process.stderr.write(`spikelr: ${runDir} stopped before its first checkpoint; starting it again from its ${CONFIG_FILE}\n`);
    return runTraining(config, { ...o, out: runDir, force: true, restart: true });
  }
  return runTraining(config, { ...o, out: runDir, resume: true });
}

/**
 * A trained model and its config: `target` is a run directory (its model.safetensors and
 * config.json) or a model file (with `configFile`, else the config spikelr train wrote into it,
 * else the defaults); `flags` override the config.
 */
export async function loadTrained(
  target: string,
  flags: Partial<TrainConfig>,
  configFile?: string,
): Promise<{ net: Network; config: TrainConfig; modelFile: string; hasRecipe: boolean }> {
  const modelFile = modelFileOf(target);
  const isDir = modelFile !== target;
  const saved = deserializeModel(await readFileNamed(modelFile, 'model file'), modelFile);
  try {
    if (!saved.headerChecked)
      process.stderr.write(`spikelr: note: ${modelFile} was written before model headers had a checksum; its weights are checked, its header is not\n`);
    // a directory without config.json (an imported model) takes its recipe from the model file or the flags
    const file = configFile ?? (isDir && existsSync(path.join(target, CONFIG_FILE)) ? path.join(target, CONFIG_FILE) : undefined);
    const embedded = saved.metadata[CONFIG_METADATA];
    const base = file ? await readConfigFile(file) : embedded !== undefined ? validateConfig(JSON.parse(embedded), `${modelFile}'s recipe`) : {};
    const config = await resolveConfig({ flags: { ...base, ...flags } });
    // hasRecipe: the config is the model's own (a run's config.json, --config, or the one train wrote into the file), not defaults
    return { net: saved.net, config, modelFile, hasRecipe: file !== undefined || embedded !== undefined };
  } catch (err) {
    saved.net.dispose();
    throw err;
  }
}

/** Accuracy of a trained model (a run directory or a model file with a config) on the test split. */
export async function runEvaluation(o: {
  readonly target: string;
  readonly config?: string;
  readonly flags: Partial<TrainConfig>;
  readonly noise?: boolean;
  readonly split?: 'train' | 'test';
}): Promise<Record<string, unknown>> {
  const loaded = await loadTrained(o.target, o.flags, o.config);
  const { config, modelFile } = loaded;
  // --deploy: the model as deployed (its weights quantized in the forward pass, its neurons wrapped)
  let net = loaded.net;
  if (o.flags.deploy) {
    try {
      net = deployNetwork(loaded.net, o.flags.deploy);
    } finally {
      if (net !== loaded.net) loaded.net.dispose();
    }
  }
  const bits = o.flags.deploy?.weightBits ?? null;
  try {
    const data = await loadSplit(config, o.split ?? 'test');
    check(
      data.inputShape.join() === net.inputShape.join(),
      () =>
        `eval: ${modelFile} takes ${net.inputShape.join('x')} inputs per step; ${config.dataset} gives ${data.inputShape.join('x')} (check --dataset and --encoding)`,
    );
    const seed = testSeed(config.seed); // the seed the run evaluated its test set with
    const clean = withQuantizedWeights(net, bits, () => evaluateDataset(net, data, { seed, loss: lossOf(config), accuracy: config.accuracy }));
    const noise = o.noise ? noiseOf(config, net) : undefined;
    const noisy = noise ? withQuantizedWeights(net, bits, () => evaluateDataset(net, data, { seed, noise, accuracy: config.accuracy })) : undefined;
    return {
      model: modelFile,
      dataset: config.dataset,
      split: o.split ?? 'test',
      samples: data.count,
      accuracy: clean.accuracy,
      loss: clean.loss,
      ...(noisy && noise
        ? { stochasticAccuracy: noisy.accuracy, noise: Object.fromEntries(Object.entries(noise).map(([n, e]) => [n, `${e.kind}:${e.sigma}`])) }
        : {}),
      ...(o.flags.deploy ? { deploy: o.flags.deploy } : {}),
    };
  } finally {
    net.dispose();
  }
}
